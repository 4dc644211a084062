"""The experiments API client against the real store (served over HTTP), with faults
injected in front of it: retries, paging, errors that say what to do, no key in them."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from driftgate.experiments.client import (
    AuthError,
    Backend,
    BackendError,
    ExperimentsClient,
    NotFoundError,
    RetryPolicy,
    backend_from_env,
)
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from tests.fakes.flaky import Fault, Flaky
from tests.storeapi import Api, body, metric, post_metrics, post_spans, span


class Served:
    def __init__(self, flaky: Flaky, url: str, api: Api) -> None:
        self.flaky, self.url, self.api = flaky, url, api
        self.sleeps: list[float] = []

    def client(self, **env: str) -> ExperimentsClient:
        backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": self.url, **env})
        return ExperimentsClient(
            backend, retry=RetryPolicy(attempts=5), sleep=self.sleeps.append, timeout=2
        )


@pytest.fixture
def served() -> Iterator[Served]:
    store = Store()
    flaky = Flaky(create_app(store))
    with BackgroundServer(flaky) as server:
        yield Served(flaky, server.url, Api(server.url))
    store.close()


def _experiment(api: Api, runs: int = 2) -> str:
    """Three records, `runs` runs, two evaluators and a summary; record r3 errors in run 2."""
    pid = api.project()
    did = api.dataset(pid)["id"]
    api.batch(pid, did, insert_records=[{"id": f"r{i}", "input": {"q": i}} for i in (1, 2, 3)])
    eid = api.experiment(pid, did, "capitals", run_count=runs, ensure_unique=True)["id"]
    for run in range(1, runs + 1):
        spans = []
        for i in (1, 2, 3):
            sid = f"s{run}{i}"
            extra: dict[str, Any] = {"duration": 1000 * i}
            if run == 2 and i == 3:
                extra["status"] = "error"
                extra["meta"] = {
                    "span": {"kind": "experiment"},
                    "error": {"message": "boom", "type": "ValueError"},
                }
            spans.append(span(eid, sid, f"r{i}", run=run, **extra))
        post_spans(api, spans)
        post_metrics(
            api,
            eid,
            [metric(f"s{run}{i}", "correct", "boolean", i != 2) for i in (1, 2, 3)]
            + [
                metric(f"s{run}{i}", "judge", "categorical", "good", assessment="pass")
                for i in (1, 2)
            ]
            + [
                {
                    **metric(f"s{run}3", "judge", "categorical", None),
                    "error": {"message": "judge down"},
                }
            ],
            run=run,
        )
        post_metrics(
            api,
            eid,
            [
                {
                    "metric_source": "summary",
                    "span_id": "",
                    "metric_type": "score",
                    "label": "acc",
                    "score_value": run / 10,
                }
            ],
            run=run,
        )
    api.patch(eid, status="completed")
    return eid


def test_backend_follows_ddtrace_rules() -> None:
    override = backend_from_env(
        {"DD_LLMOBS_OVERRIDE_ORIGIN": "http://127.0.0.1:9/", "DD_SITE": "datadoghq.eu"}
    )
    assert override.base_url == "http://127.0.0.1:9"
    assert override.experiment_url("x") is None
    default = backend_from_env({"DD_API_KEY": "a", "DD_APP_KEY": "b"})
    assert default.base_url == "https://api.datadoghq.com"
    assert default.experiment_url("abc") == "https://app.datadoghq.com/llm/experiments/abc"
    eu = backend_from_env({"DD_SITE": "datadoghq.eu"})
    assert eu.experiment_url("abc") == "https://app.datadoghq.eu/llm/experiments/abc"
    us5 = backend_from_env({"DD_SITE": "us5.datadoghq.com"})
    assert us5.base_url == "https://api.us5.datadoghq.com"
    assert us5.experiment_url("abc") == "https://us5.datadoghq.com/llm/experiments/abc"
    assert "secret" not in repr(backend_from_env({"DD_API_KEY": "secret"}))


def test_experiment_data_reads_every_run_by_column(served: Served) -> None:
    eid = _experiment(served.api)
    with served.client() as client:
        data = client.experiment_data(eid)
    assert data.info.experiment == "capitals"
    assert data.info.status == "completed"
    assert data.rows == 6
    assert data.record_key == ["r1", "r2", "r3", "r1", "r2", "r3"]
    assert data.run_iteration.tolist() == [1, 1, 1, 2, 2, 2]
    assert data.task_error.tolist() == [False, False, False, False, False, True]
    assert data.error_message[5] == "ValueError: boom"
    assert data.duration_ns.tolist() == [1000, 2000, 3000, 1000, 2000, 3000]
    correct = data.evaluators["correct"]
    assert correct.metric_type == "boolean"
    assert correct.value.tolist() == [1, 0, 1, 1, 0, 1]
    judge = data.evaluators["judge"]
    assert judge.metric_type == "categorical"
    assert judge.category == ["good", "good", None, "good", "good", None]
    assert judge.errored.tolist() == [False, False, True, False, False, True]
    assert judge.error_messages == ("judge down",)
    np.testing.assert_array_equal(judge.passed, [1, 1, np.nan, 1, 1, np.nan])
    assert [(s.label, s.run, s.value) for s in data.summaries] == [("acc", 1, 0.1), ("acc", 2, 0.2)]
    assert data.input_text[0] == '{"q":"r1"}'


def test_one_run_of_an_experiment(served: Served) -> None:
    eid = _experiment(served.api)
    with served.client() as client:
        second = client.experiment_data(eid, run=2)
        assert second.run == 2
        assert second.rows == 3
        assert second.run_iteration.tolist() == [2, 2, 2]
        assert [s.run for s in second.summaries] == [2]
        with pytest.raises(NotFoundError, match=r"has no run 5 \(it has 2 runs: use @1 to @2\)"):
            client.experiment_data(eid, run=5)


def test_events_are_read_in_pages(served: Served) -> None:
    eid = _experiment(served.api, runs=3)
    with served.client() as client:
        pages = list(client.iter_event_pages(eid, page_size=4))
    assert [len(p.spans) for p in pages] == [4, 4, 1]
    assert sum(len(p.summary_metrics) for p in pages) == 3


def test_a_page_that_fails_after_the_first_ends_the_read() -> None:
    """The next page is asked for while the current one is read: its failure still ends
    the read, after the pages before it, and says which experiment."""
    asked: list[bytes] = []

    def second_page_gone(app: ASGIApp) -> ASGIApp:
        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and "/v3/" in scope["path"]:
                asked.append(scope["query_string"])
                if b"cursor" in scope["query_string"]:
                    await JSONResponse({"errors": [{"title": "Not Found"}]}, 404)(
                        scope, receive, send
                    )
                    return
            await app(scope, receive, send)

        return serve

    store = Store()
    with BackgroundServer(second_page_gone(create_app(store))) as server:
        eid = _experiment(Api(server.url), runs=3)
        backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": server.url})
        with ExperimentsClient(backend) as client:
            pages = client.iter_event_pages(eid, page_size=4)
            assert len(next(pages).spans) == 4
            with pytest.raises(NotFoundError, match=f"the events of experiment '{eid}'"):
                next(pages)
    store.close()
    assert len(asked) == 2  # the first page, then the one that failed: nothing past it


@pytest.mark.parametrize("collecting", [True, False])
def test_the_read_leaves_the_garbage_collector_as_it_found_it(
    served: Served, collecting: bool
) -> None:
    eid = _experiment(served.api)
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        with served.client() as client:
            assert client.experiment_data(eid).rows == 6
            assert gc.isenabled() is collecting
            with pytest.raises(NotFoundError):
                client.experiment_data("nope")
            assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()


def test_reads_at_once_share_one_record_count(served: Served) -> None:
    """A candidate and its baseline on one dataset version, read by two threads: both
    complete, and the dataset's records are listed once."""
    first, second = _experiment(served.api), _experiment(served.api)
    with served.client() as client, ThreadPoolExecutor(2) as pool:
        reads = [pool.submit(client.experiment_data, eid) for eid in (first, second)]
        datas = [r.result() for r in reads]
    assert [d.rows for d in datas] == [6, 6]
    assert [d.info.dataset_id for d in datas] == [datas[0].info.dataset_id] * 2
    assert [d.dataset_records for d in datas] == [3, 3]
    listed = [p for _, p, _ in served.flaky.seen if p.endswith("/records")]
    assert len(listed) == 1


