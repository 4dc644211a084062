"""Compact runs imported into the real store over its HTTP API (experiments/transfer.py and
the client's writes), read back by the gate's client: the same rows, the same dataset
count, found again by pipeline and branch; an import made twice skipped, one that stopped
half way completed; faults on the way answered as the client answers reads."""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftgate.compare import compare
from driftgate.config import GateConfig
from driftgate.errors import BackendError
from driftgate.experiments.backend import AuthError
from driftgate.experiments.client import ExperimentsClient, RetryPolicy, backend_from_env
from driftgate.experiments.compact import CompactRun, decode_run, display_text, encode_run
from driftgate.experiments.models import ExperimentData
from driftgate.experiments.transfer import import_run, pipeline_runs
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from tests.experiments.runs import assert_same_data, realistic
from tests.experiments.test_compact import experiment_data
from tests.fakes.flaky import Fault, Flaky


class Target:
    def __init__(self, flaky: Flaky, url: str) -> None:
        self.flaky, self.url = flaky, url
        self.sleeps: list[float] = []

    def client(self, **env: str) -> ExperimentsClient:
        backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": self.url, **env})
        return ExperimentsClient(backend, retry=RetryPolicy(attempts=4), sleep=self.sleeps.append)


@pytest.fixture
def target() -> Iterator[Target]:
    store = Store()
    flaky = Flaky(create_app(store))
    with BackgroundServer(flaky) as server:
        yield Target(flaky, server.url)
    store.close()


def compacted(data: ExperimentData) -> CompactRun:
    return decode_run(encode_run(data.info, data))


def read_back(client: ExperimentsClient, experiment_id: str, run: CompactRun) -> ExperimentData:
    back = client.experiment_data(experiment_id)
    return dataclasses.replace(back, info=run.info)


def test_an_imported_run_reads_back_as_it_was(target: Target) -> None:
    run = compacted(realistic(25, runs=3, output_chars=300))
    with target.client() as client:
        done = import_run(client, run, now_ns=time.time_ns())
        assert done.skipped is None and not done.resumed
        back = client.experiment_data(done.experiment_id)
    assert_same_data(dataclasses.replace(back, info=run.info), run.data)
    info = back.info
    # Found as the original was: its logical name, config, tags; what it came from.
    assert info.experiment == "capitals" and info.name.startswith("capitals-")
    assert info.config == run.info.config
    assert (info.commit, info.branch, info.tag("ci.pipeline")) == (
        run.commit,
        "main",
        "capitals",
    )
    assert info.tag("driftgate.imported_from") == run.info.id
    assert info.status == "completed" and info.run_count == 3
    imported = (info.metadata or {})["driftgate_import"]
    assert imported == {
        "id": run.info.id,
        "name": run.info.name,
        "created_at": "2026-03-04T05:06:07.123456Z",
    }


def test_an_imported_run_compares_as_the_original(target: Target) -> None:
    base = realistic(40, seed=1)
    cand = realistic(40, seed=2, skill=0.55, experiment_id="c-1", commit="c" * 40)
    cand = dataclasses.replace(cand, record_key=base.record_key)
    config = GateConfig()
    want = compare(base, cand, config, baseline_reason="r").model_dump(mode="json")
    with target.client() as client:
        ids = [
            import_run(client, compacted(d), now_ns=time.time_ns()).experiment_id
            for d in (base, cand)
        ]
        got_base, got_cand = (client.experiment_data(i) for i in ids)
    got = compare(got_base, got_cand, config, baseline_reason="r").model_dump(mode="json")
    # What a backend gives anew: ids, names, creation times, the dataset and its version.
    for side in ("candidate", "baseline"):
        for key in ("id", "name", "created_at", "dataset_id", "dataset_version"):
            got[side][key] = want[side][key]
    assert got == want
    assert want["verdict"] == "fail"


