"""An experiment's events: the spans ddtrace sends, the evaluation metrics posted for them,
reading both back, and `aggregate_data` computed from them. Touches the `spans` and `metrics`
tables, and of `experiments` only the aggregate columns (and whether a row exists).

Spans and metrics are kept as posted (`body`); the columns beside them are what the store
indexes, sums and pages by.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from driftgate.llmobs import FINISHED, tag_value
from driftgate.store.aggregate import EvalRow, SummaryRow, aggregate
from driftgate.store.core import Database, dump_body, dumps, loads
from driftgate.store.errors import NotFound

# (run_iteration, start_ns, span_id): the order task spans are read in, and the paging key.
SpanKey = tuple[int, int, str]


# The rows of the events read are named tuples: an experiment's read makes one per task
# span and per evaluation (tens of thousands), and a tuple is the cheapest immutable row.


class Evaluation(NamedTuple):
    """An evaluation metric as posted, and the run it was stored under."""

    body: dict[str, Any]
    run_iteration: int
    run_id: str | None


class TaskSpan(NamedTuple):
    """A task span (one per record and run) as posted, with its evaluations."""

    span_id: str
    trace_id: str
    body: dict[str, Any]
    # Token and cost sums over every span of the trace, by the span metric they replace;
    # only the ones some span reported, since no usage is not zero usage.
    usage: dict[str, int | float]
    evaluations: list[Evaluation]


@dataclass(frozen=True, slots=True)
class EventsPage:
    spans: list[TaskSpan]
    summaries: list[Evaluation]  # the summary evaluations, on the first page only
    next_after: SpanKey | None  # the key to read on from, when more task spans follow


_SPAN_TAGS = frozenset({"experiment_id", "dataset_record_id", "run_iteration"})

# Trace sums, by the span metric each one is answered under.
_USAGE = (
    ("input_tokens", "i"),
    ("output_tokens", "o"),
    ("total_tokens", "t"),
    ("estimated_total_cost", "c"),
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
            iteration = tag_value(tags, "run_iteration") or req_iteration or "1"
            metric_type = m["metric_type"]
            value = m.get(f"{metric_type}_value")
            error = m.get("error")
            rows.append(
                (
                    experiment_id,
                    m.get("metric_source") or "custom",
                    str(m.get("span_id") or ""),
                    m["label"],
                    _int(iteration, 1),
                    tag_value(tags, "run_id") or req_run_id,
                    metric_type,
                    int(m.get("timestamp_ms") or 0),
                    None if value is None else dumps(value),
                    m.get("assessment"),
                    1 if error else 0,
                    dump_body(m),
                )
            )
        with self._db.tx() as conn:
            _require_experiment(conn, experiment_id)
            # A metric re-posted for the same span and label replaces the older one, as
            # Datadog's readers keep the latest `timestamp_ms`.
            conn.executemany(
                "INSERT INTO metrics (experiment_id, source, span_id, label, run_iteration, "
                "run_id, metric_type, timestamp_ms, value, assessment, has_error, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, source, span_id, label, run_iteration) DO UPDATE SET "
                "run_id = excluded.run_id, metric_type = excluded.metric_type, "
                "timestamp_ms = excluded.timestamp_ms, value = excluded.value, "
                "assessment = excluded.assessment, has_error = excluded.has_error, "
                "body = excluded.body WHERE excluded.timestamp_ms >= metrics.timestamp_ms",
                rows,
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
            rows.append(
                (
                    experiment_id,
                    str(s["span_id"]),
                    str(s.get("trace_id") or ""),
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
                )
            )
        if not rows:
            return 0
        with self._db.tx() as conn:
            conn.executemany(
                "INSERT INTO spans (experiment_id, span_id, trace_id, is_root, record_id, "
                "run_iteration, start_ns, duration, is_error, input_tokens, output_tokens, "
                "total_tokens, cost, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, span_id) DO UPDATE SET trace_id = excluded.trace_id, "
                "is_root = excluded.is_root, record_id = excluded.record_id, "
                "run_iteration = excluded.run_iteration, start_ns = excluded.start_ns, "
                "duration = excluded.duration, is_error = excluded.is_error, "
                "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
                "total_tokens = excluded.total_tokens, cost = excluded.cost, body = excluded.body",
                rows,
            )
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
            sql = (
                "SELECT span_id, trace_id, run_iteration, start_ns, body FROM spans "
                "WHERE experiment_id = ? AND is_root = 1"
            )
            args: list[Any] = [experiment_id]
            if after is not None:
                sql += " AND (run_iteration, start_ns, span_id) > (?, ?, ?)"
                args += after
            sql += " ORDER BY run_iteration, start_ns, span_id"
            if limit is not None:
                sql += " LIMIT ?"
                args.append(limit + 1)
            roots = conn.execute(sql, args).fetchall()
            more = limit is not None and len(roots) > limit
            roots = roots[:limit] if limit is not None else roots
            span_ids = [r["span_id"] for r in roots]
            trace_ids = list({r["trace_id"] for r in roots})
            evaluations: dict[str, list[Evaluation]] = {}
            usage: dict[str, dict[str, int | float]] = {}
            for chunk in _chunks(span_ids, 900):
                marks = ", ".join("?" * len(chunk))
                for m in conn.execute(
                    "SELECT span_id, run_iteration, run_id, body FROM metrics WHERE "
                    f"experiment_id = ? AND source = 'custom' AND span_id IN ({marks})",
                    [experiment_id, *chunk],
                ):
                    evaluations.setdefault(m["span_id"], []).append(_evaluation(m))
            for chunk in _chunks(trace_ids, 900):
                marks = ", ".join("?" * len(chunk))
                for t in conn.execute(
                    "SELECT trace_id, SUM(input_tokens) AS i, SUM(output_tokens) AS o, "
                    "SUM(total_tokens) AS t, SUM(cost) AS c FROM spans WHERE experiment_id = ? "
                    f"AND trace_id IN ({marks}) GROUP BY trace_id",
                    [experiment_id, *chunk],
                ):
                    usage[t["trace_id"]] = {
                        key: _whole(t[column]) for key, column in _USAGE if t[column] is not None
                    }
            spans = [
                TaskSpan(
                    span_id=r["span_id"],
                    trace_id=r["trace_id"],
                    body=orjson.loads(r["body"]),
                    usage=usage.get(r["trace_id"], {}),
                    evaluations=evaluations.get(r["span_id"], []),
                )
                for r in roots
            ]
            summaries = []
            if after is None:
                summaries = [
                    _evaluation(m)
                    for m in conn.execute(
                        "SELECT span_id, run_iteration, run_id, body FROM metrics WHERE "
                        "experiment_id = ? AND source = 'summary' ORDER BY run_iteration, label",
                        (experiment_id,),
                    )
                ]
            next_after: SpanKey | None = None
            if more:
                last = roots[-1]
                next_after = (last["run_iteration"], last["start_ns"], last["span_id"])
            return EventsPage(spans, summaries, next_after)


def refresh_aggregate(conn: sqlite3.Connection, experiment_id: str) -> None:
    """Compute the experiment's `aggregate_data` from its spans and metrics, inside the
    caller's transaction."""
    t = conn.execute(
        "SELECT COUNT(*) AS spans, COALESCE(SUM(is_error * is_root), 0) AS errors, "
        "COALESCE(SUM(total_tokens), 0) AS tok, COALESCE(SUM(input_tokens), 0) AS tin, "
        "COALESCE(SUM(output_tokens), 0) AS tout, "
        "COALESCE(SUM(duration * is_root), 0) AS dur, COALESCE(SUM(cost), 0) AS cost "
        "FROM spans WHERE experiment_id = ?",
        (experiment_id,),
    ).fetchone()
    totals: dict[str, int | float] = {
        "total_spans": t["spans"],
        "total_errors": t["errors"],
        "total_tokens": _whole(t["tok"]),
        "total_input_tokens": _whole(t["tin"]),
        "total_output_tokens": _whole(t["tout"]),
        "total_duration_ns": t["dur"],
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


def _evaluation(row: sqlite3.Row) -> Evaluation:
    return Evaluation(orjson.loads(row["body"]), row["run_iteration"], row["run_id"])


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
    return int(value) if float(value).is_integer() else value


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
