"""`aggregate_data` of a finished experiment, computed from its rows. Pure: no I/O.

Datadog publishes no schema for `aggregate_data`; the totals below are the keys it is known
to report, and `evaluations.custom.<label>` / `evaluations.summary.<label>` are of our own
design (documented in docs/store.md). Multi-run rules follow Datadog's UI: a score is the
average of the per-record averages, a category the mode of the per-record modes.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One per-record evaluation (a `custom` metric)."""

    record: str
    run: int
    label: str
    metric_type: str
    value: Any
    assessment: str | None
    has_error: bool


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One per-run evaluation (a `summary` metric)."""

    run: int
    label: str
    metric_type: str
    value: Any
    has_error: bool


def aggregate(
    totals: dict[str, int | float],
    evals: Iterable[EvalRow],
    summaries: Iterable[SummaryRow],
) -> dict[str, Any]:
    custom: dict[str, list[EvalRow]] = defaultdict(list)
    for row in evals:
        custom[row.label].append(row)
    summary: dict[str, list[SummaryRow]] = defaultdict(list)
    for srow in summaries:
        summary[srow.label].append(srow)
    return {
        **totals,
        "evaluations": {
            "custom": {label: _custom(rows) for label, rows in sorted(custom.items())} or None,
            "summary": {label: _summary(rows) for label, rows in sorted(summary.items())} or None,
        },
    }


def _valid(metric_type: str, value: Any) -> bool:
    if metric_type == "boolean":
        return isinstance(value, bool)
    if metric_type == "score":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if metric_type == "categorical":
        return isinstance(value, str)
    return value is not None


def _mode(values: Iterable[str]) -> str | None:
    counts = Counter(values)
    if not counts:
        return None
    # Ties go to the alphabetically first value so that the answer never depends on order.
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "stdev": None, "min": None, "max": None, "median": None}
    return {
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
    }


def _stats(metric_type: str, rows: list[EvalRow]) -> dict[str, Any]:
    """Statistics over rows, each record weighted once (its runs averaged, or its mode taken)."""
    valid = [r for r in rows if not r.has_error and _valid(metric_type, r.value)]
    by_record: dict[str, list[EvalRow]] = defaultdict(list)
    for r in valid:
        by_record[r.record].append(r)
    out: dict[str, Any] = {
        "count": len(valid),
        "error_count": sum(1 for r in rows if r.has_error),
        "record_count": len(by_record),
    }
    if metric_type == "score":
        out.update(_spread([statistics.fmean(r.value for r in rs) for rs in by_record.values()]))
    elif metric_type == "boolean":
        trues = sum(1 for r in valid if r.value)
        out["true_count"] = trues
        out["false_count"] = len(valid) - trues
        fractions = [sum(1 for r in rs if r.value) / len(rs) for rs in by_record.values()]
        out["pass_rate"] = statistics.fmean(fractions) if fractions else None
    elif metric_type == "categorical":
        out["counts"] = dict(sorted(Counter(r.value for r in valid).items()))
        out["mode"] = _mode(m for rs in by_record.values() if (m := _mode(r.value for r in rs)))
    assessed = [r for r in rows if r.assessment in ("pass", "fail")]
    if assessed:
        by_rec: dict[str, list[bool]] = defaultdict(list)
        for r in assessed:
            by_rec[r.record].append(r.assessment == "pass")
        out["pass_count"] = sum(1 for r in assessed if r.assessment == "pass")
        out["fail_count"] = len(assessed) - out["pass_count"]
        out["assessment_pass_rate"] = statistics.fmean(sum(v) / len(v) for v in by_rec.values())
    return out


def _custom(rows: list[EvalRow]) -> dict[str, Any]:
    metric_type = _dominant_type(rows)
    # Errored evaluations carry no value and often another type; they count under the label.
    rows = [r for r in rows if r.metric_type == metric_type or r.has_error]
    by_run: dict[int, list[EvalRow]] = defaultdict(list)
    for r in rows:
        by_run[r.run].append(r)
    return {
        "metric_type": metric_type,
        **_stats(metric_type, rows),
        "runs": {str(run): _stats(metric_type, rs) for run, rs in sorted(by_run.items())},
    }


def _summary(rows: list[SummaryRow]) -> dict[str, Any]:
    metric_type = _dominant_type(rows)
    rows = [r for r in rows if r.metric_type == metric_type or r.has_error]
    valid = [r for r in rows if not r.has_error and _valid(metric_type, r.value)]
    out: dict[str, Any] = {
        "metric_type": metric_type,
        "count": len(valid),
        "error_count": sum(1 for r in rows if r.has_error),
        "runs": {str(r.run): r.value for r in sorted(valid, key=lambda r: r.run)},
    }
    if metric_type in ("score", "boolean"):
        out.update(_spread([float(r.value) for r in valid]))
    elif metric_type == "categorical":
        out["counts"] = dict(sorted(Counter(r.value for r in valid).items()))
        out["mode"] = _mode(r.value for r in valid)
    return out


def _dominant_type(rows: Iterable[EvalRow | SummaryRow]) -> str:
    # An evaluator that changed its type mid-experiment is summarised under its most
    # frequent type among the rows that have a value; the others stay readable through
    # the events API.
    rows = list(rows)
    typed = [r.metric_type for r in rows if not r.has_error and r.value is not None]
    return _mode(typed) or _mode(r.metric_type for r in rows) or "score"
