"""How the store answered an events page under schema 2, from the same rows: the page built
at every read from the task spans' stored answers, their trace's sums and their evaluations.
The oracle that schema 3, which keeps a task span's usage and evaluations rendered as they
arrive, must match byte for byte, whatever order spans and metrics came in."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

_USAGE = ("input_tokens", "output_tokens", "total_tokens", "estimated_total_cost")
_EVALUATION = (
    "COALESCE(m.answer, substr(m.body, 1, length(m.body) - 1) || ',\"run_iteration\":' || "
    "m.run_iteration || CASE WHEN m.run_id IS NULL OR m.run_id = '' THEN '' "
    "ELSE ',\"run_id\":\"' || m.run_id || '\"' END || '}')"
)
_ROOTS = "experiment_id = :eid AND is_root = 1"
_AFTER = " AND (run_iteration, start_ns, span_id) > (:run, :start, :span)"
_ORDER = " ORDER BY run_iteration, start_ns, span_id"


def _number(column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN '' ELSE printf('%!.17g', {column}) END"


def _member(name: str, column: str) -> str:
    return (
        f"CASE WHEN {column} IS NULL THEN '' ELSE ',\"{name}\":' || CAST({column} AS INTEGER) END"
    )


def _whole_sql(column: str) -> str:
    return f"({column} IS NULL OR {column} = CAST({column} AS INTEGER))"


def _sums(span: str) -> str:
    return (
        "SELECT SUM(u.input_tokens) AS i, SUM(u.output_tokens) AS o, SUM(u.total_tokens) AS t, "
        "SUM(u.cost) AS c FROM spans u "
        f"WHERE u.experiment_id = :eid AND u.trace_id = {span}.trace_id"
    )


_USAGE_JSON = (
    f"(SELECT CASE WHEN {_whole_sql('i')} AND {_whole_sql('o')} AND {_whole_sql('t')} "
    f"AND {_whole_sql('c')} THEN '{{' || substr({_member('input_tokens', 'i')} || "
    f"{_member('output_tokens', 'o')} || {_member('total_tokens', 't')} || "
    f"{_member('estimated_total_cost', 'c')}, 2) || '}}' END FROM ({_sums('p')}))"
)
_USAGE_PARTS = (
    f"(SELECT {_number('i')} || x'00' || {_number('o')} || x'00' || {_number('t')} || x'00' "
    f"|| {_number('c')} FROM ({_sums('r')}))"
)
_EVALUATIONS = (
    f"ifnull((SELECT group_concat({_EVALUATION}, ',') FROM metrics m "
    "WHERE m.experiment_id = :eid AND m.source = 'custom' AND m.span_id = p.span_id), '')"
)
_PAGE = (
    "WITH page AS (SELECT span_id, trace_id, answer, ifnull(answer_metrics, '{}') AS own "
    "FROM spans WHERE <where> ORDER BY run_iteration, start_ns, span_id LIMIT :limit), "
    f"rendered AS (SELECT p.trace_id, p.answer, p.own, {_USAGE_JSON} AS usage, "
    f"{_EVALUATIONS} AS evals FROM page AS p LIMIT -1) "
    "SELECT CAST(group_concat(CASE "
    "WHEN r.usage IS NOT NULL AND (r.own = '{}' OR r.usage = '{}') THEN "
    "substr(r.answer, 1, length(r.answer) - 1) || ',\"metrics\":' || "
    "CASE WHEN r.usage = '{}' THEN r.own ELSE r.usage END || ',\"eval_metrics\":[' || "
    "r.evals || ']}' "
    "ELSE x'02' || r.answer || x'00' || r.own || x'00' || r.evals || x'00' || "
    f"{_USAGE_PARTS} END, x'01') AS BLOB) FROM rendered AS r"
)


def _whole(value: float) -> int | float:
    # Schema 2 wrote every whole sum as an integer, and failed (a 500) on one beyond 64 bits,
    # which orjson cannot write; such a sum is now a float.
    return int(value) if float(value).is_integer() and -(2**63) <= value < 2**63 else value


def _merged(record: bytes) -> bytes:
    if not record.startswith(b"\x02"):
        return record
    answer, own, evaluations, *sums = record[1:].split(b"\x00")
    metrics = orjson.loads(own)
    metrics.update({key: _whole(float(v)) for key, v in zip(_USAGE, sums, strict=True) if v})
    usage = orjson.dumps(metrics)
    return b"".join((answer[:-1], b',"metrics":', usage, b',"eval_metrics":[', evaluations, b"]}"))


def spans_answered(db: str, experiment_id: str) -> bytes:
    """Every task span of the experiment as schema 2 answered them, joined by commas."""
    conn = sqlite3.connect(db)
    try:
        args: dict[str, Any] = {"eid": experiment_id, "limit": -1}
        (blob,) = conn.execute(_PAGE.replace("<where>", _ROOTS), args).fetchone()
    finally:
        conn.close()
    if not blob:
        return b""
    return b",".join(_merged(record) for record in blob.split(b"\x01"))


def as_schema_2(db: str) -> None:
    """Make the file at `db` what a store of schema 2 left: no rendered usage and evaluations
    of task spans."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("ALTER TABLE spans DROP COLUMN answer_usage")
        conn.execute("DROP TABLE span_evals")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
