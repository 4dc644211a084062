"""The store's HTTP API, driven directly: datasets and versions, the experiment list and its
filters, events in any order, bad input, keys, restarts and concurrent writers."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftgate.store.server import BackgroundStore
from tests.storeapi import UNSTABLE, V2, Api, body, metric, post_metrics, post_spans, span


@pytest.fixture
def api(store: BackgroundStore) -> Api:
    return Api(store.url)


@pytest.fixture
def ds(api: Api) -> tuple[str, str]:
    pid = api.project()
    return pid, api.dataset(pid)["id"]


# -- projects and datasets ------------------------------------------------------------------


def test_projects_are_created_once_per_name(api: Api) -> None:
    assert api.project("a") == api.project("a") != api.project("b")
    listed = api.ok("GET", f"{V2}/projects", params={"filter[name]": "a"})["data"]
    assert [p["attributes"]["name"] for p in listed] == ["a"]


def test_dataset_versions_follow_inserts_updates_and_deletes(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    acks = api.batch(
        pid,
        did,
        insert_records=[
            {"id": "r1", "input": {"q": 1}, "expected_output": "one", "tags": ["level:easy"]},
            {"id": "r2", "input": {"q": 2}, "expected_output": "two", "metadata": {"m": 1}},
        ],
    )
    assert [(a["id"], a["attributes"]["version"]) for a in acks] == [("r1", 1), ("r2", 1)]
    api.batch(
        pid,
        did,
        insert_records=[{"id": "r3", "input": {"q": 3}, "expected_output": "three"}],
        update_records=[{"id": "r1", "expected_output": "uno", "tag_operations": {"add": ["x:y"]}}],
        delete_records=["r2"],
    )
    listed = api.ok("GET", f"{V2}/{pid}/datasets", params={"filter[name]": "d"})["data"]
    assert listed[0]["attributes"]["current_version"] == 2

    def state(version: int | None = None) -> dict[str, Any]:
        params = {"filter[version]": version} if version else {}
        return {r["id"]: r["attributes"] for r in api.records(pid, did, **params)["data"]}

    v1, v2 = state(1), state()
    assert set(v1) == {"r1", "r2"}
    assert v1["r1"]["expected_output"] == "one"
    assert set(v2) == {"r1", "r3"}
    assert v2["r1"]["expected_output"] == "uno"
    assert v2["r1"]["input"] == {"q": 1}  # untouched fields carry over
    assert v2["r1"]["tags"] == ["level:easy", "x:y"]


def test_reinserting_the_same_records_deduplicates_and_keeps_the_version(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    first = api.batch(
        pid, did, insert_records=[{"id": "a1", "input": {"q": 1}, "expected_output": "x"}]
    )
    # A script that creates its dataset on every run sends the same content with new ids.
    again = api.batch(
        pid, did, insert_records=[{"id": "b1", "input": {"q": 1}, "expected_output": "x"}]
    )
    canonical = first[0]["attributes"]["canonical_id"]
    # Derived from the content (tests/store/test_record_ids.py), not the id sent.
    assert len(canonical) == 32
    assert canonical != "a1"
    assert first[0]["attributes"] == {"version": 1, "canonical_id": canonical}
    assert again[0]["id"] == "b1"
    assert again[0]["attributes"] == {"version": 1, "canonical_id": canonical}
    assert [r["id"] for r in api.records(pid, did)["data"]] == ["a1"]


def test_create_dataset_with_an_existing_name_answers_that_dataset(api: Api) -> None:
    pid = api.project()
    assert api.dataset(pid, "same")["id"] == api.dataset(pid, "same")["id"]


def test_records_filter_by_tags_and_page(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    api.batch(
        pid,
        did,
        insert_records=[
            {"id": f"r{i}", "input": {"i": i}, "tags": ["even" if i % 2 == 0 else "odd", "all"]}
            for i in range(7)
        ],
    )
    seen, cursor = [], None
    while True:
        params = {"page[limit]": 2, "filter[tags]": ["even", "all"]}
        if cursor:
            params["page[cursor]"] = cursor
        page = api.records(pid, did, **params)
        seen += [r["id"] for r in page["data"]]
        cursor = page["meta"]["after"]
        if not cursor:
            break
    assert seen == ["r0", "r2", "r4", "r6"]


def test_inserting_an_existing_id_with_other_content_is_a_conflict(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    api.batch(pid, did, insert_records=[{"id": "r1", "input": 1}])
    resp = api.http.post(
        f"{V2}/{pid}/datasets/{did}/batch_update",
        json=body("datasets", insert_records=[{"id": "r1", "input": 2}]),
    )
    assert resp.status_code == 409
    assert "update_records" in resp.json()["errors"][0]["detail"]


# -- experiments ----------------------------------------------------------------------------


def test_create_names_runs_uniquely_and_keeps_the_logical_name(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    unique = api.experiment(pid, did, "capitals", ensure_unique=True, run_count=3)
    plain = api.experiment(pid, did, "capitals-ci-42")
    attrs = unique["attributes"]
    assert attrs["experiment"] == "capitals"
    assert attrs["name"].startswith("capitals-") and attrs["name"].split("-")[-1].isdigit()
    assert attrs["run_count"] == 3
    assert attrs["created_at"].endswith("Z")
    assert attrs["updated_at"].endswith("Z")
    assert plain["attributes"]["name"] == plain["attributes"]["experiment"] == "capitals-ci-42"


def test_patch_changes_status_error_metadata_name_and_description(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    attrs = api.patch(
        eid, status="failed", error="boom", metadata={"k": "v"}, name="renamed", description="d"
    )["attributes"]
    assert (
        attrs["status"],
        attrs["error"],
        attrs["metadata"],
        attrs["name"],
        attrs["description"],
    ) == (
        "failed",
        "boom",
        {"k": "v"},
        "renamed",
        "d",
    )
    resp = api.http.patch(f"{UNSTABLE}/experiments/{eid}", json=body("experiments", status="done"))
    assert resp.status_code == 400
    assert "status" in resp.json()["errors"][0]["detail"]


def _listing_fixture(api: Api) -> dict[str, str]:
    pid = api.project()
    did = api.dataset(pid)["id"]
    other = api.dataset(pid, "other")["id"]
    api.batch(pid, did, insert_records=[{"id": "r", "input": 1}])
    api.batch(pid, other, insert_records=[{"id": "o", "input": 1}])
    ids = {}
    ids["main1"] = api.experiment(
        pid,
        did,
        "cap",
        metadata={"tags": ["git.branch:main", "git.commit.sha:aaa"]},
        ensure_unique=True,
    )["id"]
    ids["feat"] = api.experiment(
        pid, did, "cap", metadata={"tags": ["git.branch:feat"], "branch": "feat", "pr": 7}
    )["id"]
    ids["main2"] = api.experiment(
        pid,
        other,
        "cap",
        metadata={"tags": ["git.branch:main", "git.commit.sha:bbb"], "branch": "main"},
    )["id"]
    ids["child"] = api.experiment(pid, did, "rerun", parent_experiment_id=ids["main1"])["id"]
    ids["gone"] = api.experiment(pid, did, "cap")["id"]
    api.ok("DELETE", f"{V2}/experiments/{ids['gone']}")
    ids["project"], ids["dataset"], ids["other"] = pid, did, other
    return ids


def _ids(answer: dict[str, Any]) -> list[str]:
    return [e["id"] for e in answer["data"]]


def test_list_filters(api: Api) -> None:
    ids = _listing_fixture(api)
    assert _ids(api.listing()) == [ids["child"], ids["main2"], ids["feat"], ids["main1"]]
    assert _ids(api.listing(**{"filter[experiment]": "cap"})) == [
        ids["main2"],
        ids["feat"],
        ids["main1"],
    ]
    assert _ids(api.listing(**{"filter[id]": [ids["main1"], ids["feat"]]})) == [
        ids["feat"],
        ids["main1"],
    ]
    assert _ids(api.listing(**{"filter[name]": "cap"})) == [ids["main2"], ids["feat"]]
    assert _ids(api.listing(**{"filter[dataset_id]": ids["other"]})) == [ids["main2"]]
    assert _ids(api.listing(**{"filter[project_id]": ids["project"]}))[0] == ids["child"]
    assert _ids(api.listing(**{"filter[parent_experiment_id]": ids["main1"]})) == [ids["child"]]
    assert _ids(api.listing(**{"filter[is_deleted]": "true"})) == [ids["gone"]]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"tags": ["git.branch:main"]}, ["main2", "main1"]),
        ({"tags": ["git.branch:main", "git.commit.sha:bbb"]}, ["main2"]),
        ({"tags": ["git.commit.sha:ccc"]}, []),
        ({"branch": "main"}, ["main2"]),
        ({"branch": "feat", "pr": 7}, ["feat"]),
        ({"pr": "7"}, []),  # containment is typed: 7 is not "7"
        ({}, ["child", "main2", "feat", "main1"]),
    ],
)
def test_list_metadata_filter_is_jsonb_containment(
    api: Api, metadata: dict[str, Any], expected: list[str]
) -> None:
    ids = _listing_fixture(api)
    answer = api.listing(**{"filter[metadata]": json.dumps(metadata)})
    assert _ids(answer) == [ids[k] for k in expected]


def test_list_pages_with_a_cursor_newest_first(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    made = [api.experiment(pid, did, f"e{i}")["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"page[limit]": 3}
        if cursor:
            params["page[cursor]"] = cursor
        answer = api.listing(**params)
        seen += _ids(answer)
        pages += 1
        cursor = answer["meta"].get("after")
        if not cursor:
            break
    assert seen == made[::-1]
    assert pages == 3


@pytest.mark.parametrize(
    "flt",
    [
        {"filter[experiment]": "same"},
        {"filter[metadata]": json.dumps({"tags": ["k:keep"]})},
        {"filter[metadata]": json.dumps({"tags": ["k:keep"]}), "filter[experiment]": "same"},
    ],
)
def test_a_filtered_list_pages_with_a_cursor_and_is_never_cut_without_one(
    api: Api, ds: tuple[str, str], flt: dict[str, str]
) -> None:
    pid, did = ds
    made = []
    for i in range(7):
        # Interleaved with runs the filter leaves out, so that a page is not a row range.
        api.experiment(pid, did, "other", metadata={"tags": ["k:drop"]})
        made.append(api.experiment(pid, did, "same", metadata={"tags": ["k:keep", f"i:{i}"]})["id"])
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {**flt, "page[limit]": 3}
        if cursor:
            params["page[cursor]"] = cursor
        answer = api.listing(**params)
        assert len(answer["data"]) <= 3
        seen += _ids(answer)
        pages += 1
        cursor = answer["meta"].get("after")
        if not cursor:
            break
    assert seen == made[::-1]
    assert pages == 3
    # A page that ends exactly at the last match says so (no cursor to an empty page).
    assert "after" not in api.listing(**{**flt, "page[limit]": 7})["meta"]


def test_page_limit_is_clamped_to_5000(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    api.experiment(pid, did)
    assert len(api.listing(**{"page[limit]": 100000})["data"]) == 1
    assert api.http.get(f"{V2}/experiments", params={"page[limit]": "x"}).status_code == 400


# -- events ---------------------------------------------------------------------------------


def test_metric_before_span_duplicate_spans_and_reposted_runs(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    post_metrics(api, eid, [metric("s1", "ok", "boolean", True, ts=1)])  # before its span
    post_spans(api, [span(eid, "s1", "r1"), span(eid, "s2", "r2", status="error")])
    post_spans(api, [span(eid, "s1", "r1")])  # the same span again
    post_metrics(api, eid, [metric("s2", "ok", "boolean", False, ts=1)])
    # The whole run re-posted, and a newer evaluation of s1 that replaces the first.
    post_metrics(api, eid, [metric("s1", "ok", "boolean", False, ts=5)])
    post_metrics(api, eid, [metric("s1", "ok", "boolean", True, ts=2)])  # older: ignored
    post_spans(api, [span(eid, "s1", "r1"), span(eid, "s2", "r2", status="error")])
    events = api.events(eid)
    assert [s["span_id"] for s in events["spans"]] == ["s1", "s2"]
    by_span = {s["span_id"]: s["eval_metrics"] for s in events["spans"]}
    assert [(m["boolean_value"], m["timestamp_ms"]) for m in by_span["s1"]] == [(False, 5)]
    agg = api.patch(eid, status="completed")["attributes"]["aggregate_data"]
    assert agg["total_spans"] == 2
    assert agg["total_errors"] == 1
    assert agg["evaluations"]["custom"]["ok"]["count"] == 2
    assert agg["evaluations"]["custom"]["ok"]["true_count"] == 0


def test_aggregate_stays_fresh_when_events_arrive_after_completion(
    api: Api, ds: tuple[str, str]
) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    post_spans(api, [span(eid, "s1", "r1")])
    assert api.patch(eid, status="completed")["attributes"]["aggregate_data"]["total_spans"] == 1
    post_spans(api, [span(eid, "s2", "r2")])
    post_metrics(api, eid, [metric("s2", "score", "score", 0.5)])
    (listed,) = api.listing(**{"filter[id]": eid})["data"]
    agg = listed["attributes"]["aggregate_data"]
    assert agg["total_spans"] == 2
    assert agg["evaluations"]["custom"]["score"]["mean"] == 0.5


def test_running_experiments_have_no_aggregate(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    assert api.patch(eid, status="running")["attributes"]["aggregate_data"] is None


def test_paged_events_read_covers_every_span_once(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    spans = [span(eid, f"s{i}", f"r{i % 4}", run=1 + i // 4) for i in range(12)]
    post_spans(api, spans)
    post_metrics(api, eid, [metric(f"s{i}", "m", "score", i) for i in range(12)])
    post_metrics(
        api,
        eid,
        [
            {
                "metric_source": "summary",
                "span_id": "",
                "metric_type": "score",
                "label": "acc",
                "score_value": 1,
            }
        ],
    )
    seen, cursor, summaries = [], None, []
    while True:
        params: dict[str, Any] = {"page[limit]": 5}
        if cursor:
            params["page[cursor]"] = cursor
        answer = api.ok("GET", f"/api/v2/llm-obs/v3/experiments/{eid}/events", params=params)
        attrs = answer["data"]["attributes"]
        seen += [(s["span_id"], s["eval_metrics"][0]["score_value"]) for s in attrs["spans"]]
        summaries += attrs["summary_metrics"]
        cursor = answer["meta"].get("after")
        if not cursor:
            break
    assert sorted(seen) == sorted((f"s{i}", i) for i in range(12))
    assert [m["label"] for m in summaries] == ["acc"]


def test_child_span_tokens_roll_up_to_their_task_span(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    child = {
        "span_id": "c1",
        "trace_id": "t-s1",
        "parent_id": "s1",
        "name": "llm",
        "meta": {"span": {"kind": "llm"}},
        "metrics": {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "estimated_total_cost": 7,
        },
        "tags": [f"experiment_id:{eid}", "run_iteration:1"],
    }
    post_spans(api, [span(eid, "s1", "r1"), child, {**child, "span_id": "c2"}])
    (task,) = api.events(eid)["spans"]
    assert task["metrics"] == {
        "input_tokens": 20,
        "output_tokens": 10,
        "total_tokens": 30,
        "estimated_total_cost": 14,
    }


def test_spans_without_an_experiment_are_accepted_and_not_kept(
    api: Api, ds: tuple[str, str]
) -> None:
    resp = api.http.post(
        "/api/v2/llmobs", json=[{"spans": [{"span_id": "x", "tags": ["env:prod"]}]}]
    )
    assert resp.status_code == 202


def test_agent_proxy_prefix_reaches_the_same_api(api: Api) -> None:
    pid = api.project("via-agent")
    answer = api.ok(
        "POST",
        "/evp_proxy/v2/api/unstable/llm-obs/v1/projects",
        json=body("projects", name="via-agent"),
    )
    assert answer["data"]["id"] == pid


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "fragment"),
    [
        ("POST", f"{UNSTABLE}/projects", b"{not json", 400, "not valid JSON"),
        ("POST", f"{UNSTABLE}/projects", b"[]", 400, "data"),
        (
            "POST",
            f"{UNSTABLE}/projects",
            b'{"data": {"attributes": {"name": 5}}}',
            400,
            "data.attributes.name",
        ),
        (
            "POST",
            f"{UNSTABLE}/experiments",
            b'{"data": {"attributes": {"name": "x"}}}',
            400,
            "project_id",
        ),
        ("GET", f"{V2}/experiments?filter[metadata]=nope", b"", 400, "not valid JSON"),
        ("GET", f"{V2}/experiments?page[cursor]=%%%", b"", 400, "page[cursor]"),
        # Well-formed, but its key is ["x"] where this listing's keys are integers.
        ("GET", f"{V2}/experiments?page[cursor]=WyJ4Il0", b"", 400, "does not belong"),
        (
            "PATCH",
            f"{UNSTABLE}/experiments/missing",
            b'{"data": {"attributes": {"status": "running"}}}',
            404,
            "missing",
        ),
        ("GET", f"{UNSTABLE}/experiments/missing/events", b"", 404, "missing"),
        ("POST", "/api/v2/llmobs", b'[{"spans": [{"span_id": {"x": 1}}]}]', 400, "span_id"),
        ("GET", "/api/v2/llm-obs/v1/nothing/here/at/all", b"", 404, "not a path"),
        ("PUT", f"{UNSTABLE}/projects", b"{}", 405, "PUT"),
    ],
)
def test_bad_requests_get_json_api_errors(
    api: Api, method: str, path: str, payload: bytes, status: int, fragment: str
) -> None:
    headers = {"Content-Type": "application/json"} if payload else {}
    resp = api.http.request(method, path, content=payload, headers=headers)
    assert resp.status_code == status, resp.text
    (error,) = resp.json()["errors"]
    assert fragment in error["detail"]
    assert error["title"]


def test_metrics_for_an_unknown_experiment_are_refused(api: Api) -> None:
    resp = api.http.post(
        f"{UNSTABLE}/experiments/nope/events",
        json=body("experiments", metrics=[metric("s", "m", "score", 1)]),
    )
    assert resp.status_code == 404


def test_a_wrongly_typed_metric_names_its_position(api: Api, ds: tuple[str, str]) -> None:
    pid, did = ds
    eid = api.experiment(pid, did)["id"]
    bad = [metric("s1", "m", "score", 1), {**metric("s2", "m", "score", 1), "metric_type": "weird"}]
    resp = api.http.post(
        f"{UNSTABLE}/experiments/{eid}/events", json=body("experiments", metrics=bad)
    )
    assert resp.status_code == 400
    assert "data.attributes.metrics.1.metric_type" in resp.json()["errors"][0]["detail"]
    # Nothing of a refused request is kept.
    assert api.events(eid)["spans"] == []


def test_oversize_bodies_get_413(tmp_path: Path) -> None:
    with BackgroundStore(str(tmp_path / "s.db"), max_body=1000) as small:
        resp = httpx.post(f"{small.url}{UNSTABLE}/projects", json=body("projects", name="x" * 2000))
        assert resp.status_code == 413
        chunked = httpx.post(
            f"{small.url}{UNSTABLE}/projects",
            content=iter([b"{" + b" " * 600, b" " * 600 + b"}"]),
            headers={"Content-Type": "application/json"},
        )
        assert chunked.status_code == 413


# -- keys -----------------------------------------------------------------------------------


def test_keys_are_required_when_configured(tmp_path: Path) -> None:
    with BackgroundStore(str(tmp_path / "s.db"), api_key="k-api", app_key="k-app") as locked:
        path = f"{locked.url}{UNSTABLE}/projects"
        payload = body("projects", name="p")
        missing = httpx.post(path, json=payload)
        wrong = httpx.post(
            path, json=payload, headers={"DD-API-KEY": "nope", "DD-APPLICATION-KEY": "k-app"}
        )
        no_app = httpx.post(path, json=payload, headers={"DD-API-KEY": "k-api"})
        right = httpx.post(
            path, json=payload, headers={"DD-API-KEY": "k-api", "DD-APPLICATION-KEY": "k-app"}
        )
        intake = httpx.post(f"{locked.url}/api/v2/llmobs", json=[], headers={"DD-API-KEY": "k-api"})
        assert (missing.status_code, wrong.status_code, no_app.status_code) == (401, 403, 401)
        assert right.status_code == 200
        assert intake.status_code == 202  # the span intake takes the API key alone
        for resp in (missing, wrong, no_app):
            assert "k-api" not in resp.text
            assert "errors" in resp.json()


def test_any_key_is_accepted_by_default(api: Api) -> None:
    resp = api.http.post(
        f"{UNSTABLE}/projects", json=body("projects", name="p"), headers={"DD-API-KEY": "whatever"}
    )
    assert resp.status_code == 200


# -- durability -----------------------------------------------------------------------------


def test_restart_on_the_same_file_loses_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    with BackgroundStore(db) as first:
        api = Api(first.url)
        pid = api.project()
        did = api.dataset(pid)["id"]
        api.batch(pid, did, insert_records=[{"id": "r1", "input": {"q": 1}}])
        eid = api.experiment(pid, did, metadata={"tags": ["git.branch:main"]})["id"]
        post_spans(api, [span(eid, "s1", "r1")])
        post_metrics(api, eid, [metric("s1", "ok", "boolean", True)])
        done = api.patch(eid, status="completed")
        events = api.events(eid)
    with BackgroundStore(db) as second:
        api = Api(second.url)
        assert api.project() == pid
        assert api.listing(**{"filter[id]": eid})["data"][0] == done
        assert api.events(eid) == events
        assert [r["id"] for r in api.records(pid, did)["data"]] == ["r1"]


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Two servers on one file and eight threads each: every 2xx is stored, the rest are
    retryable refusals."""
    db = str(tmp_path / "shared.db")
    with BackgroundStore(db) as a, BackgroundStore(db) as b:
        setup = Api(a.url)
        pid = setup.project()
        did = setup.dataset(pid)["id"]
        setup.batch(pid, did, insert_records=[{"id": "r", "input": 1}])
        eid = setup.experiment(pid, did)["id"]
        accepted: list[str] = []
        refused: list[int] = []
        lock = threading.Lock()

        def writer(url: str, worker: int) -> None:
            client = Api(url)
            for i in range(25):
                sid = f"w{worker}-{i}"
                resp = client.http.post("/api/v2/llmobs", json=[{"spans": [span(eid, sid, sid)]}])
                with lock:
                    (
                        accepted.append(sid)
                        if resp.status_code == 202
                        else refused.append(resp.status_code)
                    )

        threads = [
            threading.Thread(target=writer, args=(url, w))
            for w, url in enumerate([a.url, b.url] * 4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = {s["span_id"] for s in setup.events(eid)["spans"]}
    assert set(refused) <= {503}
    assert stored == set(accepted)
    assert len(accepted) + len(refused) == 200


# -- hostile input: a JSON 400 that names the field, never a 500 ----------------------------

TOO_BIG = 2**63  # one past SQLite's largest integer


def _refused(resp: httpx.Response, *fragments: str) -> str:
    assert resp.status_code == 400, resp.text
    (error,) = resp.json()["errors"]
    assert error["status"] == "400"
    for fragment in fragments:
        assert fragment in error["detail"], error["detail"]
    return str(error["detail"])


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


@pytest.fixture
def eid(api: Api, ds: tuple[str, str]) -> str:
    pid, did = ds
    api.batch(pid, did, insert_records=[{"id": "r1", "input": 1}])
    return str(api.experiment(pid, did)["id"])


def test_integers_sqlite_cannot_hold_are_refused(api: Api, ds: tuple[str, str], eid: str) -> None:
    pid, did = ds
    events = f"{UNSTABLE}/experiments/{eid}/events"
    create = body("experiments", name="x", project_id=pid, dataset_id=did)
    _refused(
        api.http.post(f"{UNSTABLE}/experiments", json=_with(create, dataset_version=TOO_BIG)),
        "data.attributes.dataset_version",
    )
    _refused(
        api.http.post(f"{UNSTABLE}/experiments", json=_with(create, run_count=TOO_BIG)),
        "data.attributes.run_count",
    )
    _refused(
        api.http.post(
            events, json=body("experiments", metrics=[metric("s1", "m", "score", 1, ts=TOO_BIG)])
        ),
        "data.attributes.metrics.0.timestamp_ms",
    )
    for field in ("duration", "start_ns"):
        _refused(
            api.http.post(
                "/api/v2/llmobs", json=[{"spans": [span(eid, "s1", "r1", **{field: TOO_BIG})]}]
            ),
            f"body.0.spans.0.{field}",
        )
    tag = f"run_iteration:{TOO_BIG}"
    task = span(eid, "s2", "r1")
    task["tags"][2] = tag
    _refused(api.http.post("/api/v2/llmobs", json=[{"spans": [task]}]), "spans.0.tags", tag)
    _refused(
        api.http.post(
            events,
            json=body("experiments", metrics=[metric("s1", "m", "score", 1, tags=[tag])]),
        ),
        "data.attributes.metrics.0.tags",
    )
    _refused(
        api.http.post(
            events, json=body("experiments", tags=[tag], metrics=[metric("s1", "m", "score", 1)])
        ),
        "data.attributes.tags",
    )
    # A run that is not a number would otherwise be merged into run 1 without a word.
    _refused(
        api.http.post(
            events,
            json=body(
                "experiments", tags=["run_iteration:two"], metrics=[metric("s", "m", "score", 1)]
            ),
        ),
        "run_iteration:two",
    )
    assert api.events(eid)["spans"] == []


def _with(payload: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    return body("experiments", **{**payload["data"]["attributes"], **attrs})


def test_a_too_deep_value_is_stored_truncated_and_the_batch_kept(api: Api, eid: str) -> None:
    deep: Any = "bottom"
    for _ in range(400):  # orjson reads 1024 levels but writes only 254
        deep = {"d": deep}
    task = span(eid, "s1", "r1")
    task["meta"]["output"] = deep
    resp = api.http.post(
        "/api/v2/llmobs",
        content=json.dumps([{"spans": [task, span(eid, "s2", "r2")]}]),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 202, resp.text
    spans = {s["span_id"]: s for s in api.events(eid)["spans"]}
    assert set(spans) == {"s1", "s2"}
    kept = spans["s1"]["meta"]["output"]
    depth = 0
    while isinstance(kept, dict):
        kept, depth = kept["d"], depth + 1
    assert isinstance(kept, str)
    assert kept.startswith("[driftgate: truncated")
    assert 100 < depth < 254
    # The paged read nests the body deeper still, and answers too.
    paged = api.ok("GET", f"/api/v2/llm-obs/v3/experiments/{eid}/events")
    assert len(paged["data"]["attributes"]["spans"]) == 2


def test_a_body_deeper_than_json_can_be_read_is_a_400(api: Api) -> None:
    deep = b"[" * 2000 + b"]" * 2000
    headers = {"Content-Type": "application/json"}
    _refused(api.http.post("/api/v2/llmobs", content=deep, headers=headers), "not valid JSON")


def test_meta_span_must_be_an_object(api: Api, eid: str) -> None:
    task = span(eid, "s1", "r1")
    task["meta"]["span"] = "experiment"
    _refused(api.http.post("/api/v2/llmobs", json=[{"spans": [task]}]), "body.0.spans.0.meta.span")


@pytest.mark.parametrize(
    "path",
    [
        f"{V2}/experiments",
        "{records}",
        "/api/v2/llm-obs/v3/experiments/{eid}/events",
    ],
)
@pytest.mark.parametrize("key", [TOO_BIG, -TOO_BIG - 1, 1.5, True, None, "x", [1]])
def test_cursors_with_keys_of_the_wrong_type_are_refused(
    api: Api, ds: tuple[str, str], eid: str, path: str, key: Any
) -> None:
    pid, did = ds
    path = path.format(records=f"{V2}/{pid}/datasets/{did}/records", eid=eid)
    cursor = _cursor(key, key, "s") if "v3" in path else _cursor(key)
    _refused(api.http.get(path, params={"page[cursor]": cursor}), "page[cursor]")


@pytest.mark.parametrize("version", ["--5", "²", "١", "1.0", " 1", str(TOO_BIG)])
def test_a_version_that_is_not_an_integer_is_refused(
    api: Api, ds: tuple[str, str], eid: str, version: str
) -> None:
    pid, did = ds
    path = f"{V2}/{pid}/datasets/{did}/records"
    _refused(api.http.get(path, params={"filter[version]": version}), "filter[version]")


def test_page_limit_takes_ascii_digits_only(api: Api) -> None:
    _refused(api.http.get(f"{V2}/experiments", params={"page[limit]": "١"}), "page[limit]")


def test_uploads_refuse_what_is_not_a_utf8_csv_in_a_multipart_body(
    api: Api, ds: tuple[str, str]
) -> None:
    _, did = ds
    upload = f"{UNSTABLE}/datasets/{did}/records/upload"
    _refused(
        api.http.post(upload, content=b"--x\r\n", headers={"content-type": "multipart/form-data"}),
        "boundary",
    )
    _refused(
        api.http.post(upload, files={"file": ("d.csv", b'input\n"\xff\xfe"\n')}),
        "UTF-8",
    )
    _refused(api.http.post(upload, files={"file": ("d.csv", b"input\n1\x00\n")}), "CSV line")
    _refused(api.http.post(upload, files={"file": ("d.csv", b"id,input\nr1\n")}), "line 2", "input")


def test_uploads_take_fields_as_large_as_the_body_allows(api: Api, ds: tuple[str, str]) -> None:
    """ddtrace uploads a dataset as a CSV of `json.dumps(input)`: a large record is a large
    field, and Python's csv module stops at 128 KiB unless told otherwise."""
    pid, did = ds
    text = "x" * 300_000
    csv_body = b"input,expected_output,metadata,id\n" + b'"""' + text.encode() + b'""",1,{},big\n'
    resp = api.http.post(
        f"{UNSTABLE}/datasets/{did}/records/upload", files={"file": ("d.csv", csv_body)}
    )
    assert resp.status_code == 200, resp.text
    (record,) = api.records(pid, did)["data"]
    assert record["attributes"]["input"] == text


def test_a_null_description_is_refused_with_what_to_send(api: Api, eid: str) -> None:
    resp = api.http.patch(
        f"{UNSTABLE}/experiments/{eid}", json=body("experiments", description=None)
    )
    _refused(resp, "data.attributes.description", '""')


def test_values_just_under_the_writable_depth_still_read_back(api: Api, eid: str) -> None:
    """An answer nests a stored value deeper than it was stored (an evaluation six levels);
    a value kept uncut must leave that room, or the read fails instead of the write."""
    post_spans(api, [span(eid, "s1", "r1")])
    metrics = []
    for depth in range(230, 256):
        value: Any = depth
        for _ in range(depth):
            value = [value]
        metrics.append(metric("s1", f"m{depth}", "json", value))
    resp = api.http.post(
        f"{UNSTABLE}/experiments/{eid}/events",
        content=json.dumps(body("experiments", metrics=metrics)),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 202, resp.text
    (task,) = api.events(eid)["spans"]
    assert len(task["eval_metrics"]) == 26
    paged = api.ok("GET", f"/api/v2/llm-obs/v3/experiments/{eid}/events")
    assert len(paged["data"]["attributes"]["spans"][0]["eval_metrics"]) == 26
