"""An experiment's events: the spans ddtrace sends, the evaluation metrics posted for them,
reading both back, and `aggregate_data` computed from them. Touches the `spans`, `span_evals`
and `metrics` tables, and of `experiments` only the aggregate columns (and whether a row
exists).

Spans and metrics are kept as posted (`body`); the columns beside them are what the store
indexes, sums and pages by, and how each task span and evaluation is answered (`answer`),
rendered once when it is stored. A task span's `metrics` with its trace's usage
(`answer_usage`) and its evaluations (`span_evals`) are kept as answered too, rendered again
by each write that changes them: an events page is then stored bytes joined by SQLite in one
statement, with nothing summed, looked up or decoded at the read (30,000 task spans took
2.8 s in 0.1, 0.7 s of SQL with the answers alone kept, 0.12 s now).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from driftgate.llmobs import FINISHED, tag_value
from driftgate.store.aggregate import EvalRow, SummaryRow, aggregate
from driftgate.store.core import INT64_MAX, INT64_MIN, Database, dump_body, dumps, loads
from driftgate.store.errors import NotFound

# (run_iteration, start_ns, span_id): the order task spans are read in, and the paging key.
SpanKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class EventsPage:
    spans: list[bytes]
    """The task spans (one per record and run) as answered, with their evaluations: JSON
    objects joined by commas, a value per page read."""
    summaries: list[bytes]  # the summary evaluations as answered, on the first page only
    next_after: SpanKey | None  # the key to read on from, when more task spans follow


_SPAN_TAGS = frozenset({"experiment_id", "dataset_record_id", "run_iteration"})

# Trace sums, by the span metric each one is answered under.
_USAGE = ("input_tokens", "output_tokens", "total_tokens", "estimated_total_cost")


def span_answer(span_id: str, trace_id: str, span: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """How a task span stored from `span` (as posted) is answered, but for its `metrics`
    (which the trace's usage completes when read) and `eval_metrics`: that object, and the
    span's own `metrics`. The members and their order are those clients have always seen;
    `meta.error` is `{}` when there is none, as Datadog answers it."""
    meta = span.get("meta") or {}
    if meta.get("error") is None:
        meta = {**meta, "error": {}}
    answer = {
        "span_id": span_id,
        "trace_id": trace_id,
        "name": span.get("name", "task"),
        "start_ns": span.get("start_ns", 0),
        "duration": span.get("duration", 0),
        "status": span.get("status", "ok"),
        "tags": span.get("tags") or [],
        "meta": meta,
    }
    return dump_body(answer), dump_body(span.get("metrics") or {})


def evaluation_answer(metric: Mapping[str, Any], run_iteration: int, run_id: str | None) -> bytes:
    """How an evaluation stored from `metric` is answered: as posted, with the run it was
    stored under."""
    answer = {**metric, "run_iteration": run_iteration}
    if run_id:
        answer["run_id"] = run_id
    return dump_body(answer)


def spliced_answer(body: bytes, run_id: str | None) -> bool:
    """Whether the answer of the evaluation stored as `body` is its body with the run
    appended as text, which SQLite does when reading (`_EVALUATION`), so that nothing more is
    kept for it; else (a body that has a member of that name, a run id that JSON escapes)
    the answer is rendered and kept when it is stored."""
    return (
        len(body) > 2
        and b'"run_iteration"' not in body
        and b'"run_id"' not in body
        and (not run_id or _PLAIN.fullmatch(run_id) is not None)
    )


# A string JSON writes as it is, between quotes.
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
# An evaluation as answered: kept (`answer`), or its body with the run appended.
_EVALUATION = (
    "COALESCE(m.answer, substr(m.body, 1, length(m.body) - 1) || ',\"run_iteration\":' || "
    "m.run_iteration || CASE WHEN m.run_id IS NULL OR m.run_id = '' THEN '' "
    "ELSE ',\"run_id\":\"' || m.run_id || '\"' END || '}')"
)


class Events:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_metrics(
        self,
        experiment_id: str,
        metrics: Sequence[dict[str, Any]],
        request_tags: Sequence[str],
    ) -> None:
        """Store evaluation metrics (as ddtrace posts them, `span_id` and `metric_source`
        normalised). The run comes from the metric's tags, else the request's, else 1."""
        req_iteration = tag_value(request_tags, "run_iteration")
        req_run_id = tag_value(request_tags, "run_id")
        rows = []
        for m in metrics:
            tags = m.get("tags") or []
            iteration = _int(tag_value(tags, "run_iteration") or req_iteration or "1", 1)
            run_id = tag_value(tags, "run_id") or req_run_id
            metric_type = m["metric_type"]
            value = m.get(f"{metric_type}_value")
            error = m.get("error")
            rows.append(
                (
                    experiment_id,
                    m.get("metric_source") or "custom",
                    str(m.get("span_id") or ""),
                    m["label"],
                    iteration,
                    run_id,
                    metric_type,
                    int(m.get("timestamp_ms") or 0),
                    None if value is None else dumps(value),
                    m.get("assessment"),
                    1 if error else 0,
                    body := dump_body(m),
                    None
                    if spliced_answer(body, run_id)
                    else evaluation_answer(m, iteration, run_id),
                )
            )
        with self._db.tx() as conn:
            _require_experiment(conn, experiment_id)
            # A metric re-posted for the same span and label replaces the older one, as
            # Datadog's readers keep the latest `timestamp_ms`.
            conn.executemany(
                "INSERT INTO metrics (experiment_id, source, span_id, label, run_iteration, "
                "run_id, metric_type, timestamp_ms, value, assessment, has_error, body, answer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, source, span_id, label, run_iteration) DO UPDATE SET "
                "run_id = excluded.run_id, metric_type = excluded.metric_type, "
                "timestamp_ms = excluded.timestamp_ms, value = excluded.value, "
                "assessment = excluded.assessment, has_error = excluded.has_error, "
                "body = excluded.body, answer = excluded.answer "
                "WHERE excluded.timestamp_ms >= metrics.timestamp_ms",
                rows,
            )
            # The task spans they evaluate are answered with them (a span not yet posted is
            # rendered when it comes).
            conn.executemany(
                _RENDER_EVALS.replace("<where>", "p.experiment_id = ? AND p.span_id = ?"),
                {(experiment_id, r[2]) for r in rows if r[1] == "custom"},
            )
            _mark_stale(conn, {experiment_id})

    def add_spans(self, spans: Sequence[dict[str, Any]]) -> int:
        """Store the spans that belong to an experiment (tag `experiment_id:`); others are
        ordinary LLM Observability traffic and are not kept. Answers how many were kept."""
        rows = []
        for s in spans:
            found = _span_tags(s.get("tags") or [])
            experiment_id = found.get("experiment_id")
            if not experiment_id:
                continue
            meta = s.get("meta") or {}
            about = meta.get("span") if isinstance(meta, dict) else None
            kind = about.get("kind") if isinstance(about, dict) else None
            parent = s.get("parent_id")
            is_root = kind == "experiment" or parent in (None, "", "undefined", "0")
            m = s.get("metrics") or {}
            tok_in = _num(m.get("input_tokens"))
            tok_out = _num(m.get("output_tokens"))
            tok_total = _num(m.get("total_tokens"))
            if tok_total is None and (tok_in is not None or tok_out is not None):
                tok_total = (tok_in or 0.0) + (tok_out or 0.0)
            cost = _num(m.get("estimated_total_cost"))
            cost_in, cost_out = (
                _num(m.get("estimated_input_cost")),
                _num(m.get("estimated_output_cost")),
            )
            if cost is None and (cost_in is not None or cost_out is not None):
                cost = (cost_in or 0.0) + (cost_out or 0.0)
            span_id, trace_id = str(s["span_id"]), str(s.get("trace_id") or "")
            # Only task spans are answered; the others are read for their usage alone.
            answer, answer_metrics = span_answer(span_id, trace_id, s) if is_root else (None, None)
            rows.append(
                (
                    experiment_id,
                    span_id,
                    trace_id,
                    1 if is_root else 0,
                    found.get("dataset_record_id"),
                    _int(found.get("run_iteration"), 1),
                    _int(s.get("start_ns"), 0),
                    _int(s.get("duration"), 0),
                    1 if s.get("status") == "error" else 0,
                    tok_in,
                    tok_out,
                    tok_total,
                    cost,
                    dump_body(s),
                    answer,
                    answer_metrics,
                )
            )
        if not rows:
            return 0
        posted = {(r[0], r[1]) for r in rows}
        tasks = {(r[0], r[1]) for r in rows if r[3]}
        with self._db.tx() as conn:
            # The traces whose usage changes: those the spans join, and any a re-posted span
            # leaves.
            conn.execute(_TRACES)
            conn.executemany(
                "INSERT OR IGNORE INTO temp.traces SELECT experiment_id, trace_id FROM spans "
                "WHERE experiment_id = ? AND span_id = ?",
                posted,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO temp.traces VALUES (?, ?)", {(r[0], r[2]) for r in rows}
            )
            conn.executemany(
                "INSERT INTO spans (experiment_id, span_id, trace_id, is_root, record_id, "
                "run_iteration, start_ns, duration, is_error, input_tokens, output_tokens, "
                "total_tokens, cost, body, answer, answer_metrics) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, span_id) DO UPDATE SET trace_id = excluded.trace_id, "
                "is_root = excluded.is_root, record_id = excluded.record_id, "
                "run_iteration = excluded.run_iteration, start_ns = excluded.start_ns, "
                "duration = excluded.duration, is_error = excluded.is_error, "
                "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
                "total_tokens = excluded.total_tokens, cost = excluded.cost, body = excluded.body, "
                "answer = excluded.answer, answer_metrics = excluded.answer_metrics, "
                "answer_usage = NULL",
                rows,
            )
            render_usage(
                conn,
                "(p.experiment_id, p.trace_id) IN (SELECT experiment_id, trace_id FROM "
                "temp.traces)",
            )
            # Evaluations that came before their task span.
            conn.executemany(
                _RENDER_EVALS.replace("<where>", "p.experiment_id = ? AND p.span_id = ?"), tasks
            )
            conn.execute("DELETE FROM temp.traces")
            _mark_stale(conn, {r[0] for r in rows})
        return len(rows)

    def read(
        self, experiment_id: str, after: SpanKey | None = None, limit: int | None = None
    ) -> EventsPage:
        """Task spans with their evaluations (and their trace's token and cost totals), plus
        the summary evaluations; all runs, ordered by run then start time. Without `limit`,
        every task span."""
        with self._db.read() as conn:
            _require_experiment(conn, experiment_id)
            cursor = conn.cursor()
            cursor.row_factory = None
            spans: list[bytes] = []
            key = after
            while True:
                # Without a limit, in pages of their own: one page is one SQLite value.
                size = limit if limit is not None else _READ_PAGE
                page, next_after = _page(cursor, experiment_id, key, size)
                if page is not None:
                    spans.append(page)
                if limit is not None or next_after is None:
                    break
                key = next_after
            summaries = []
            if after is None:
                summaries = [
                    row[0]
                    for row in cursor.execute(
                        f"SELECT CAST({_EVALUATION} AS BLOB) FROM metrics m WHERE "
                        "experiment_id = ? AND source = 'summary' ORDER BY run_iteration, label",
                        (experiment_id,),
                    )
                ]
            return EventsPage(spans, summaries, next_after if limit is not None else None)


_READ_PAGE = 5000
# The traces (experiment, trace id) whose task spans a write renders again: a table of the
# writing connection's own, emptied by each write.
_TRACES = (
    "CREATE TEMP TABLE IF NOT EXISTS traces (experiment_id TEXT NOT NULL, "
    "trace_id TEXT NOT NULL, PRIMARY KEY (experiment_id, trace_id)) WITHOUT ROWID"
)
_ROOTS = "experiment_id = :eid AND is_root = 1"
_AFTER = " AND (run_iteration, start_ns, span_id) > (:run, :start, :span)"
_ORDER = " ORDER BY run_iteration, start_ns, span_id"


def _number(column: str) -> str:
    # `%!.17g`: enough digits that the float read back is the one summed.
    return f"CASE WHEN {column} IS NULL THEN '' ELSE printf('%!.17g', {column}) END"


def _member(name: str, column: str) -> str:
    return (
        f"CASE WHEN {column} IS NULL THEN '' ELSE ',\"{name}\":' || CAST({column} AS INTEGER) END"
    )


def _whole_sql(column: str) -> str:
    return f"({column} IS NULL OR {column} = CAST({column} AS INTEGER))"


def _sums(span: str) -> str:
    """The token and cost sums over the trace of the task span `span` (a table alias of
    `spans`), added in the order of the covering index `spans_usage`."""
    return (
        "SELECT SUM(u.input_tokens) AS i, SUM(u.output_tokens) AS o, SUM(u.total_tokens) AS t, "
        "SUM(u.cost) AS c FROM spans u "
        f"WHERE u.experiment_id = {span}.experiment_id AND u.trace_id = {span}.trace_id"
    )


# Usage rendered by SQLite when every sum is whole (the usual tokens): the object of the sums
# given, in `_USAGE`'s order, as `_whole` and orjson also write it. Any other sum (a cost)
# is left to Python, whose floats are written as orjson writes them.
_USAGE_JSON = (
    f"(SELECT CASE WHEN {_whole_sql('i')} AND {_whole_sql('o')} AND {_whole_sql('t')} "
    f"AND {_whole_sql('c')} THEN '{{' || substr({_member('input_tokens', 'i')} || "
    f"{_member('output_tokens', 'o')} || {_member('total_tokens', 't')} || "
    f"{_member('estimated_total_cost', 'c')}, 2) || '}}' END FROM ({_sums('p')}))"
)
# The four sums as text between 0x00 bytes ('' for none), for Python (`_merged_usage`).
_USAGE_PARTS = (
    f"(SELECT {_number('i')} || x'00' || {_number('o')} || x'00' || {_number('t')} || x'00' "
    f"|| {_number('c')} FROM ({_sums('p')}))"
)
# A task span's evaluations as answered, joined by commas (in the order of the metrics'
# unique index: by label, then run).
_EVALUATIONS = (
    f"ifnull((SELECT group_concat({_EVALUATION}, ',') FROM metrics m "
    "WHERE m.experiment_id = p.experiment_id AND m.source = 'custom' "
    "AND m.span_id = p.span_id), '')"
)
# A task span's `metrics` as answered, for the task spans `<where>` selects (`p`): its own
# metrics replaced by its trace's sums where some span reported them. SQLite writes the
# object when the span has none of its own or its trace none, and the sums are whole
# (`metrics`); otherwise Python merges the span's own (`own`) with the sums (`parts`). (`own`
# is a BLOB when the span sent metrics, and never equals the TEXT '{}' then: such a span is
# always merged by Python.)
_RENDER_USAGE = (
    "SELECT id, CASE WHEN usage IS NOT NULL AND (own = '{}' OR usage = '{}') THEN "
    "CAST(CASE WHEN usage = '{}' THEN own ELSE usage END AS BLOB) END AS metrics, "
    "CAST(own AS BLOB), CAST(parts AS BLOB) FROM ("
    f"SELECT p.rowid AS id, ifnull(p.answer_metrics, '{{}}') AS own, {_USAGE_JSON} AS usage, "
    # (LIMIT and OFFSET: a subquery of its own, whose sums are made once per span, not once
    # per mention.)
    f"{_USAGE_PARTS} AS parts FROM spans p WHERE p.is_root = 1 AND <where> LIMIT -1 OFFSET 0)"
)
# The evaluations of the task spans `<where>` selects (`p`) as answered, kept in a row
# written whole (one with none is not kept).
_RENDER_EVALS = (
    "INSERT OR REPLACE INTO span_evals (span, evals) SELECT id, evals FROM ("
    f"SELECT p.rowid AS id, CAST({_EVALUATIONS} AS BLOB) AS evals FROM spans p "
    "WHERE p.is_root = 1 AND <where> LIMIT -1) WHERE evals != x''"
)
# A page of task spans as answered, joined by SQLite in one step from what is kept rendered,
# without the interpreter's lock, which a row-by-row read takes back for every row: while
# another thread parses an answer (a gate reads two experiments at once) each time back cost
# a wait.
_PAGE = (
    "SELECT CAST(group_concat(substr(s.answer, 1, length(s.answer) - 1) || ',\"metrics\":' || "
    "s.answer_usage || ',\"eval_metrics\":[' || ifnull(e.evals, '') || ']}', ',') AS BLOB) "
    "FROM (SELECT rowid AS id, answer, answer_usage FROM spans WHERE <where>"
    f"{_ORDER} LIMIT :limit) AS s LEFT JOIN span_evals AS e ON e.span = s.id"
)


def _page(
    cursor: sqlite3.Cursor, experiment_id: str, after: SpanKey | None, limit: int
) -> tuple[bytes | None, SpanKey | None]:
    """Up to `limit` task spans after `after` as answered, joined by commas (None: no
    span), and the key to read on from when more follow."""
    where = _ROOTS + (_AFTER if after is not None else "")
    args: dict[str, Any] = {"eid": experiment_id, "limit": limit}
    if after is not None:
        args.update(run=after[0], start=after[1], span=after[2])
    # The page's last key and whether a span follows it: two entries of the index.
    keys = cursor.execute(
        f"SELECT run_iteration, start_ns, span_id FROM spans WHERE {where}{_ORDER} "
        "LIMIT 2 OFFSET :limit - 1",
        args,
    ).fetchall()
    next_after: SpanKey | None = (keys[0][0], keys[0][1], keys[0][2]) if len(keys) == 2 else None
    (blob,) = cursor.execute(_PAGE.replace("<where>", where), args).fetchone()
    return blob or None, next_after


def render_usage(conn: sqlite3.Connection, where: str, args: Sequence[Any] = ()) -> None:
    """Keep rendered the `metrics` of the task spans `where` selects (over `spans p`) as they
    are answered (`answer_usage`): inside the caller's transaction, whenever a span of their
    trace arrives."""
    rows = conn.execute(_RENDER_USAGE.replace("<where>", where), args).fetchall()
    conn.executemany(
        "UPDATE spans SET answer_usage = ? WHERE rowid = ?",
        [
            (metrics if metrics is not None else _merged_usage(own, parts), rowid)
            for rowid, metrics, own, parts in rows
        ],
    )


def _merged_usage(own: bytes, parts: bytes) -> bytes:
    """A task span's own `metrics` with its trace's sums (`_RENDER`'s parts) in their place."""
    metrics = orjson.loads(own)
    sums = parts.split(b"\x00")
    metrics.update({key: _whole(float(v)) for key, v in zip(_USAGE, sums, strict=True) if v})
    return orjson.dumps(metrics)


def add_answers(conn: sqlite3.Connection, version: int) -> None:
    """Render what a file of schema `version` lacks: the answers of its task spans and
    evaluations (kept since 2), then how its task spans' `metrics` and evaluations are
    answered (since 3); inside the upgrade's transaction."""
    if version < 2:
        for select, update, render_row in (
            (
                "SELECT rowid, span_id, trace_id, body FROM spans WHERE is_root = 1 "
                "AND rowid > ? ORDER BY rowid LIMIT 1000",
                "UPDATE spans SET answer = ?, answer_metrics = ? WHERE rowid = ?",
                lambda r: (*span_answer(r[1], r[2], orjson.loads(r[3])), r[0]),
            ),
            (
                "SELECT rowid, body, run_iteration, run_id FROM metrics WHERE rowid > ? "
                "ORDER BY rowid LIMIT 1000",
                "UPDATE metrics SET answer = ? WHERE rowid = ?",
                lambda r: (
                    None
                    if spliced_answer(r[1], r[3])
                    else evaluation_answer(orjson.loads(r[1]), r[2], r[3]),
                    r[0],
                ),
            ),
        ):
            last = 0
            while batch := conn.execute(select, (last,)).fetchall():
                conn.executemany(update, [render_row(r) for r in batch])
                last = batch[-1][0]
    if version < 3:
        # In slices of the table, so that a large file is not held in memory at once.
        (top,) = conn.execute("SELECT ifnull(max(rowid), 0) FROM spans").fetchone()
        for first in range(0, top, 5000):
            where, rowids = "p.rowid > ? AND p.rowid <= ?", (first, first + 5000)
            render_usage(conn, where, rowids)
            conn.execute(_RENDER_EVALS.replace("<where>", where), rowids)


def refresh_aggregate(conn: sqlite3.Connection, experiment_id: str) -> None:
    """Compute the experiment's `aggregate_data` from its spans and metrics, inside the
    caller's transaction."""
    t = conn.execute(
        # TOTAL, not SUM: a float, where SUM of integers past 2**63 (durations a client may
        # send, each one valid) raises and would leave the experiment unfinishable.
        "SELECT COUNT(*) AS spans, COALESCE(SUM(is_error * is_root), 0) AS errors, "
        "TOTAL(total_tokens) AS tok, TOTAL(input_tokens) AS tin, "
        "TOTAL(output_tokens) AS tout, "
        "TOTAL(duration * is_root) AS dur, TOTAL(cost) AS cost "
        "FROM spans WHERE experiment_id = ?",
        (experiment_id,),
    ).fetchone()
    totals: dict[str, int | float] = {
        "total_spans": t["spans"],
        "total_errors": t["errors"],
        "total_tokens": _whole(t["tok"]),
        "total_input_tokens": _whole(t["tin"]),
        "total_output_tokens": _whole(t["tout"]),
        "total_duration_ns": _whole(t["dur"]),
        "estimated_total_cost": _whole(t["cost"]),
    }
    evals = [
        EvalRow(
            record=r["record_id"] or r["span_id"],
            run=r["run_iteration"],
            label=r["label"],
            metric_type=r["metric_type"],
            value=loads(r["value"]),
            assessment=r["assessment"],
            has_error=bool(r["has_error"]),
        )
        for r in conn.execute(
            "SELECT m.span_id, m.run_iteration, m.label, m.metric_type, m.value, "
            "m.assessment, m.has_error, s.record_id FROM metrics m LEFT JOIN spans s "
            "ON s.experiment_id = m.experiment_id AND s.span_id = m.span_id "
            "WHERE m.experiment_id = ? AND m.source = 'custom'",
            (experiment_id,),
        )
    ]
    summaries = [
        SummaryRow(
            run=r["run_iteration"],
            label=r["label"],
            metric_type=r["metric_type"],
            value=loads(r["value"]),
            has_error=bool(r["has_error"]),
        )
        for r in conn.execute(
            "SELECT run_iteration, label, metric_type, value, has_error FROM metrics "
            "WHERE experiment_id = ? AND source = 'summary'",
            (experiment_id,),
        )
    ]
    conn.execute(
        "UPDATE experiments SET aggregate_data = ?, aggregate_stale = 0 WHERE id = ?",
        (dumps(aggregate(totals, evals, summaries)), experiment_id),
    )


def _mark_stale(conn: sqlite3.Connection, experiment_ids: set[str]) -> None:
    # Only finished experiments have an aggregate to go stale; the next listing recomputes it.
    finished = sorted(FINISHED)
    conn.executemany(
        "UPDATE experiments SET aggregate_stale = 1 WHERE id = ? AND aggregate_stale = 0 "
        f"AND status IN ({', '.join('?' * len(finished))})",
        [(e, *finished) for e in experiment_ids],
    )


def _require_experiment(conn: sqlite3.Connection, experiment_id: str) -> None:
    # Not `experiments`' lookup: that module imports this one for `refresh_aggregate`.
    if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone() is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")


def _span_tags(tags: Sequence[Any]) -> dict[str, str]:
    """The tags the store indexes, in one pass (this runs for every span received)."""
    found: dict[str, str] = {}
    for tag in tags:
        if isinstance(tag, str):
            key, _, value = tag.partition(":")
            if key in _SPAN_TAGS and key not in found:
                found[key] = value
    return found


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: float) -> int | float:
    # A whole number JSON's writer (orjson: 64 bits) cannot write as an integer stays a float.
    whole = float(value).is_integer() and INT64_MIN <= value < INT64_MAX
    return int(value) if whole else value
