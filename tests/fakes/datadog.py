"""A small fake of Datadog's experiments read API, answering as Datadog publishes it, not as
the embedded store does: served to the real client through httpx's `MockTransport`.

What makes it Datadog's rather than the store's (each is something the client must not rely
on, and each can be switched):
- a listed experiment has `author` and leaves `status`, `aggregate_data`, `error` and
  `parent_experiment_id` out (absent, not null) until they are set; answers are
  `application/vnd.api+json`; every list query pages with `meta.after`, which is `""` on the
  last page;
- `aggregate_data` comes some polls after the terminal status (`aggregate_after`), or never;
- the paged events read (v3) gives task spans with empty `metrics`: the token counts are on
  the LLM child spans ddtrace sends, which the answer may include (`child_spans`) or not;
- summary evaluations come back as ddtrace posted them: the run is only in the request's
  tags, so the metric carries no run number (`summary_tags` puts the request's tags on it,
  as a backend that kept them would);
- a dataset's records are listed (`GET /api/v2/llm-obs/v1/{project_id}/datasets/{id}/records`,
  as ddtrace's `pull_dataset` reads them) in pages of at most `records_page`, each with
  `meta.after`, `""` on the last; the dataset holds every record an experiment on it was
  given (`add(dataset=...)`), whether or not its runs recorded them all.

The shapes follow ddtrace 4.16's own traffic for an experiment (task spans tagged
`dataset_record_id`, `run_id`, `run_iteration`; an LLM child span of 12 + 3 tokens;
`exact_match`, `overlap` and `judge` evaluations; a `num_exact_matches` summary per run).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

LIST = "/api/v2/llm-obs/v1/experiments"
EVENTS_V3 = "/api/v2/llm-obs/v3/experiments/"
DATASET = "80569d98-70f4-4591-965e-3ea3f452cbe4"
_RECORDS = re.compile(
    r"^/api/v2/llm-obs/v1/(?P<project>[^/]+)/datasets/(?P<dataset>[^/]+)/records$"
)
MAX_LIMIT = 5000
API_KEY, APP_KEY = "fake-api-key", "fake-app-key"


@dataclass
class Run:
    """One record's outcome in one run of an experiment."""

    record: str
    output: str
    exact: bool
    overlap: float
    tokens: tuple[int, int] | None = (12, 3)  # on the LLM child span; None: no LLM call
    cost: float | None = None  # estimated_total_cost on the child span
    error: str | None = None


@dataclass
class Experiment:
    id: str
    attributes: dict[str, Any]
    runs: list[list[Run]]  # per run iteration, its records
    summaries: list[float]  # num_exact_matches per run
    run_ids: list[str] = field(default_factory=list)
    polls_finished: int = 0  # list answers given since the terminal status


