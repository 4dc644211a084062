"""Events pages as the client decodes them: the typed decoding and the plain-JSON fallback
read the same page the same way, whatever a backend puts in it."""

from __future__ import annotations

import math
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.errors import BackendError
from driftgate.experiments import event_pages
from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.experiments.event_pages import Page
from driftgate.experiments.events import ExperimentDataBuilder
from driftgate.experiments.models import ExperimentInfo

EID = "e1"


def _page(spans: Any, summaries: Any = (), after: Any = None) -> dict[str, Any]:
    meta = {} if after is None else {"after": after}
    return {
        "data": {
            "id": EID,
            "type": "experiment_events",
            "attributes": {"spans": spans, "summary_metrics": list(summaries)},
        },
        "meta": meta,
    }


def _task(record: str, run: int = 1, **extra: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "span_id": f"s-{record}-{run}",
        "trace_id": f"t-{record}-{run}",
        "parent_id": "undefined",
        "name": "task",
        "status": "ok",
        "duration": 1000,
        "tags": [f"run_iteration:{run}", f"dataset_record_id:{record}", "experiment_id:e1"],
        "meta": {"input": {"q": record}, "output": record.upper(), "expected_output": "X"},
        "metrics": {"total_tokens": 7},
        "eval_metrics": [
            {"label": "ok", "metric_type": "boolean", "boolean_value": True, "timestamp_ms": 1},
            {"label": "s", "metric_type": "score", "score_value": 0.5, "timestamp_ms": 1},
        ],
    }
    span.update(extra)
    return span


def _both(page: dict[str, Any]) -> tuple[Page | None, Page]:
    body = orjson.dumps(page)
    return event_pages.decode(body), event_pages.from_object(orjson.loads(body))


def _data(page: Page) -> Any:
    builder = ExperimentDataBuilder(ExperimentInfo(id=EID))
    builder.add_page(page)
    return builder.build()


def test_a_page_as_datadog_answers_it_decodes_typed_and_skips_what_is_not_read() -> None:
    typed, plain = _both(_page([_task("a"), _task("b")], after="next"))
    assert typed is not None
    assert typed == plain
    assert typed.after == "next"
    first = typed.spans[0]
    assert first.tags[1] == "dataset_record_id:a"
    assert first.eval_metrics is not None
    assert first.eval_metrics[1].score_value == 0.5
    assert not hasattr(first, "name")  # never read: never built


def test_the_last_page_has_no_cursor() -> None:
    for meta in ({}, {"after": ""}, {"after": None}, {"after": 7}, None, []):
        page = _page([_task("a")])
        page["meta"] = meta
        typed, plain = _both(page)
        assert typed is not None
        assert typed.after is None
        assert plain.after is None


@pytest.mark.parametrize(
    "spans",
    [
        [_task("a"), "not a span", 7, None, _task("b")],
        [_task("a", eval_metrics=[{"label": "ok", "boolean_value": True}, "x", None, 3])],
        [_task("a", eval_metrics={"label": "ok"})],
    ],
    ids=["spans-that-are-not-objects", "evaluations-that-are-not-objects", "evaluations-object"],
)
def test_odd_nesting_is_read_as_plain_json_and_loses_only_what_is_not_an_object(
    spans: list[Any],
) -> None:
    typed, plain = _both(_page(spans))
    assert typed is None  # not the expected nesting: the caller falls back
    assert [s.span_id for s in plain.spans] == [s["span_id"] for s in spans if isinstance(s, dict)]
    data = _data(plain)
    assert data.rows == len(plain.spans)


def test_values_of_unexpected_types_reach_the_builder_which_reads_them_tolerantly() -> None:
    odd = _task(
        "a",
        tags="run_iteration:2",  # not a list
        meta=["not", "an", "object"],
        metrics={"total_tokens": "7"},
        duration="long",
        eval_metrics=[
            {"label": "ok", "metric_type": "boolean", "boolean_value": "yes"},
            {"label": 5, "metric_type": None, "score_value": True},
            {"label": "", "score_value": 1.0},
        ],
    )
    typed, plain = _both(_page([odd, _task("b")]))
    assert typed is not None
    assert typed == plain
    data = _data(typed)
    assert data.rows == 2
    assert data.record_key[0] == "s-a-1"  # no usable tags: the span id
    assert math.isnan(data.duration_ns[0])
    assert math.isnan(data.total_tokens[0])
    assert data.input_text[0] == ""
    assert math.isnan(data.evaluators["ok"].value[0])  # "yes" is not a boolean
    assert math.isnan(data.evaluators["5"].value[0])  # True is not a score
    assert data.evaluators["ok"].value[1] == 1.0


def test_no_attributes_is_not_a_page() -> None:
    for page in ({"data": {}}, {"data": []}, {"data": {"attributes": []}}, {"errors": []}):
        assert event_pages.decode(orjson.dumps(page)) is None
        with pytest.raises(event_pages.NotAPage):
            event_pages.from_object(page)


def _client(answer: httpx.Response) -> ExperimentsClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer

    backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": "http://store.invalid"})
    return ExperimentsClient(backend, http=httpx.Client(transport=httpx.MockTransport(handler)))


def test_the_client_reads_an_answer_msgspec_does_not_and_explains_one_that_is_no_page() -> None:
    # JSON in UTF-16 with a byte order mark: valid JSON (RFC 8259 readers may take it), not
    # UTF-8; the plain parser reads it.
    utf16 = orjson.dumps(_page([_task("a")])).decode().encode("utf-16")
    with _client(httpx.Response(200, content=utf16)) as client:
        (page,) = client.iter_event_pages(EID)
    assert [s.span_id for s in page.spans] == ["s-a-1"]
    with (
        _client(httpx.Response(200, json={"data": {"type": "x"}})) as client,
        pytest.raises(BackendError, match=r"without data\.attributes; is http://store\.invalid"),
    ):
        list(client.iter_event_pages(EID))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_evaluation = st.fixed_dictionaries(
    {},
    optional={
        key: _json
        for key in ("label", "metric_type", "score_value", "boolean_value", "timestamp_ms")
    }
    | {"label": st.sampled_from(["ok", "s", ""]) | _json, "tags": _json, "span_id": _json},
)
_span = st.fixed_dictionaries(
    {},
    optional={
        key: _json
        for key in ("span_id", "parent_id", "trace_id", "status", "duration", "meta", "metrics")
    }
    | {
        "tags": st.lists(st.sampled_from(["run_iteration:2", "dataset_record_id:r"]) | _json),
        "eval_metrics": st.none() | st.lists(_evaluation | _json, max_size=3) | _json,
        "name": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(_span | _json, max_size=4), summaries=st.lists(_json, max_size=2))
def test_typed_and_plain_read_any_page_alike(spans: list[Any], summaries: list[Any]) -> None:
    try:
        body = orjson.dumps(_page(spans, summaries))
    except orjson.JSONEncodeError:  # a float orjson cannot write (NaN is written as null)
        return
    typed = event_pages.decode(body)
    plain = event_pages.from_object(orjson.loads(body))
    if typed is not None:
        assert typed == plain
    # Whatever was read builds columns without an exception.
    assert _data(plain).rows <= len(plain.spans)
