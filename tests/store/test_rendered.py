"""A task span's usage and evaluations are kept rendered as spans and metrics arrive
(schema 3), and an events read joins them: the answers are, byte for byte, those schema 2
built at every read from the same rows (`schema2.py`), whatever order and batches the spans
and metrics came in, re-posted or not; and again once such a file is upgraded from 2."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.store.datasets import NewRecord
from driftgate.store.db import Store
from tests.store.schema2 import as_schema_2, spans_answered

# A task span's own metrics, and a child's usage: none, whole tokens, fractional costs, sums
# that only Python or only SQLite writes as they are (beyond 2**63, negative, tiny).
_OWN: list[dict[str, Any] | None] = [
    None,
    {},
    {"score": 0.5},
    {"input_tokens": 1},
    {"latency": 2.5, "total_tokens": 3},
]
_USAGE: list[dict[str, Any]] = [
    {},
    {"input_tokens": 8, "output_tokens": 2},
    {"total_tokens": 5},
    {"estimated_input_cost": 0.1, "estimated_output_cost": 0.2},
    {"estimated_total_cost": 1e-7},
    {"input_tokens": 1e20},
    {"output_tokens": -3.5},
    {"total_tokens": 2**62, "estimated_total_cost": 3},
]
_TRACES = ["t0", "t1", "t2", "t3", "", "t\x00x"]


def _task(eid: str, i: int, run: int, trace: int, own: int) -> dict[str, Any]:
    span: dict[str, Any] = {
        "span_id": f"s{i}-{run}",
        "trace_id": _TRACES[trace],
        "parent_id": "undefined",
        "name": "task",
        "start_ns": 1000 + 10 * i + run,
        "duration": 5,
        "status": "ok",
        "meta": {"span": {"kind": "experiment"}, "input": {"i": i}, "output": str(i)},
        "tags": [f"experiment_id:{eid}", f"dataset_record_id:r{i}", f"run_iteration:{run}"],
    }
    if _OWN[own] is not None:
        span["metrics"] = _OWN[own]
    return span


def _child(eid: str, j: int, trace: int, usage: int, root: bool) -> dict[str, Any]:
    return {
        "span_id": f"c{j}",
        "trace_id": _TRACES[trace],
        "parent_id": "undefined" if root else "s0-1",
        "name": "llm",
        "start_ns": 5000 + j,
        "meta": {"span": {"kind": "experiment" if root else "llm"}},
        "metrics": _USAGE[usage],
        "tags": [f"experiment_id:{eid}"],
    }


def _metric(span: str, label: str, run: int, ts: int, source: str, run_id: str) -> dict[str, Any]:
    tags = [f"run_iteration:{run}"] + ([f"run_id:{run_id}"] if run_id else [])
    return {
        "metric_source": source,
        "span_id": span,
        "metric_type": "score",
        "label": label,
        "score_value": ts / 2,
        "timestamp_ms": ts,
        "error": None,
        "tags": tags,
    }


_task_args = st.tuples(
    st.just("task"),
    st.integers(0, 2),
    st.integers(1, 2),
    st.integers(0, len(_TRACES) - 1),
    st.integers(0, len(_OWN) - 1),
)
_child_args = st.tuples(
    st.just("child"),
    st.integers(0, 4),
    st.integers(0, len(_TRACES) - 1),
    st.integers(0, len(_USAGE) - 1),
    st.booleans(),
)
_metric_args = st.tuples(
    st.just("metric"),
    st.sampled_from(["s0-1", "s1-1", "s2-2", "s1-2", "c0", "ghost"]),
    st.sampled_from(["b", "a", "c"]),
    st.integers(1, 2),
    st.integers(0, 3),
    st.sampled_from(["custom", "custom", "summary"]),
    st.sampled_from(["", "r-1", 'q"\\']),
)
# Requests: each a batch of spans or of metrics.
_requests = st.lists(
    st.one_of(
        st.lists(st.one_of(_task_args, _child_args), min_size=1, max_size=4),
        st.lists(_metric_args, min_size=1, max_size=4),
    ),
    max_size=12,
)


def _post(store: Store, eid: str, request: list[tuple[Any, ...]]) -> None:
    if request[0][0] == "metric":
        metrics = [_metric(*args[1:]) for args in request]
        store.events.add_metrics(eid, metrics, ["run_iteration:1"])
        return
    spans = [
        _task(eid, *args[1:]) if args[0] == "task" else _child(eid, *args[1:]) for args in request
    ]
    store.events.add_spans(spans)


def _experiment(store: Store) -> str:
    project = store.projects.create_or_get("p")
    dataset = store.datasets.create(project.id, "d", "")
    store.datasets.batch_update(
        project.id, dataset.id, [NewRecord(input={"i": i}, id=f"r{i}") for i in range(3)], [], []
    )
    return store.experiments.create(
        project_id=project.id,
        dataset_id=dataset.id,
        name="e",
        ensure_unique=False,
        config={},
        metadata={},
        run_count=2,
    ).id


def _read(store: Store, eid: str, limit: int | None = None) -> bytes:
    pages, after = [], None
    while True:
        page = store.events.read(eid, after, limit)
        pages += page.spans
        if page.next_after is None:
            return b",".join(pages)
        after = page.next_after


# Many short sequences: most bugs need a particular order of a few requests.
@settings(max_examples=settings.default.max_examples * 3, deadline=None)
@given(requests=_requests)
def test_every_read_answers_as_schema_2_built_it(requests: list[list[tuple[Any, ...]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "store.db")
        store = Store(db)
        try:
            eid = _experiment(store)
            for request in requests:
                _post(store, eid, request)
                assert _read(store, eid) == spans_answered(db, eid)
            assert _read(store, eid, limit=2) == spans_answered(db, eid)
        finally:
            store.close()
        as_schema_2(db)
        store = Store(db)
        try:
            assert _read(store, eid) == spans_answered(db, eid)
        finally:
            store.close()


def test_durations_that_add_up_past_64_bits_still_let_the_experiment_finish(
    tmp_path: Path,
) -> None:
    """Each duration is a valid 64-bit integer; their sum is not. Finishing the experiment
    computes its aggregate, which must not fail on it (it would be a 500, and the experiment
    could never be finished)."""
    store = Store(str(tmp_path / "s.db"))
    try:
        eid = _experiment(store)
        spans = [_task(eid, i, 1, 0, 0) | {"duration": 2**62} for i in range(3)]
        store.events.add_spans(spans)
        finished = store.experiments.patch(eid, {"status": "completed"})
        assert finished.aggregate_data is not None
        assert finished.aggregate_data["total_duration_ns"] == 3 * 2**62
    finally:
        store.close()
