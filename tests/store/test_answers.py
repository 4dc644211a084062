"""An evaluation is answered as posted, with the run it was stored under, however it was
posted: SQLite joins most of them from their body when read, the others are kept rendered."""

from __future__ import annotations

from typing import Any

from driftgate.store.server import BackgroundStore
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