def test_answers_orjson_does_not_read_are_still_read(served: Served) -> None:
    """JSON with a byte-order mark (which some proxies add) is read as before."""
    served.flaky.fail(Fault(200, b'\xef\xbb\xbf{"data": [], "meta": {}}'))
    with served.client() as client:
        assert client.list_experiments() == []


def test_falls_back_to_the_unstable_read_where_v3_is_missing(served: Served) -> None:
    eid = _experiment(served.api)
    served.flaky.match = "/v3/"
    served.flaky.fail(Fault(404, b'{"errors": [{"title": "Not Found"}]}'))
    with served.client() as client:
        data = client.experiment_data(eid)
    assert data.rows == 6
    assert any("/api/unstable/" in path for _, path, _ in served.flaky.seen)


def test_rate_limits_and_server_errors_are_retried(served: Served) -> None:
    eid = _experiment(served.api)
    served.flaky.fail(
        Fault(429, b'{"errors": ["Too many requests"]}', {"Retry-After": "7"}),
        Fault(500),
        Fault(503),
    )
    with served.client() as client:
        info = client.get_experiment(eid)
    assert info.id == eid
    assert served.sleeps[0] == 7.0  # Retry-After honoured
    assert len(served.sleeps) == 3
    assert all(0 < s <= 30 for s in served.sleeps[1:])


