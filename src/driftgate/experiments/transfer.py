"""Recorded runs moved between backends (`driftgate history`): the runs of a pipeline on a
branch, newest first; and a compact run (`compact.py`) created again as an experiment
through the experiments API, the requests ddtrace would have made for it: its project, a
dataset holding its records, the experiment, its task spans and evaluations, its status.

What an imported run keeps: its logical experiment, config, metadata and tags (commit,
branch, pipeline: it is found as the original was), its runs and every figure a comparison
reads. What it cannot keep: its id and run name (the backend gives new ones; the original's
are in metadata `driftgate_import` and the tag `driftgate.imported_from:<id>`, which a
second import finds and skips), its creation time (kept there too; `history` orders by it),
the full inputs and outputs (the format keeps what the report shows), a json evaluator's
value (its assessment is kept). docs/history.md says how each is done.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftgate.experiments.compact import (
    IMPORT_KEY,
    IMPORT_TAG,
    CompactRun,
    pipeline_of,
    recorded_at,
)
from driftgate.experiments.models import EvaluatorColumn, ExperimentInfo

if TYPE_CHECKING:
    from driftgate.experiments.client import ExperimentsClient

MAX_RUNS = 1000
RECORDS_PER_REQUEST = 1000
SPANS_PER_REQUEST = 500
METRICS_PER_REQUEST = 1000
PLACEHOLDER = "driftgate-placeholder-"
"""Records that stand for those of the original dataset that no row names (a run that lost
task spans): the dataset keeps the original's count, so a comparison says the same."""
FINISHED = ("completed", "failed", "interrupted")


# -------------------------------------------------------------------------- listing


def pipeline_runs(
    client: ExperimentsClient, *, pipeline: str | None, branch: str | None, limit: int
) -> list[ExperimentInfo]:
    """The newest `limit` runs of `pipeline` on `branch` (either None: any), newest first
    by when they were first recorded (an imported run: its original's time). A run belongs
    to a pipeline by its tag `ci.pipeline`, its metadata `pipeline` or its logical
    experiment's name; to a branch by its tag `git.branch` or metadata `branch`. At most
    six listings, each of the `limit` runs the backend made last (which are the newest
    recorded, as `history import` imports the oldest first)."""
    on_branch: list[dict[str, Any]] = (
        [{"tags": [f"git.branch:{branch}"]}, {"branch": branch}] if branch else [{}]
    )
    # (metadata, logical experiment) that make a run one of the pipeline's.
    of_pipeline: list[tuple[dict[str, Any], str | None]] = (
        [
            ({"tags": [f"ci.pipeline:{pipeline}"]}, None),
            ({"pipeline": pipeline}, None),
            ({}, pipeline),
        ]
        if pipeline
        else [({}, None)]
    )
    queries: list[dict[str, Any]] = []
    for meta, experiment in of_pipeline:
        for where in on_branch:
            query: dict[str, Any] = {}
            metadata = _merged(meta, where)
            if metadata:
                query["metadata"] = metadata
            if experiment:
                query["experiment"] = experiment
            queries.append(query)
    found: dict[str, ExperimentInfo] = {}
    for query in queries:
        for info in client.list_experiments(limit=min(limit, 5000), max_results=limit, **query):
            if _belongs(info, pipeline, branch):
                found.setdefault(info.id, info)
    ordered = sorted(found.values(), key=lambda i: recorded_at(i) or "", reverse=True)
    return ordered[:limit]