@dataclass
class FakeDatadog:
    """`experiments` newest last; `aggregate_after`: list answers after the terminal status
    before `aggregate_data` appears (None: never)."""

    experiments: list[Experiment] = field(default_factory=list)
    child_spans: bool = True
    summary_tags: bool = False
    aggregate_after: int | None = 0
    page_max: int = MAX_LIMIT
    records_page: int = 100
    # dataset id -> its records' ids (one version)
    datasets: dict[str, list[str]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- what exists ------------------------------------------------------------------------

    def add(
        self,
        experiment: str,
        runs: list[list[Run]],
        *,
        commit: str = "abc123",
        branch: str = "main",
        status: str | None = "completed",
        project_id: str = "60fe1794-424b-42b6-a3a1-dfc2654e934a",
        tags: tuple[str, ...] = (),
        dataset: list[str] | None = None,
    ) -> Experiment:
        """`dataset`: the records the experiment was given (default: those its runs
        recorded); the dataset keeps them all."""
        tick = next(self._clock)
        created = f"2026-11-29T10:{tick // 60:02d}:{tick % 60:02d}.000000+00:00"
        attrs: dict[str, Any] = {
            "author": {"id": str(uuid.UUID(int=7))},
            "config": {"model_name": "gpt-4"},
            "created_at": created,
            "dataset_id": DATASET,
            "dataset_version": 1,
            "description": "",
            "experiment": experiment,
            "metadata": {
                "tags": [
                    f"git.branch:{branch}",
                    "ddtrace.version:4.16.0",
                    "project_name:capitals-project",
                    f"experiment_name:{experiment}",
                    "git.repository_url:https://github.com/o/r",
                    f"git.commit.sha:{commit}",
                    f"project_id:{project_id}",
                    *tags,
                ]
            },
            "name": f"{experiment}-{1795628747000 + tick}",
            "project_id": project_id,
            "run_count": len(runs),
            "updated_at": created,
        }
        if status is not None:
            attrs["status"] = status
        found = Experiment(
            id=str(uuid.uuid4()),
            attributes=attrs,
            runs=runs,
            summaries=[float(sum(r.exact for r in run)) for run in runs],
            run_ids=[str(uuid.uuid4()) for _ in runs],
        )
        self.experiments.append(found)
        held = self.datasets.setdefault(DATASET, [])
        given = dataset if dataset is not None else [r.record for run in runs for r in run]
        held += [r for r in dict.fromkeys(given) if r not in held]
        return found

    def finish(self, experiment: Experiment, status: str = "completed") -> None:
        experiment.attributes["status"] = status
        experiment.polls_finished = 0

    # -- the transport ----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if (
            request.headers.get("DD-API-KEY") != API_KEY
            or request.headers.get("DD-APPLICATION-KEY") != APP_KEY
        ):
            return _answer(403, {"errors": [{"title": "Forbidden", "detail": "Forbidden"}]})
        path = request.url.path
        if request.method == "GET" and path == LIST:
            return self._list(request)
        if request.method == "GET" and path.startswith(EVENTS_V3) and path.endswith("/events"):
            return self._events(request, path[len(EVENTS_V3) : -len("/events")])
        if request.method == "GET" and (match := _RECORDS.match(path)):
            return self._records(request, match["dataset"])
        return _answer(404, {"errors": [{"title": "Generic Error", "detail": "not found"}]})

    def _list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        rows = list(reversed(self.experiments))
        ids = params.get_list("filter[id]")
        if ids:
            rows = [e for e in rows if e.id in ids]
        for key, attribute in (
            ("filter[experiment]", "experiment"),
            ("filter[name]", "name"),
            ("filter[project_id]", "project_id"),
        ):
            if key in params:
                rows = [e for e in rows if e.attributes.get(attribute) == params[key]]
        if "filter[metadata]" in params:
            wanted = json.loads(params["filter[metadata]"])
            rows = [e for e in rows if _contains(e.attributes["metadata"], wanted)]
        limit = min(int(params.get("page[limit]", "100")), self.page_max)
        start = int(_decode(params["page[cursor]"])) if params.get("page[cursor]") else 0
        page = rows[start : start + limit]
        after = _encode(str(start + limit)) if start + limit < len(rows) else ""
        return _answer(
            200,
            {"data": [self._listed(e) for e in page], "meta": {"after": after}},
        )

    def _listed(self, experiment: Experiment) -> dict[str, Any]:
        attrs = dict(experiment.attributes)
        if attrs.get("status") in ("completed", "failed"):
            experiment.polls_finished += 1
            if self.aggregate_after is not None and experiment.polls_finished > (
                self.aggregate_after
            ):
                attrs["aggregate_data"] = _aggregate(experiment)
        return {"id": experiment.id, "type": "experiments", "attributes": attrs}

    def _records(self, request: httpx.Request, dataset_id: str) -> httpx.Response:
        if dataset_id not in self.datasets:
            return _answer(404, {"errors": [{"title": "Generic Error", "detail": "not found"}]})
        params = request.url.params
        if params.get("filter[version]", "1") != "1":
            return _answer(400, {"errors": [{"title": "Generic Error", "detail": "version"}]})
        limit = min(int(params.get("page[limit]", str(self.records_page))), self.records_page)
        start = int(_decode(params["page[cursor]"])) if params.get("page[cursor]") else 0
        held = self.datasets[dataset_id]
        page = held[start : start + limit]
        after = _encode(str(start + limit)) if start + limit < len(held) else ""
        data = [
            {
                "id": record,
                "type": "dataset_records",
                "attributes": {
                    "canonical_id": record,
                    "input": {"question": f"q-{record}"},
                    "expected_output": "Beijing",
                    "metadata": {},
                    "tags": [],
                    "version": 1,
                },
            }
            for record in page
        ]
        return _answer(200, {"data": data, "meta": {"after": after}})

    def _events(self, request: httpx.Request, experiment_id: str) -> httpx.Response:
        found = [e for e in self.experiments if e.id == experiment_id]
        if not found:
            return _answer(404, {"errors": [{"title": "Generic Error", "detail": "not found"}]})
        experiment = found[0]
        spans = self._spans(experiment)
        params = request.url.params
        limit = min(int(params.get("page[limit]", "5000")), MAX_LIMIT)
        start = int(_decode(params["page[cursor]"])) if params.get("page[cursor]") else 0
        page = spans[start : start + limit]
        after = _encode(str(start + limit)) if start + limit < len(spans) else ""
        summaries = self._summaries(experiment) if start == 0 else []
        return _answer(
            200,
            {
                "data": {
                    "id": experiment.id,
                    "type": "experiment_events",
                    "attributes": {"spans": page, "summary_metrics": summaries},
                },
                "meta": {"after": after},
            },
        )

    def _spans(self, experiment: Experiment) -> list[dict[str, Any]]:
        spans: list[dict[str, Any]] = []
        for iteration, run in enumerate(experiment.runs, start=1):
            run_tags = [f"run_id:{experiment.run_ids[iteration - 1]}", f"run_iteration:{iteration}"]
            for n, outcome in enumerate(run):
                task_id = str(9389611063234116308 + 1000 * iteration + 2 * n)
                trace_id = f"6b071ecb{iteration:08x}{n:016x}"
                spans.append(
                    {
                        "dataset_record_id": outcome.record,
                        "duration": 4398765.0,
                        "eval_metrics": _evaluations(outcome, task_id, trace_id),
                        "id": task_id,
                        "meta": {
                            "error": {"message": outcome.error, "type": "builtins.ValueError"}
                            if outcome.error
                            else {},
                            "expected_output": "Beijing",
                            "input": {"question": f"q-{outcome.record}"},
                            "output": outcome.output,
                        },
                        "metrics": {},
                        "name": "task",
                        "parent_id": "undefined",
                        "span_id": task_id,
                        "start_ns": 1795628747949721912 + 10_000 * (100 * iteration + n),
                        "status": "error" if outcome.error else "ok",
                        "tags": [
                            f"dataset_record_id:{outcome.record}",
                            f"experiment_id:{experiment.id}",
                            f"error:{1 if outcome.error else 0}",
                            *run_tags,
                        ],
                        "trace_id": trace_id,
                    }
                )
                if self.child_spans and outcome.tokens is not None:
                    metrics: dict[str, Any] = {
                        "input_tokens": outcome.tokens[0],
                        "output_tokens": outcome.tokens[1],
                        "total_tokens": sum(outcome.tokens),
                    }
                    if outcome.cost is not None:
                        metrics["estimated_total_cost"] = outcome.cost
                    llm_id = str(int(task_id) + 1)
                    spans.append(
                        {
                            "duration": 1200000.0,
                            "eval_metrics": [],
                            "id": llm_id,
                            "meta": {"error": {}, "input": "", "output": ""},
                            "metrics": metrics,
                            "name": "llm",
                            "parent_id": task_id,
                            "span_id": llm_id,
                            "start_ns": 1795628747949721912 + 10_000 * (100 * iteration + n) + 1,
                            "status": "ok",
                            "tags": [f"experiment_id:{experiment.id}", *run_tags],
                            "trace_id": trace_id,
                        }
                    )
        return spans

    def _summaries(self, experiment: Experiment) -> list[dict[str, Any]]:
        found = []
        for iteration, value in enumerate(experiment.summaries, start=1):
            tags: list[str] = []
            if self.summary_tags:
                tags = [f"run_id:{experiment.run_ids[iteration - 1]}"]
            found.append(
                {
                    "metric_source": "summary",
                    "span_id": "",
                    "trace_id": "",
                    "timestamp_ms": 1795628747954 + iteration,
                    "metric_type": "score",
                    "label": "num_exact_matches",
                    "score_value": value,
                    "error": None,
                    "tags": tags,
                    "experiment_id": experiment.id,
                }
            )
        return found


