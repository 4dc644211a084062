"""An evaluation is answered as posted, with the run it was stored under, however it was
posted: SQLite joins most of them from their body when read, the others are kept rendered."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from driftgate.store.app import Pieces
from driftgate.store.server import BackgroundServer, BackgroundStore
from tests.storeapi import UNSTABLE, Api, body, metric, post_spans, span


def _posted(api: Api, eid: str, metrics: list[dict[str, Any]], tags: list[str]) -> None:
    api.ok(
        "POST",
        f"{UNSTABLE}/experiments/{eid}/events",
        json=body("experiments", scope="experiments", metrics=metrics, tags=tags),
    )


def test_every_evaluation_answers_as_posted_with_its_run(store: BackgroundStore) -> None:
    api = Api(store.url)
    pid = api.project()
    did = api.dataset(pid)["id"]
    api.batch(pid, did, insert_records=[{"id": "r1", "input": {"q": 1}}])
    eid = api.experiment(pid, did)["id"]
    post_spans(api, [span(eid, "s1", "r1")])
    plain = metric("s1", "plain", "score", 0.5, reasoning='a "quoted" reason\n')
    own_run = metric("s1", "own", "boolean", True, run_iteration=7, run_id="mine")
    _posted(api, eid, [plain, own_run], ["run_iteration:1", "run_id:r-1"])
    odd = metric("s1", "odd", "categorical", "é")
    _posted(api, eid, [odd], ["run_iteration:1", 'run_id:a"b\\c\t'])
    nameless_run = metric("s1", "norun", "score", 1)
    _posted(api, eid, [nameless_run], ["run_iteration:1"])
    summary = {**metric("", "total", "score", 3), "metric_source": "summary"}
    _posted(api, eid, [summary], ["run_iteration:1", "run_id:r-1"])

    events = api.events(eid)
    by_label = {m["label"]: m for m in events["spans"][0]["eval_metrics"]}
    assert by_label["plain"] == {**plain, "run_iteration": 1, "run_id": "r-1"}
    # Its own members of those names are the stored run's, in their place.
    assert by_label["own"] == {**own_run, "run_iteration": 1, "run_id": "r-1"}
    assert list(by_label["own"]) == list(own_run)
    assert by_label["odd"] == {**odd, "run_iteration": 1, "run_id": 'a"b\\c\t'}
    assert by_label["norun"] == {**nameless_run, "run_iteration": 1}
    assert events["summary_metrics"] == [{**summary, "run_iteration": 1, "run_id": "r-1"}]


def _child(eid: str, span_id: str, parent: str, **metrics: float) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "trace_id": f"t-{parent}",
        "parent_id": parent,
        "meta": {"span": {"kind": "llm"}},
        "metrics": metrics,
        "tags": [f"experiment_id:{eid}"],
    }


def test_a_task_span_s_metrics_are_its_own_with_its_trace_s_sums(store: BackgroundStore) -> None:
    """SQLite writes the usual case (whole sums, no metrics of the span's own), Python the
    others; both as the trace's sums replacing the span's own, floats as Python writes them."""
    api = Api(store.url)
    pid = api.project()
    did = api.dataset(pid)["id"]
    api.batch(pid, did, insert_records=[{"id": f"r{i}", "input": {"q": i}} for i in range(5)])
    eid = api.experiment(pid, did)["id"]
    spans = [
        span(eid, "s0", "r0"),  # no usage anywhere
        span(eid, "s1", "r1"),  # whole token sums from two children
        _child(eid, "c1a", "s1", input_tokens=8, output_tokens=2),
        _child(eid, "c1b", "s1", input_tokens=4, total_tokens=6),
        span(eid, "s2", "r2"),  # a fractional cost
        _child(eid, "c2a", "s2", estimated_input_cost=0.1, estimated_output_cost=0.2),
        _child(eid, "c2b", "s2", total_tokens=5),
        span(eid, "s3", "r3", metrics={"score": 0.5, "input_tokens": 1}),  # its own, and usage
        _child(eid, "c3", "s3", input_tokens=10),
        span(eid, "s4", "r4", metrics={"latency": 2.5}),  # its own, no usage
    ]
    post_spans(api, spans)
    by_id = {s["span_id"]: s["metrics"] for s in api.events(eid)["spans"]}
    assert by_id == {
        "s0": {},
        "s1": {"input_tokens": 12, "output_tokens": 2, "total_tokens": 16},
        "s2": {"total_tokens": 5, "estimated_total_cost": 0.1 + 0.2},
        # (A total is the sum of its parts where a span reports only them.)
        "s3": {"score": 0.5, "input_tokens": 11, "total_tokens": 11},
        "s4": {"latency": 2.5},
    }
    assert list(by_id["s3"]) == ["score", "input_tokens", "total_tokens"]


def test_an_answer_is_sent_as_its_pieces_joined() -> None:
    """Pieces small and large, sent in slices: the bytes are the pieces joined, with their
    length."""
    pieces = [b'{"a":[', b"1" * 10, b",", b"2" * 25, b"", b"3", b"]}"]

    async def sliced(request: Request) -> Pieces:
        return _Sliced(pieces)

    with BackgroundServer(Starlette(routes=[Route("/", sliced)])) as server:
        answer = httpx.get(server.url)
    assert answer.content == b"".join(pieces)
    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers["content-type"] == "application/json"


class _Sliced(Pieces):
    SLICE = 8


def test_a_large_events_answer_is_whole(store: BackgroundStore) -> None:
    api = Api(store.url)
    pid = api.project()
    did = api.dataset(pid)["id"]
    api.batch(pid, did, insert_records=[{"id": f"r{i}", "input": {"q": i}} for i in range(3)])
    eid = api.experiment(pid, did)["id"]
    big = [span(eid, f"s{i}", f"r{i}") for i in range(3)]
    for i, s in enumerate(big):
        s["meta"]["output"] = str(i) * (Pieces.SLICE + 1000)
    post_spans(api, big)
    with httpx.Client(base_url=store.url) as http:
        answer = http.get(f"/api/v2/llm-obs/v3/experiments/{eid}/events")
    assert int(answer.headers["content-length"]) == len(answer.content) > 3 * Pieces.SLICE
    spans = answer.json()["data"]["attributes"]["spans"]
    assert [s["meta"]["output"] for s in spans] == [s["meta"]["output"] for s in big]