def _merged(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {**a, **b}
    if "tags" in a and "tags" in b:
        merged["tags"] = [*a["tags"], *b["tags"]]
    return merged


def _belongs(info: ExperimentInfo, pipeline: str | None, branch: str | None) -> bool:
    if branch and info.branch != branch:
        return False
    return not pipeline or pipeline in (pipeline_of(info), info.experiment)


# -------------------------------------------------------------------------- importing


@dataclass(frozen=True)
class Imported:
    """What importing one run did: the experiment it made (or found), and why it was
    skipped, if it was."""

    experiment_id: str
    skipped: str | None = None
    resumed: bool = False


def import_run(client: ExperimentsClient, run: CompactRun, *, now_ns: int) -> Imported:
    """Create `run` in the client's backend, unless it is there already: the run itself
    (same id), a run imported from it (tag `driftgate.imported_from:<id>`), or a run of the
    same name at the same commit. An import that stopped half way (its experiment not
    finished) is completed: every request is made again, and the backend keeps one copy of
    each span and evaluation. `now_ns` dates the spans and evaluations (Datadog refuses
    evaluations older than a day)."""
    present = find_present(client, run)
    resumed = None
    if present is not None:
        info, why = present
        if info.status in FINISHED or IMPORT_TAG + ":" + run.origin_id not in info.tags:
            return Imported(info.id, skipped=why)
        resumed = info
    project_id = client.create_project(run.project or run.pipeline or "driftgate")
    dataset_id, version = _dataset(client, project_id, run)
    if resumed is None:
        experiment = client.create_experiment(
            experiment_attributes(run, project_id, dataset_id, version)
        )
    else:
        experiment = resumed
    eid = experiment.id
    client.patch_experiment(eid, {"status": "running"})
    for spans in _chunks(task_spans(run, eid, dataset_id, start_ns=now_ns), SPANS_PER_REQUEST):
        client.post_spans(spans)
    now_ms = now_ns // 1_000_000
    for tags, metrics in evaluation_batches(run, eid, now_ms):
        for chunk in _chunks(metrics, METRICS_PER_REQUEST):
            client.post_evaluations(eid, chunk, tags)
    status = run.info.status if run.info.status in FINISHED else "completed"
    final: dict[str, Any] = {"status": status}
    if run.info.error:
        final["error"] = run.info.error
    client.patch_experiment(eid, final)
    return Imported(eid, resumed=resumed is not None)


def find_present(client: ExperimentsClient, run: CompactRun) -> tuple[ExperimentInfo, str] | None:
    """A run of the backend that `run` already is, with why it is taken for it."""
    origin = run.origin_id
    for ident in dict.fromkeys((origin, run.info.id)):
        for info in client.list_experiments(ids=[ident], limit=1):
            return info, f"it is there already (experiment {info.id})"
    for info in client.list_experiments(metadata={"tags": [f"{IMPORT_TAG}:{origin}"]}, limit=10):
        state = "" if info.status in FINISHED else f", {info.status or 'unfinished'}"
        return info, f"it was imported before as experiment {info.id}{state}"
    name = _original(run.info).get("name") or run.info.name
    if name and run.commit:
        for info in client.list_experiments(name=name, limit=100):
            if info.commit == run.commit:
                return info, (
                    f"experiment {info.id} has its name {name!r} and commit {run.commit[:12]}"
                )
    return None


def _original(info: ExperimentInfo) -> Mapping[str, Any]:
    found = (info.metadata or {}).get(IMPORT_KEY)
    return found if isinstance(found, Mapping) else {}


def dataset_name(run: CompactRun) -> str:
    """The dataset an imported run's records go to: one per original dataset and version,
    so that the runs imported from it share it, as they shared the original."""
    info = run.info
    source = info.dataset_id[:8] if info.dataset_id else f"run {run.origin_id[:8]}"
    version = f" v{info.dataset_version}" if info.dataset_version is not None else ""
    return f"{run.dataset or info.experiment or 'dataset'} (driftgate import of {source}{version})"


def _dataset(client: ExperimentsClient, project_id: str, run: CompactRun) -> tuple[str, int | None]:
    """The dataset for `run`, holding a record for each of its record keys (with its tags)
    and, besides, placeholders up to the original's record count; its version."""
    name = dataset_name(run)
    found = client.find_dataset(project_id, name)
    dataset_id, version = found if found is not None else client.create_dataset(project_id, name)
    present = set(client.record_ids(project_id, dataset_id))
    wanted = record_inserts(run)
    missing = [r for r in wanted if r["id"] not in present]
    placeholders = sorted(i for i in present if i.startswith(PLACEHOLDER))
    real = (present - set(placeholders)) | {r["id"] for r in wanted}
    need = max(0, (run.data.dataset_records or 0) - len(real))
    drop = placeholders[need:]
    add: list[dict[str, Any]] = []
    number = 0
    while len(placeholders) + len(add) < need:
        if f"{PLACEHOLDER}{number}" not in present:
            add.append(placeholder(run, number))
        number += 1
    inserts = missing + add
    fresh = version == 0
    for index, chunk in enumerate(_chunks(inserts, RECORDS_PER_REQUEST)):
        answered = client.update_records(
            project_id,
            dataset_id,
            insert=chunk,
            delete=drop if index == 0 else (),
            new_version=fresh and index == 0,
        )
        version = answered if answered is not None else version
    if not inserts and drop:
        answered = client.update_records(project_id, dataset_id, delete=drop, new_version=False)
        version = answered if answered is not None else version
    return dataset_id, version or None


def record_inserts(run: CompactRun) -> list[dict[str, Any]]:
    """One record per record key, in the order rows name them, with the texts the format
    kept and the record's tags; the key in its metadata keeps two records with the same
    texts apart (a backend deduplicates records by content)."""
    data = run.data
    records: dict[str, dict[str, Any]] = {}
    for row, key in enumerate(data.record_key):
        if key not in records:
            records[key] = {
                "id": key,
                "input": data.input_text[row],
                "expected_output": data.expected_text[row],
                "metadata": {"driftgate_record": key},
                "tags": list(data.record_tags[row]) if data.record_tags is not None else [],
            }
    return list(records.values())


def placeholder(run: CompactRun, number: int) -> dict[str, Any]:
    raw = (run.info.config or {}).get("filtered_record_tags")
    tags = [t for t in raw if isinstance(t, str)] if isinstance(raw, list) else []
    return {
        "id": f"{PLACEHOLDER}{number}",
        "input": "",
        "expected_output": "",
        "metadata": {"driftgate_placeholder": number},
        "tags": tags,
    }


def experiment_attributes(
    run: CompactRun, project_id: str, dataset_id: str, version: int | None
) -> dict[str, Any]:
    """The experiment as ddtrace would create it, under the original's logical name, with
    the original's metadata, its git and pipeline tags, and what it was imported from."""
    info = run.info
    metadata = dict(info.metadata or {})
    tags = list(info.tags)
    for key, value in (
        ("git.commit.sha", run.commit),
        ("git.branch", run.branch),
        ("ci.pipeline", run.pipeline),
    ):
        if value and info.tag(key) is None:
            tags.append(f"{key}:{value}")
    marker = f"{IMPORT_TAG}:{run.origin_id}"
    if marker not in tags:
        tags.append(marker)
    metadata["tags"] = tags
    metadata[IMPORT_KEY] = {
        "id": run.origin_id,
        "name": _original(info).get("name") or info.name,
        "created_at": run.recorded_at,
    }
    attributes: dict[str, Any] = {
        "name": info.experiment or info.name or run.pipeline or "imported",
        "description": info.description or "",
        "project_id": project_id,
        "dataset_id": dataset_id,
        "config": info.config or {},
        "metadata": metadata,
        "ensure_unique": True,
        "run_count": max(info.run_count or 1, *run.data.run_iteration.tolist(), 1),
    }
    if version is not None:
        attributes["dataset_version"] = version
    return attributes


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def span_ids(run: CompactRun, row: int) -> tuple[str, str]:
    """A row's span id (a decimal 63-bit number, as ddtrace's) and trace id (32 hex
    digits): derived from the original run and the row, so that an import made again
    sends the same spans."""
    digest = _digest("driftgate-import", run.origin_id, row)
    return str(int.from_bytes(digest[:8], "big") >> 1), digest[8:24].hex()


def run_id(run: CompactRun, iteration: int) -> str:
    return str(uuid.UUID(bytes=_digest("driftgate-run", run.origin_id, iteration)[:16], version=4))


def task_spans(
    run: CompactRun, experiment_id: str, dataset_id: str, *, start_ns: int
) -> list[dict[str, Any]]:
    """A task span per row, as ddtrace sends them: its record and run in its tags, the
    texts, the task's error, its duration, and its usage on the span itself."""
    data = run.data
    ml_app = run.pipeline or run.info.experiment or "driftgate"
    spans = []
    usage = (
        ("input_tokens", data.input_tokens.tolist()),
        ("output_tokens", data.output_tokens.tolist()),
        ("total_tokens", data.total_tokens.tolist()),
        ("estimated_total_cost", data.cost.tolist()),
    )
    durations = data.duration_ns.tolist()
    begin = start_ns - data.rows * 1000
    for row in range(data.rows):
        span_id, trace_id = span_ids(run, row)
        iteration = int(data.run_iteration[row])
        failed = bool(data.task_error[row])
        meta: dict[str, Any] = {
            "span": {"kind": "experiment"},
            "input": data.input_text[row],
            "output": data.output_text[row],
            "expected_output": data.expected_text[row],
        }
        message = data.error_message[row]
        if message is not None:
            meta["error"] = {"message": message}
        span: dict[str, Any] = {
            "span_id": span_id,
            "trace_id": trace_id,
            "parent_id": "undefined",
            "name": "task",
            # In the rows' order: the backend reads them back in it.
            "start_ns": begin + row * 1000,
            "status": "error" if failed else "ok",
            "meta": meta,
            "metrics": {name: values[row] for name, values in usage if math.isfinite(values[row])},
            "tags": [
                f"experiment_id:{experiment_id}",
                f"dataset_id:{dataset_id}",
                f"dataset_record_id:{data.record_key[row]}",
                f"run_id:{run_id(run, iteration)}",
                f"run_iteration:{iteration}",
                f"ml_app:{ml_app}",
                f"error:{int(failed)}",
                "source:integration",
            ],
            "_dd": {"span_id": span_id, "trace_id": trace_id, "scope": "experiments"},
        }
        if math.isfinite(durations[row]):
            span["duration"] = round(durations[row])
        spans.append(span)
    return spans


def evaluation_batches(
    run: CompactRun, experiment_id: str, now_ms: int
) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
    """The evaluations of each run (the request's tags, its metrics): every row's
    evaluation by every evaluator, then the run's summary evaluations."""
    data = run.data
    by_run: dict[int | None, list[dict[str, Any]]] = {}
    columns = list(data.evaluators.values())
    failures = {c.label: 0 for c in columns}
    for row in range(data.rows):
        span_id, trace_id = span_ids(run, row)
        iteration = int(data.run_iteration[row])
        into = by_run.setdefault(iteration, [])
        for column in columns:
            metric = _evaluation(column, row, failures)
            metric.update(
                metric_source="custom",
                span_id=span_id,
                trace_id=trace_id,
                timestamp_ms=now_ms,
                label=column.label,
                tags=[],
                experiment_id=experiment_id,
            )
            into.append(metric)
    for summary in data.summaries:
        kind = summary.metric_type
        by_run.setdefault(summary.run, []).append(
            {
                "metric_source": "summary",
                "span_id": "",
                "trace_id": "",
                "timestamp_ms": now_ms,
                "metric_type": kind,
                "label": summary.label,
                f"{kind}_value": _summary_value(kind, summary.value),
                "error": {"message": summary.error} if summary.error else None,
                "tags": [],
                "experiment_id": experiment_id,
            }
        )
    for number, metrics in by_run.items():
        tags = (
            [] if number is None else [f"run_id:{run_id(run, number)}", f"run_iteration:{number}"]
        )
        yield tags, metrics


def _evaluation(column: EvaluatorColumn, row: int, failures: dict[str, int]) -> dict[str, Any]:
    """One evaluation as ddtrace posts it: the value in the field of its type, or the
    evaluator's error. An error's message: the column keeps its first distinct ones (not
    each row's), given to its failed rows in order, the last to the rest."""
    kind = column.metric_type
    if column.errored[row]:
        messages = column.error_messages or ("the evaluator raised",)
        message = messages[min(failures[column.label], len(messages) - 1)]
        failures[column.label] += 1
        return {"metric_type": kind, f"{kind}_value": None, "error": {"message": message}}
    value = float(column.value[row])
    category = column.category[row] if column.category is not None else None
    metric: dict[str, Any]
    if category is not None:
        metric = {"metric_type": "categorical", "categorical_value": category}
    elif math.isfinite(value):
        if kind == "boolean" and value in (0.0, 1.0):
            metric = {"metric_type": "boolean", "boolean_value": value == 1.0}
        else:
            metric = {"metric_type": "score", "score_value": value}
    elif kind == "json":
        # The value is not kept, only its assessment: an empty object stands for it.
        metric = {"metric_type": "json", "json_value": {}}
    else:
        metric = {"metric_type": kind, f"{kind}_value": None}
    passed = float(column.passed[row])
    if passed == 1.0:
        metric["assessment"] = "pass"
    elif passed == 0.0:
        metric["assessment"] = "fail"
    metric["error"] = None
    return metric


def _summary_value(kind: str, value: Any) -> Any:
    """A summary's value, as its type allows (anything else is sent as none)."""
    if kind == "score":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok and math.isfinite(value) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "categorical":
        return value if isinstance(value, str) else None
    return value


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