def test_ratelimit_reset_header_is_honoured(served: Served) -> None:
    served.flaky.fail(Fault(429, headers={"X-RateLimit-Reset": "3"}))
    with served.client() as client:
        client.list_experiments()
    assert served.sleeps == [3.0]


def test_timeouts_are_retried(served: Served) -> None:
    served.flaky.fail(Fault(200, delay=3))
    with served.client() as client:
        assert client.list_experiments() == []
    assert len(served.sleeps) == 1


def test_gives_up_with_what_it_saw(served: Served) -> None:
    served.flaky.fail(*[Fault(502)] * 5)
    with (
        served.client() as client,
        pytest.raises(BackendError, match=r"after 5 attempts \(last: HTTP 502\)"),
    ):
        client.list_experiments()


def test_other_client_errors_are_not_retried(served: Served) -> None:
    served.flaky.fail(Fault(400, b'{"errors": [{"title": "Bad Request", "detail": "bad filter"}]}'))
    with served.client() as client, pytest.raises(BackendError, match="HTTP 400: bad filter"):
        client.list_experiments()
    assert served.sleeps == []


def test_refused_keys_name_the_variables_and_never_the_key(served: Served) -> None:
    served.flaky.fail(Fault(403, b'{"errors": ["Forbidden"]}'))
    client = served.client(DD_API_KEY="sekret-api", DD_APP_KEY="sekret-app")
    with client, pytest.raises(AuthError) as caught:
        client.list_experiments()
    message = str(caught.value)
    assert "DD_API_KEY" in message
    assert "DD_APP_KEY" in message
    assert "sekret" not in message


