"""`driftgate records`: the records a query matched, as a plain-text table or JSON. Pure.

A plain query lists rows (one record in one run); a multi-run query lists records, each
with its values over its runs as the query language aggregates them (the average of scores
and booleans, the most frequent category) and its outputs summarised ("Paris x2 · Lyon").
Text from experiments is made safe for a terminal (control characters become spaces).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftgate.experiments.models import EvaluatorColumn, ExperimentData
    from driftgate.query import Query, Selection

__all__ = ["RecordLine", "listing", "render_json", "render_table"]

Value = float | str | bool | None


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One line of the listing: a row, or a record over its runs (`run` None)."""

    record: str
    run: int | None
    runs: int
    input: str
    output: str
    evaluations: dict[str, Value]
    """By evaluator: a row's value (true/false, a score, a category; "error" when the
    evaluator raised; None when there is none), or over runs the average (a boolean's pass
    rate) or the most frequent category (tied ones joined by " | ")."""
    total_tokens: float | None
    duration_ns: float | None
    error: str | None
    """The task's error: a row's message, or over runs how many of them failed."""


def listing(
    data: ExperimentData, selection: Selection, limit: int | None = None
) -> list[RecordLine]:
    """The lines for what `selection` matched in `data`, the first `limit` of them."""
    if not selection.multi_run:
        rows = selection.rows.tolist()[:limit]
        return [_row_line(data, i) for i in rows]
    by_record: dict[str, list[int]] = {key: [] for key in selection.records[:limit]}
    for i in selection.rows.tolist():
        found = by_record.get(data.record_key[i])
        if found is not None:
            found.append(i)
    return [_record_line(data, key, rows) for key, rows in by_record.items()]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _row_value(column: EvaluatorColumn, i: int) -> Value:
    if column.errored[i]:
        return "error"
    if column.metric_type == "categorical":
        return column.category[i] if column.category is not None else None
    value = _number(float(column.value[i]))
    if value is not None and column.metric_type == "boolean":
        return value == 1.0
    return value


def _row_line(data: ExperimentData, i: int) -> RecordLine:
    return RecordLine(
        record=data.record_key[i],
        run=int(data.run_iteration[i]),
        runs=1,
        input=data.input_text[i],
        output=data.output_text[i],
        evaluations={label: _row_value(c, i) for label, c in data.evaluators.items()},
        total_tokens=_number(float(data.total_tokens[i])),
        duration_ns=_number(float(data.duration_ns[i])),
        error=data.error_message[i] or ("error" if data.task_error[i] else None),
    )


def _mean(values: Sequence[float]) -> float | None:
    present = [v for v in values if not math.isnan(v)]
    return math.fsum(present) / len(present) if present else None


def _aggregate(column: EvaluatorColumn, rows: Sequence[int]) -> Value:
    if column.metric_type == "categorical":
        categories = column.category or []
        counts = Counter(c for c in (categories[i] for i in rows) if c is not None)
        if not counts:
            return None
        top = max(counts.values())
        return " | ".join(sorted(v for v, n in counts.items() if n == top))
    return _mean([float(column.value[i]) for i in rows])


def _outputs(texts: Sequence[str]) -> str:
    """The runs' outputs, each once with how often it came ("Paris x2 · Lyon")."""
    counts = Counter(texts)
    return " · ".join(text if n == 1 else f"{text} x{n}" for text, n in counts.most_common())


def _record_line(data: ExperimentData, key: str, rows: Sequence[int]) -> RecordLine:
    failed = sum(bool(data.task_error[i]) for i in rows)
    return RecordLine(
        record=key,
        run=None,
        runs=len(rows),
        input=data.input_text[rows[0]],
        output=_outputs([data.output_text[i] for i in rows]),
        evaluations={label: _aggregate(c, rows) for label, c in data.evaluators.items()},
        total_tokens=_mean([float(data.total_tokens[i]) for i in rows]),
        duration_ns=_mean([float(data.duration_ns[i]) for i in rows]),
        error=f"{failed} of {len(rows)} runs failed" if failed else None,
    )


# ------------------------------------------------------------------------------- rendering


def render_json(
    data: ExperimentData, query: Query, selection: Selection, lines: Sequence[RecordLine]
) -> dict[str, Any]:
    """The listing as JSON: the experiment, the query, how many matched, the lines."""
    return {
        "experiment": {"id": data.info.id, "name": data.info.name, "run": data.run},
        "query": str(query),
        "multi_run": selection.multi_run,
        "matched": len(selection.records) if selection.multi_run else len(selection.rows),
        "shown": len(lines),
        "records": [asdict(line) for line in lines],
    }


_WIDTH = {"record": 12, "input": 32, "output": 24, "value": 12, "label": 24}


def _safe(text: str, width: int) -> str:
    """One line of at most `width` characters, without control characters (an output may
    hold a terminal's escape sequences)."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _cell(value: Value, metric_type: str, over_runs: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if over_runs and metric_type == "boolean":
        return f"{value:.0%}"
    return f"{value:.3g}"


def _tokens(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def _duration(ns: float | None) -> str:
    if ns is None:
        return "-"
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= size:
            return f"{ns / size:.3g} {unit}"
    return f"{ns:.0f} ns"


def render_table(
    data: ExperimentData, query: Query, selection: Selection, lines: Sequence[RecordLine]
) -> str:
    """The listing as a plain-text table, headed by what was searched and how many
    matched."""
    over_runs = selection.multi_run
    matched = len(selection.records) if over_runs else len(selection.rows)
    if over_runs:
        what = (
            f"record{'s' if matched != 1 else ''} (over {'their' if matched != 1 else 'its'} runs)"
        )
    else:
        what = f"row{'s' if matched != 1 else ''} (record x run)"
    name = data.info.name or data.info.id
    run = f"@{data.run}" if data.run is not None else ""
    searched = f" matching {_safe(str(query), 200)}" if query.terms else ""
    head = f"{name}{run}: {matched} {what}{searched}"
    if len(lines) < matched:
        head += f"; the first {len(lines)} shown (--limit)"
    if not lines:
        return head
    types = {label: data.evaluators[label].metric_type for label in sorted(data.evaluators)}
    header = [
        "record",
        "runs" if over_runs else "run",
        "input",
        "output",
        *types,
        "tokens",
        "duration",
        "error",
    ]
    table = [header]
    for line in lines:
        table.append(
            [
                _safe(line.record, _WIDTH["record"]),
                str(line.runs if over_runs else line.run),
                _safe(line.input, _WIDTH["input"]),
                _safe(line.output, _WIDTH["output"]),
                *(
                    _safe(_cell(line.evaluations.get(label), kind, over_runs), _WIDTH["value"])
                    for label, kind in types.items()
                ),
                _tokens(line.total_tokens),
                _duration(line.duration_ns),
                _safe(line.error or "", _WIDTH["output"]),
            ]
        )
    header[4 : 4 + len(types)] = [_safe(label, _WIDTH["label"]) for label in types]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    numeric = {1, *range(4 + len(types), 6 + len(types))}
    out = [head, ""]
    for row in table:
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)
