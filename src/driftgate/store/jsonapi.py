"""What the store answers: the store's typed rows as JSON:API resources
(`{"id", "type", "attributes"}`), and the page cursors and limits of its listings.

Pure: no I/O. The order of keys in each resource is the order clients have always seen.
A cursor is the base64 of the JSON list of the last row's key; it is opaque to clients.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from driftgate.store.datasets import Dataset, Record, RecordAck
from driftgate.store.errors import BadRequest
from driftgate.store.events import Evaluation, EventsPage, SpanKey, TaskSpan
from driftgate.store.experiments import Experiment
from driftgate.store.projects import Project

MAX_PAGE_LIMIT = 5000

# -- resources ------------------------------------------------------------------------------


def project(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "type": "projects",
        "attributes": {
            "name": p.name,
            "description": p.description,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        },
    }


def dataset(d: Dataset) -> dict[str, Any]:
    return {
        "id": d.id,
        "type": "datasets",
        "attributes": {
            "project_id": d.project_id,
            "name": d.name,
            "description": d.description,
            "current_version": d.current_version,
            "created_at": d.created_at,
            "updated_at": d.updated_at,
        },
    }


def record(r: Record) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": "dataset_records",
        "attributes": {
            "dataset_id": r.dataset_id,
            "canonical_id": r.canonical_id,
            "input": r.input,
            "expected_output": r.expected_output,
            "metadata": r.metadata,
            "tags": r.tags,
            "version": r.version,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        },
    }


def record_ack(a: RecordAck) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": "datasets",
        "attributes": {"version": a.version, "canonical_id": a.canonical_id},
    }


def experiment(e: Experiment) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": "experiments",
        "attributes": {
            "name": e.name,
            "experiment": e.experiment,
            "project_id": e.project_id,
            "dataset_id": e.dataset_id,
            "dataset_version": e.dataset_version,
            "description": e.description,
            "config": e.config,
            "metadata": e.metadata,
            "run_count": e.run_count,
            "parent_experiment_id": e.parent_experiment_id,
            "status": e.status,
            "error": e.error,
            "is_deleted": e.is_deleted,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
            "aggregate_data": e.aggregate_data,
        },
    }


def experiment_events(experiment_id: str, page: EventsPage) -> dict[str, Any]:
    return {
        "id": experiment_id,
        "type": "experiment_events",
        "attributes": {
            "spans": [_task_span(s) for s in page.spans],
            "summary_metrics": [_evaluation(m) for m in page.summaries],
        },
    }


def _task_span(span: TaskSpan) -> dict[str, Any]:
    body = span.body
    meta = dict(body.get("meta") or {})
    meta.setdefault("error", {})
    if meta["error"] is None:
        meta["error"] = {}
    return {
        "span_id": span.span_id,
        "trace_id": span.trace_id,
        "name": body.get("name", "task"),
        "start_ns": body.get("start_ns", 0),
        "duration": body.get("duration", 0),
        "status": body.get("status", "ok"),
        "tags": body.get("tags") or [],
        "meta": meta,
        # The trace's sums replace the task span's own, so per-record usage needs no second
        # request.
        "metrics": {**(body.get("metrics") or {}), **span.usage},
        "eval_metrics": [_evaluation(m) for m in span.evaluations],
    }


def _evaluation(e: Evaluation) -> dict[str, Any]:
    metric = dict(e.body)
    metric["run_iteration"] = e.run_iteration
    if e.run_id:
        metric["run_id"] = e.run_id
    return metric


# -- paging ---------------------------------------------------------------------------------


def clamp_limit(raw: str | None, default: int) -> int:
    """`page[limit]`: `default` when absent, refused below 1, at most MAX_PAGE_LIMIT."""
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError as exc:
        raise BadRequest(f"page[limit] must be an integer, got {raw!r}") from exc
    if limit < 1:
        raise BadRequest(f"page[limit] must be at least 1, got {limit}")
    return min(limit, MAX_PAGE_LIMIT)


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            f"page[cursor] {cursor!r} is not a cursor this store issued; pass meta.after "
            "from the previous page unchanged"
        ) from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise _foreign(cursor)
    return parts


def seq_cursor(seq: int | None) -> str | None:
    """The cursor of the records or experiments page after the row with sequence `seq`."""
    return None if seq is None else encode_cursor(seq)


def span_cursor(key: SpanKey | None) -> str | None:
    """The cursor of the events page after the task span with that key."""
    return None if key is None else encode_cursor(*key)


def seq_after(cursor: str | None) -> int | None:
    """The key of a records or experiments cursor (a row's sequence number); None when
    there is no cursor."""
    if not cursor:
        return None
    (seq,) = decode_cursor(cursor, 1)
    if not _is_int(seq):
        raise _foreign(cursor)
    return int(seq)


def span_after(cursor: str | None) -> SpanKey | None:
    """The key of an events cursor; None when there is no cursor."""
    if not cursor:
        return None
    run, start, span_id = decode_cursor(cursor, 3)
    if not (_is_int(run) and _is_int(start) and isinstance(span_id, str)):
        raise _foreign(cursor)
    return int(run), int(start), span_id


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _foreign(cursor: str) -> BadRequest:
    return BadRequest(f"page[cursor] {cursor!r} does not belong to this listing")