def _evaluations(outcome: Run, span_id: str, trace_id: str) -> list[dict[str, Any]]:
    common = {
        "metric_source": "custom",
        "span_id": span_id,
        "trace_id": trace_id,
        "timestamp_ms": 1795628747949,
        "error": None,
        "tags": [],
        "status": "OK",
    }
    return [
        {
            **common,
            "metric_type": "boolean",
            "label": "exact_match",
            "boolean_value": outcome.exact,
        },
        {**common, "metric_type": "score", "label": "overlap", "score_value": outcome.overlap},
        {
            **common,
            "metric_type": "categorical",
            "label": "judge",
            "categorical_value": "excellent",
            "tags": ["task:judge"],
            "reasoning": "ok",
            "assessment": "pass",
        },
    ]


def _aggregate(experiment: Experiment) -> dict[str, Any]:
    # Keys as in the fixture ddtrace says mirrors the live answer; nothing reads them.
    rows = [r for run in experiment.runs for r in run]
    return {
        "evaluations": {"custom": None, "summary": None},
        "total_spans": len(rows),
        "total_errors": sum(1 for r in rows if r.error),
    }


def _contains(container: Any, contained: Any) -> bool:
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            k in container and _contains(container[k], v) for k, v in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(container, list) and all(
            any(_contains(item, want) for item in container) for want in contained
        )
    return bool(container == contained)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(f"dd:{text}".encode()).decode()


def _decode(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("dd:")


def _answer(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/vnd.api+json"},
    )