def test_a_run_that_lost_task_spans_keeps_its_dataset_count(target: Target) -> None:
    whole = realistic(12, runs=2)
    # Run 2 lost the spans of three records: the dataset still has 12.
    lost = set(whole.record_key[:3])
    keep = [
        i
        for i, (k, r) in enumerate(zip(whole.record_key, whole.run_iteration, strict=True))
        if not (r == 2 and k in lost)
    ]
    run = compacted(_rows(whole, keep))
    # And one record no run covered at all: 13 in the dataset, 12 named.
    run = dataclasses.replace(run, data=dataclasses.replace(run.data, dataset_records=13))
    with target.client() as client:
        done = import_run(client, run, now_ns=time.time_ns())
        back = client.experiment_data(done.experiment_id)
    assert back.dataset_records == 13
    assert_same_data(dataclasses.replace(back, info=run.info), run.data)


def _rows(data: ExperimentData, rows: list[int]) -> ExperimentData:
    from driftgate.query import restrict

    return dataclasses.replace(restrict(data, rows, "kept"), notes=())


def test_runs_of_one_dataset_share_the_imported_dataset(target: Target) -> None:
    first = compacted(realistic(8, seed=1))
    second = compacted(realistic(8, seed=1, experiment_id="second", commit="d" * 40))
    other = realistic(8, seed=1, experiment_id="third", commit="e" * 40)
    other = compacted(
        dataclasses.replace(other, info=other.info.model_copy(update={"dataset_version": 4}))
    )
    with target.client() as client:
        ids = [
            import_run(client, r, now_ns=time.time_ns()).experiment_id
            for r in (first, second, other)
        ]
        infos = {i.id: i for i in client.list_experiments(ids=ids)}
        records = client.dataset_records(infos[ids[0]].project_id, infos[ids[0]].dataset_id, None)
    assert infos[ids[0]].dataset_id == infos[ids[1]].dataset_id != infos[ids[2]].dataset_id
    assert records.count == 8  # not 16: the second import found its records there


def test_an_import_made_twice_is_skipped_and_said(target: Target) -> None:
    run = compacted(realistic(5))
    with target.client() as client:
        first = import_run(client, run, now_ns=time.time_ns())
        again = import_run(client, run, now_ns=time.time_ns())
        assert again.experiment_id == first.experiment_id
        assert again.skipped == f"it was imported before as experiment {first.experiment_id}"
        # Exported from here and imported here: the run itself.
        here = compacted(client.experiment_data(first.experiment_id))
        itself = import_run(client, here, now_ns=time.time_ns())
        assert itself.skipped == f"it is there already (experiment {first.experiment_id})"
        assert len(client.list_experiments()) == 1


def test_the_backend_a_run_came_from_skips_it(target: Target) -> None:
    with target.client() as client:
        made = import_run(client, compacted(realistic(4)), now_ns=time.time_ns())
        original = client.experiment_data(made.experiment_id)
        # A file of that run as the backend lists it (its own id): it is there already.
        info = original.info.model_copy(update={"metadata": {"tags": original.info.tags}})
        own = compacted(dataclasses.replace(original, info=info))
        result = import_run(client, own, now_ns=time.time_ns())
        assert result.skipped == f"it is there already (experiment {made.experiment_id})"


def test_a_run_of_the_same_name_at_the_same_commit_is_skipped(target: Target) -> None:
    data = realistic(4)
    with target.client() as client:
        made = import_run(client, compacted(data), now_ns=time.time_ns())
        name = client.list_experiments(ids=[made.experiment_id])[0].name
        renamed = data.info.model_copy(update={"id": "elsewhere", "name": name})
        twin = compacted(dataclasses.replace(data, info=renamed))
        result = import_run(client, twin, now_ns=time.time_ns())
    assert result.skipped == (
        f"experiment {made.experiment_id} has its name {name!r} and commit 4b76c16a7539"
    )


def test_an_import_that_stopped_half_way_is_completed(target: Target) -> None:
    run = compacted(realistic(6, runs=2))
    target.flaky.match = "/events"
    target.flaky.fail(Fault(400, b'{"errors":[{"detail":"refused"}]}'))
    with target.client() as client:
        with pytest.raises(BackendError, match="refused the evaluations"):
            import_run(client, run, now_ns=time.time_ns())
        [left] = client.list_experiments()
        assert left.status == "running"
        done = import_run(client, run, now_ns=time.time_ns())
        assert done.resumed and done.experiment_id == left.id
        back = read_back(client, done.experiment_id, run)
    assert_same_data(back, run.data)