def test_datadog_auth_message_names_the_site_and_missing_keys() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"errors": ["Unauthorized"]})

    backend = backend_from_env({"DD_SITE": "datadoghq.eu", "DD_API_KEY": "only-api"})
    client = ExperimentsClient(backend, http=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(AuthError) as caught:
        client.list_experiments()
    message = str(caught.value)
    assert "Datadog (datadoghq.eu)" in message
    assert "DD_APP_KEY not set" in message
    assert "DD_SITE" in message
    assert "only-api" not in message


def test_unknown_experiment_names_the_id(served: Served) -> None:
    with served.client() as client, pytest.raises(NotFoundError, match="'nope' does not exist"):
        client.experiment_data("nope")


def test_garbage_answers_are_explained(served: Served) -> None:
    served.flaky.fail(Fault(200, b"<html>login</html>", content_type="text/html"))
    with served.client() as client, pytest.raises(BackendError, match="not a JSON object"):
        client.list_experiments()


def test_listing_pages_and_filters(served: Served) -> None:
    pid = served.api.project()
    did = served.api.dataset(pid)["id"]
    ids = [
        served.api.experiment(pid, did, "cap", metadata={"tags": [f"git.commit.sha:c{i}"]})["id"]
        for i in range(5)
    ]
    with served.client() as client:
        assert [e.id for e in client.list_experiments(limit=2)] == ids[::-1]
        assert [e.id for e in client.list_experiments(limit=2, max_results=3)] == ids[:1:-1]
        # Every filter pages: a page of 2 is not the answer.
        assert [e.id for e in client.list_experiments(experiment="cap", limit=2)] == ids[::-1]
        tagged = client.list_experiments(metadata={"tags": ["git.commit.sha:c1"]}, limit=1)
        assert [e.id for e in tagged] == [ids[1]]
        found = client.list_experiments(metadata={"tags": ["git.commit.sha:c3"]}, limit=5000)
        assert [e.id for e in found] == [ids[3]]
        assert found[0].commit == "c3"
        assert client.list_experiments(is_deleted=True) == []
        served.api.ok("DELETE", f"/api/v2/llm-obs/v1/experiments/{ids[0]}")
        assert [e.id for e in client.list_experiments(is_deleted=True)] == [ids[0]]
        assert ids[0] not in [e.id for e in client.list_experiments()]


def test_a_store_that_requires_keys(served: Served) -> None:
    store = Store()
    with BackgroundServer(create_app(store, api_key="k1", app_key="k2")) as locked:
        good = ExperimentsClient(
            backend_from_env(
                {"DD_LLMOBS_OVERRIDE_ORIGIN": locked.url, "DD_API_KEY": "k1", "DD_APP_KEY": "k2"}
            )
        )
        assert good.list_experiments() == []
        bad = ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": locked.url}))
        with pytest.raises(AuthError, match="--api-key/--app-key"):
            bad.list_experiments()
    store.close()


def test_values_missing_from_a_row_are_nan(served: Served) -> None:
    api = served.api
    pid = api.project()
    did = api.dataset(pid)["id"]
    eid = api.experiment(pid, did)["id"]
    post_spans(api, [span(eid, "a", "r1"), span(eid, "b", "r2")])
    post_metrics(api, eid, [metric("b", "late", "score", 0.25)])  # only on the second row
    with served.client() as client:
        data = client.experiment_data(eid)
    late = data.evaluators["late"].value
    assert math.isnan(late[0])
    assert late[1] == 0.25
    assert math.isnan(data.total_tokens[0])


def test_backend_describe() -> None:
    assert Backend("http://x", None, None, None).describe() == "the experiments API at http://x"
    assert body("t", a=1) == {"data": {"type": "t", "attributes": {"a": 1}}}


def test_the_records_tags_are_read_by_id_and_canonical_id_whatever_else_the_list_holds() -> None:
    """The records list as a backend may answer it: tags under `attributes`, a canonical id
    beside the id (what a deduplicated record's task spans name), and items that are not
    records, tags that are not strings, pages that follow."""
    pages = [
        {
            "data": [
                {"id": "r1", "attributes": {"tags": ["difficulty:hard", 7, "lang:en"]}},
                {"id": "r2", "attributes": {"canonical_id": "c2", "tags": ["difficulty:easy"]}},
                "not a record",
                {"id": "r3", "attributes": {"tags": "difficulty:hard"}},  # not a list
            ],
            "meta": {"after": "next"},
        },
        {"data": [{"id": "r4"}, {"attributes": {"tags": ["orphan:yes"]}}], "meta": {}},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[1 if "page%5Bcursor%5D" in str(request.url) else 0])

    backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": "http://store.invalid"})
    client = ExperimentsClient(backend, http=httpx.Client(transport=httpx.MockTransport(answer)))
    records = client.dataset_records("p", "d", 3)
    assert records.count == 6
    assert records.tags == {
        "r1": ("difficulty:hard", "lang:en"),
        "r2": ("difficulty:easy",),
        "c2": ("difficulty:easy",),
        "r3": (),
        "r4": (),
    }
    assert client.dataset_records("p", "d", 3) is records  # read once per version
