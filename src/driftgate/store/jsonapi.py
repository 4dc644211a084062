"""What the store answers: the store's typed rows as JSON:API resources
(`{"id", "type", "attributes"}`), and the page cursors and limits of its listings.

Pure: no I/O. The order of keys in each resource is the order clients have always seen.
A cursor is the base64 of the JSON list of the last row's key; it is opaque to clients.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from driftgate.store.core import INT64_MAX, INT64_MIN, field_names
from driftgate.store.datasets import Dataset, Record, RecordAck
from driftgate.store.errors import BadRequest
from driftgate.store.events import EventsPage, SpanKey
from driftgate.store.experiments import Experiment
from driftgate.store.projects import Project

MAX_PAGE_LIMIT = 5000

# -- resources ------------------------------------------------------------------------------


# The JSON:API type of each row, as Datadog names it (an acknowledged record answers as a
# dataset).
_TYPES: dict[type, str] = {
    Project: "projects",
    Dataset: "datasets",
    Record: "dataset_records",
    RecordAck: "datasets",
    Experiment: "experiments",
}


def resource(row: Project | Dataset | Record | RecordAck | Experiment) -> dict[str, Any]:
    """A typed row as a resource: its `id`, and every other field as an attribute, in the
    row's declared order (which is the order clients have always seen)."""
    attributes = {name: getattr(row, name) for name in field_names(type(row)) if name != "id"}
    return {"id": row.id, "type": _TYPES[type(row)], "attributes": attributes}


def experiment_events(
    experiment_id: str, page: EventsPage, meta: dict[str, Any] | None = None
) -> list[bytes]:
    """The events answer, `{"data": ..., "meta": meta}` (no `meta` when None), as JSON: the
    pieces it is the concatenation of. The largest answer the store gives (every span and
    evaluation of an experiment): it is made of the spans as the store answers them, never
    decoded and encoded again, and sent piece by piece, never joined in one copy."""
    out = [
        b'{"data":{"id":',
        orjson.dumps(experiment_id),
        b',"type":"experiment_events","attributes":{"spans":[',
    ]
    for i, spans in enumerate(page.spans):
        out += [b",", spans] if i else [spans]
    out += [b'],"summary_metrics":[', b",".join(page.summaries), b"]}}"]
    if meta is not None:
        out += [b',"meta":', orjson.dumps(meta)]
    out.append(b"}")
    return out


# -- paging ---------------------------------------------------------------------------------


def clamp_limit(raw: str | None, default: int) -> int:
    """`page[limit]`: `default` when absent, refused below 1, at most MAX_PAGE_LIMIT."""
    if raw is None or raw == "":
        return default
    limit = int_param("page[limit]", raw, clamp=True)
    if limit < 1:
        raise BadRequest(f"page[limit] must be at least 1, got {limit}")
    return min(limit, MAX_PAGE_LIMIT)


def int_param(name: str, raw: str, *, clamp: bool = False) -> int:
    """A query parameter that must be an integer: an optional `-` and ASCII digits (str's
    isdigit() takes "²", which int() refuses, and int() takes "١" and " 1"). Outside SQLite's
    64-bit range it is refused, or clamped to that range when `clamp`."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()):
        raise BadRequest(f"{name} must be an integer, got {raw!r}")
    value = int(raw)
    if clamp:
        return max(INT64_MIN, min(value, INT64_MAX))
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadRequest(f"{name} must be between {INT64_MIN} and {INT64_MAX}, got {raw}")
    return value


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
    # Within SQLite's INTEGER too: a larger key fails the query rather than matching nothing.
    return (
        isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    )


def _foreign(cursor: str) -> BadRequest:
    return BadRequest(f"page[cursor] {cursor!r} does not belong to this listing")