def test_server_errors_on_writes_are_retried_where_a_retry_is_harmless(target: Target) -> None:
    run = compacted(realistic(3))
    target.flaky.match = "/api/v2/llmobs"
    target.flaky.fail(Fault(503), Fault(429, headers={"Retry-After": "0"}))
    with target.client() as client:
        done = import_run(client, run, now_ns=time.time_ns())
        assert_same_data(read_back(client, done.experiment_id, run), run.data)
    assert [s for _, p, s in target.flaky.seen if p == "/api/v2/llmobs"][:3] == [503, 429, 0]


def test_an_experiment_is_never_created_twice(target: Target) -> None:
    target.flaky.match = "/api/unstable/llm-obs/v1/experiments"
    target.flaky.fail(Fault(500))
    with target.client() as client:
        with pytest.raises(BackendError, match="refused the experiment 'capitals' with HTTP 500"):
            import_run(client, compacted(realistic(3)), now_ns=time.time_ns())
        assert client.list_experiments() == []
    creates = [s for m, p, s in target.flaky.seen if m == "POST" and p.endswith("/experiments")]
    assert creates == [500]


def test_refused_keys_say_write_access() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"data": []})
        return httpx.Response(403, json={"errors": ["Forbidden"]})

    backend = backend_from_env({"DD_API_KEY": "k", "DD_APP_KEY": "a", "DD_SITE": "datadoghq.eu"})
    client = ExperimentsClient(backend, http=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(AuthError, match="LLM Observability write access") as caught:
        import_run(client, compacted(realistic(2)), now_ns=time.time_ns())
    assert "k" not in str(caught.value).split()


def test_spans_go_to_datadogs_intake_with_the_api_key_only() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    backend = backend_from_env({"DD_API_KEY": "k", "DD_APP_KEY": "a", "DD_SITE": "datadoghq.eu"})
    client = ExperimentsClient(backend, http=httpx.Client(transport=httpx.MockTransport(answer)))
    client.post_spans([{"span_id": "1"}])
    [request] = seen
    assert str(request.url) == "https://llmobs-intake.datadoghq.eu/api/v2/llmobs"
    assert request.headers["DD-API-KEY"] == "k"
    assert "DD-APPLICATION-KEY" not in request.headers


def test_a_pipelines_runs_on_a_branch_newest_first(target: Target) -> None:
    def run(seed: int, when: str, branch: str, pipeline: str, tagged: bool = True) -> CompactRun:
        data = realistic(3, seed=seed, experiment_id=f"e{seed}", created_at=when)
        tags = [f"git.commit.sha:{seed:040x}", f"git.branch:{branch}"]
        metadata = {"tags": [*tags, f"ci.pipeline:{pipeline}"]} if tagged else {"tags": tags}
        info = data.info.model_copy(update={"metadata": metadata, "experiment": pipeline})
        return compacted(dataclasses.replace(data, info=info))

    runs = [
        run(1, "2026-01-01T00:00:00Z", "main", "capitals"),
        run(2, "2026-01-03T00:00:00Z", "main", "capitals", tagged=False),
        run(3, "2026-01-02T00:00:00Z", "feature", "capitals"),
        run(4, "2026-01-04T00:00:00Z", "main", "other"),
    ]
    with target.client() as client:
        made = {
            r.info.id: import_run(client, r, now_ns=time.time_ns()).experiment_id
            # Oldest first, as `history import` imports them: the backend lists the runs it
            # made last first, and the history's order stays.
            for r in sorted(runs, key=lambda r: r.recorded_at or "")
        }
        listed = pipeline_runs(client, pipeline="capitals", branch="main", limit=10)
        assert [i.id for i in listed] == [made["e2"], made["e1"]]  # by when they were recorded
        assert [
            i.id for i in pipeline_runs(client, pipeline="capitals", branch="main", limit=1)
        ] == [made["e2"]]
        every = pipeline_runs(client, pipeline=None, branch=None, limit=10)
        assert [i.id for i in every] == [made[f"e{n}"] for n in (4, 2, 3, 1)]
        on_main = pipeline_runs(client, pipeline=None, branch="main", limit=10)
        assert {i.id for i in on_main} == {made["e1"], made["e2"], made["e4"]}


# -------------------------------------------------------------------------- generated runs


@pytest.fixture(scope="module")
def shared() -> Iterator[str]:
    store = Store()
    with BackgroundServer(create_app(store)) as server:
        yield server.url
    store.close()


def _stored(value: float) -> float:
    if math.isnan(value):
        return value
    return float(f"{value:.15g}") if abs(value) < 1e300 else 1e300


def as_read(data: ExperimentData, extra_records: int) -> ExperimentData:
    """A generated run as the client would have read it from a store: rows in run order,
    evaluators by label, each kind settled by what it holds, messages as the store keeps
    them (one per failed row at least, none empty), summaries each of a known run."""
    order = sorted(range(data.rows), key=lambda i: int(data.run_iteration[i]))
    data = _rows(data, order) if data.rows else data
    columns = {}
    for label in sorted(data.evaluators):
        column = data.evaluators[label]
        failed = int(column.errored.sum())
        messages = tuple(dict.fromkeys(m for m in map(display_text, column.error_messages) if m))
        messages = (messages or ("it failed",))[: max(failed, 1)] if failed else ()
        held = {
            "boolean": np.isfinite(column.value).any(),
            "score": np.isfinite(column.value).any(),
            "categorical": column.category is not None
            and any(c is not None for c in column.category),
            "json": not column.errored.all(),
        }[column.metric_type]
        kind = column.metric_type if held else "score"
        # An assessment comes with a value (or a json evaluation) only.
        valued = np.isfinite(column.value) | np.array(
            [c is not None for c in column.category or [None] * data.rows], dtype=bool
        )
        if column.metric_type == "json":
            valued = ~column.errored
        columns[label] = dataclasses.replace(
            column,
            metric_type=kind,
            passed=np.where(valued, column.passed, np.nan),
            category=column.category if kind == "categorical" else None,
            error_messages=messages,
        )
    messages = [None if m is None or not display_text(m) else m for m in data.error_message]
    summaries = {
        (s.label, s.run): dataclasses.replace(s, error=s.error or None)
        for s in data.summaries
        if s.run is not None
    }
    keys = list(dict.fromkeys(data.record_key))
    tags = data.record_tags or [()] * data.rows
    # The store sums usage in SQLite, which writes a float back with 15 digits (and a
    # float near the largest one past it).
    usage = {
        name: np.array([_stored(v) for v in getattr(data, name).tolist()])
        for name in ("input_tokens", "output_tokens", "total_tokens", "cost")
    }
    data = dataclasses.replace(data, **usage)
    # A total not reported is read as the sum of the parts that are.
    parts = np.isfinite(data.input_tokens) | np.isfinite(data.output_tokens)
    total = np.where(
        np.isnan(data.total_tokens) & parts,
        np.nansum([data.input_tokens, data.output_tokens], axis=0),
        data.total_tokens,
    )
    return dataclasses.replace(
        data,
        run=None,
        error_message=messages,
        # Whole nanoseconds, as spans carry them; within a day, so that the store's sums hold.
        duration_ns=np.where(np.isfinite(data.duration_ns), np.round(data.duration_ns), 0.0)
        % 86_400e9,
        evaluators=columns if data.rows else {},
        summaries=sorted(summaries.values(), key=lambda s: (s.run or 0, s.label)),
        total_tokens=total,
        notes=(),
        dataset_records=len(keys) + extra_records,
        record_tags=[tuple(t) for t in tags],
    )


@settings(
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(experiment_data(), st.integers(0, 3))
def test_a_generated_run_imported_reads_back_the_same(
    shared: str, generated: ExperimentData, extra: int
) -> None:
    # A run of its own dataset: two runs of one dataset version name the same records.
    unique = str(uuid.uuid4())
    info = generated.info.model_copy(update={"id": unique, "dataset_id": unique})
    run = compacted(as_read(dataclasses.replace(generated, info=info), extra))
    with ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": shared})) as client:
        done = import_run(client, run, now_ns=time.time_ns())
        back = read_back(client, done.experiment_id, run)
    assert_same_data(back, run.data)
