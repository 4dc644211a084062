"""The store's read-only pages: its experiments listed, and one experiment's records searched
with Datadog's query language, so that a report's link to an embedded-store experiment opens
something without Datadog.

An experiment is read the way the gate reads it: the store's own events answer (the bytes
`GET .../events` sends) decoded by the client's decoder into an `ExperimentData`, with its
dataset's record tags from the store's records read, and searched with `driftgate.query`. A
page therefore shows what a gate or `driftgate records` would compare and select, never a
second reading of the spans. This module is the one place in the store that imports from the
gate's side (experiments' decoding, the query language): `app.py` imports it when a page is
first asked for, so serving the API never loads numpy.

Everything shown comes from what scripts posted: every value is HTML-escaped (Jinja2's
autoescape), and the answer forbids scripts and outside resources (Content-Security-Policy)
in case one ever was not.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import orjson

from driftgate.experiments import event_pages
from driftgate.experiments.events import ExperimentDataBuilder
from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    record_tags_by_key,
)
from driftgate.query import QueryError, parse, select
from driftgate.store import jsonapi
from driftgate.store.db import Store
from driftgate.store.errors import NotFound
from driftgate.store.experiments import Experiment, ExperimentFilter

PREFIX = "/ui/experiments"
ROWS_SHOWN = 1000
"""Rows a page shows at most (an experiment of 50,000 rows is searched whole, then cut into
pages of this many: `?page=2` the next)."""
_LISTED = 200
_RECORDS_PAGE = 5000
_TEXT = 300  # characters of an input or output cell

HEADERS = {
    # Hostile text stays text; should an escape ever be missed, nothing runs and nothing is
    # fetched: no script, no image, no frame, no form sent elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def experiment_path(experiment_id: str) -> str:
    """The page of one experiment, under the store's address."""
    return f"{PREFIX}/{experiment_id}"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


# -- the list -------------------------------------------------------------------------------


def experiments_page(store: Store) -> str:
    """The newest experiments, newest first."""
    page = store.experiments.find(ExperimentFilter(), None, _LISTED)
    rows = [
        {
            "id": e.id,
            "path": experiment_path(e.id),
            "name": e.name,
            "commit": (_info(e).commit or "")[:12],
            "branch": _info(e).branch or "",
            "status": e.status,
            "runs": e.run_count,
            "records": _record_count(e),
            "created_at": e.created_at,
        }
        for e in page.rows
    ]
    return _render("experiments.html.j2", rows=rows, more=page.next_after is not None)


def _record_count(e: Experiment) -> str:
    """The records its custom evaluations covered, from the aggregate the store keeps for a
    finished experiment (no events are read to list); empty before it finished."""
    custom = ((e.aggregate_data or {}).get("evaluations") or {}).get("custom") or {}
    counts = [
        c
        for v in custom.values()
        if isinstance(v, dict) and isinstance(c := v.get("record_count"), int)
    ]
    return str(max(counts)) if counts else ""


# -- one experiment -------------------------------------------------------------------------


def experiment_page(
    store: Store, experiment_id: str, query: str, page: str = ""
) -> tuple[int, str]:
    """One experiment's rows (those `query` selects; page `page` of them, `ROWS_SHOWN` a
    page, the first when empty), its summary evaluations; the status and the page. A query
    that cannot be read or evaluated is shown with its column and a caret (400), as is a
    page that is not a whole number from 1; an unknown experiment is a 404 page. A page past
    the last shows the last."""
    number = _page_number(page)
    if number is None:
        detail = f"page {page[:40]!r}: expected a whole number from 1 (the first page)"
        return 400, _render("missing.html.j2", heading="Bad request", detail=detail)
    try:
        data = experiment_data(store, experiment_id)
    except NotFound as exc:
        return 404, _render("missing.html.j2", heading="Not found", detail=exc.detail)
    error: QueryError | None = None
    shown = list(range(data.rows))
    matched_records: int | None = None
    multi_run = False
    if query.strip():
        try:
            selection = select(parse(query), data, data.record_tags)
        except QueryError as exc:
            error, shown = exc, []
        else:
            shown = [int(i) for i in selection.rows]
            matched_records, multi_run = len(selection.records), selection.multi_run
    labels = sorted(data.evaluators)
    pages = max(1, math.ceil(len(shown) / ROWS_SHOWN))
    number = min(number, pages)
    start = (number - 1) * ROWS_SHOWN
    rows = [_row(data, i, labels) for i in shown[start : start + ROWS_SHOWN]]
    info = data.info
    page = _render(
        "experiment.html.j2",
        info=info,
        commit=info.commit or "",
        branch=info.branch or "",
        runs=sorted({int(r) for r in data.run_iteration}),
        labels=labels,
        rows=rows,
        matched=len(shown),
        matched_records=matched_records,
        multi_run=multi_run,
        total=data.rows,
        limit=ROWS_SHOWN,
        page=number,
        pages=pages,
        first=start + 1,
        last=start + len(rows),
        previous=_page_link(query, number - 1) if number > 1 else None,
        following=_page_link(query, number + 1) if number < pages else None,
        query=query,
        error=error,
        caret=" " * (error.column - 1) + "^" if error else "",
        shown_query=_printable(query),
        summaries=data.summaries,
        notes=data.notes,
        back=PREFIX,
    )
    return (400 if error else 200), page


def _page_number(text: str) -> int | None:
    if not text.strip():
        return 1
    if not text.strip().isdecimal() or len(text.strip()) > 9:
        return None
    number = int(text)
    return number if number >= 1 else None


def _page_link(query: str, number: int) -> str:
    """The same search's page `number`, relative to the page (escaped where printed)."""
    params = {"q": query, "page": str(number)} if query.strip() else {"page": str(number)}
    return "?" + urlencode(params)


def experiment_data(store: Store, experiment_id: str) -> ExperimentData:
    """The experiment as the gate reads it: the store's events answer, decoded by the gate's
    decoder into columns, with each row's dataset record tags (NotFound: no such live
    experiment)."""
    found = store.experiments.find(ExperimentFilter(ids=[experiment_id]), None, 1).rows
    if not found:
        raise NotFound(f"experiment {experiment_id!r} not found")
    info = _info(found[0])
    body = b"".join(jsonapi.experiment_events(experiment_id, store.events.read(experiment_id)))
    page = event_pages.decode(body) or event_pages.from_object(orjson.loads(body))
    builder = ExperimentDataBuilder(info)
    builder.add_page(page)
    data = builder.build()
    tags = _record_tags(store, info)
    return data if tags is None else data.with_record_tags(tags)


def _info(e: Experiment) -> ExperimentInfo:
    resource = jsonapi.resource(e)
    return ExperimentInfo.model_validate({**resource["attributes"], "id": resource["id"]})


def _record_tags(store: Store, info: ExperimentInfo) -> dict[str, tuple[str, ...]] | None:
    """Each record's tags by id and canonical id, from the records of the dataset version the
    experiment ran on (as the client reads them); None when that dataset is gone."""
    if not info.project_id or not info.dataset_id:
        return None
    fields: list[tuple[Any, Any, Any]] = []
    after = None
    while True:
        try:
            page = store.datasets.records(
                info.project_id, info.dataset_id, info.dataset_version, (), after, _RECORDS_PAGE
            )
        except NotFound:
            return None
        fields += [(record.id, record.canonical_id, record.tags) for record in page.rows]
        if page.next_after is None:
            return record_tags_by_key(fields)
        after = page.next_after


def _row(data: ExperimentData, i: int, labels: list[str]) -> dict[str, Any]:
    tags = data.record_tags[i] if data.record_tags is not None else ()
    return {
        "record": data.record_key[i],
        "tags": " ".join(tags),
        "run": int(data.run_iteration[i]),
        "input": _cut(data.input_text[i]),
        "output": _cut(data.output_text[i]),
        "evaluations": [_evaluation(data.evaluators[label], i) for label in labels],
        "tokens": _number(float(data.total_tokens[i])),
        "duration": _duration(float(data.duration_ns[i])),
        "error": data.error_message[i] or ("error" if data.task_error[i] else ""),
    }


def _evaluation(column: EvaluatorColumn, i: int) -> str:
    if column.errored[i]:
        return "error"
    if column.category is not None and column.category[i] is not None:
        return str(column.category[i])
    value = float(column.value[i])
    if math.isnan(value):
        return "-"
    if column.metric_type == "boolean":
        return "true" if value else "false"
    return f"{value:.4g}"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _duration(ns: float) -> str:
    if math.isnan(ns):
        return "-"
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= size:
            return f"{ns / size:.3g} {unit}"
    return f"{ns:.0f} ns"


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT else text[: _TEXT - 1] + "…"


def _printable(text: str) -> str:
    """The query with control characters as spaces, so that the caret stays under its
    column (as `QueryError.render` shows it)."""
    return "".join(c if c.isprintable() else " " for c in text)
