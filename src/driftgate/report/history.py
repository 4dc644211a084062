"""`driftgate history list`: a pipeline's recorded runs with their headline figures, as a
plain-text table or JSON. Pure.

A run's headline is what a reader scans a history for: each evaluator's pass rate (a
boolean's, or the assessment's where the evaluator gives one) or mean (a score), else its
most frequent category; and the share of task spans whose task raised. Over several runs,
each record counts once (its runs averaged), as Datadog's multi-run figures do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from driftgate.experiments.compact import origin_id, pipeline_of, recorded_at

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driftgate.experiments.models import EvaluatorColumn, ExperimentData, ExperimentInfo

__all__ = ["Figure", "RunLine", "render_json", "render_table", "run_line"]

Measure = Literal["pass_rate", "mean", "mode", "none"]
MAX_COLUMNS = 8
_WIDTH = 14


@dataclass(frozen=True, slots=True)
class Figure:
    """One evaluator's headline in one run."""

    metric_type: str
    measure: Measure
    value: float | str | None


@dataclass(frozen=True, slots=True)
class RunLine:
    """One run of the listing."""

    id: str
    name: str
    experiment: str
    pipeline: str
    branch: str | None
    commit: str | None
    created_at: str | None
    """When the run was recorded (an imported run's original time)."""
    status: str | None
    dirty: bool
    imported_from: str | None
    runs: int
    records: int
    rows: int
    error_rate: float | None
    metrics: dict[str, Figure]


def run_line(info: ExperimentInfo, data: ExperimentData | None) -> RunLine:
    """The listing's line for the run `info`, with its figures when its `data` was read."""
    origin = origin_id(info)
    rows = data.rows if data is not None else 0
    return RunLine(
        id=info.id,
        name=info.name,
        experiment=info.experiment,
        pipeline=pipeline_of(info),
        branch=info.branch,
        commit=info.commit,
        created_at=recorded_at(info),
        status=info.status,
        dirty=info.dirty,
        imported_from=origin if origin != info.id else None,
        runs=len(set(data.run_iteration.tolist())) if data is not None else info.run_count or 0,
        records=len(set(data.record_key)) if data is not None else 0,
        rows=rows,
        error_rate=float(data.task_error.mean()) if data is not None and rows else None,
        metrics=(
            {label: _figure(data, column) for label, column in data.evaluators.items()}
            if data is not None
            else {}
        ),
    )


def _per_record_mean(data: ExperimentData, values: Any) -> float | None:
    """The mean over records of each record's mean over its runs (NaN skipped)."""
    _, codes = np.unique(np.asarray(data.record_key, dtype=object), return_inverse=True)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    sums = np.bincount(codes[finite], weights=values[finite])
    counts = np.bincount(codes[finite])
    present = counts > 0
    return float(np.mean(sums[present] / counts[present]))


def _figure(data: ExperimentData, column: EvaluatorColumn) -> Figure:
    kind = column.metric_type
    passed = np.where(column.errored, np.nan, column.passed)
    if kind == "boolean":
        return Figure(kind, "pass_rate", _per_record_mean(data, column.value))
    if kind == "score":
        return Figure(kind, "mean", _per_record_mean(data, column.value))
    if np.isfinite(passed).any():
        return Figure(kind, "pass_rate", _per_record_mean(data, passed))
    categories = [c for c in column.category or [] if c is not None]
    if categories:
        counts = Counter(categories)
        top = max(counts.values())
        return Figure(kind, "mode", min(c for c, n in counts.items() if n == top))
    return Figure(kind, "none", None)


def render_json(
    lines: Sequence[RunLine], *, pipeline: str | None, branch: str | None, backend: str
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "branch": branch,
        "backend": backend,
        "runs": [asdict(line) for line in lines],
    }


def _safe(text: str, width: int) -> str:
    """One line of at most `width` characters, without control characters (names come from
    scripts and may hold a terminal's escape sequences)."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _cell(figure: Figure | None) -> str:
    if figure is None or figure.value is None:
        return "-"
    if isinstance(figure.value, str):
        return figure.value
    if figure.measure == "pass_rate":
        return f"{figure.value:.1%}"
    return f"{figure.value:.3g}"


def _when(created_at: str | None) -> str:
    if not created_at:
        return "-"
    return created_at.replace("T", " ")[:16]


def render_table(
    lines: Sequence[RunLine], *, pipeline: str | None, branch: str | None, backend: str
) -> str:
    """The runs as a table, newest first, headed by what was listed and where."""
    what = _safe(pipeline, 64) if pipeline else "every pipeline"
    where = f"on {_safe(branch, 64)}" if branch else "on every branch"
    head = (
        f"{what} {where}: {len(lines)} run{'s' if len(lines) != 1 else ''}, newest first "
        f"({backend})"
    )
    if not lines:
        return head
    labels = list(dict.fromkeys(label for line in lines for label in line.metrics))
    shown = labels[:MAX_COLUMNS]
    mixed = len({line.pipeline for line in lines}) > 1 or not pipeline
    branches = not branch
    header = [
        "created",
        "commit",
        *(["branch"] if branches else []),
        *(["pipeline"] if mixed else []),
        "runs",
        "records",
        "errors",
        *(_safe(label, _WIDTH) for label in shown),
    ]
    table = [header]
    for line in lines:
        flags = (" (dirty)" if line.dirty else "") + (
            f" ({line.status})" if line.status not in ("completed", "failed") else ""
        )
        table.append(
            [
                _when(line.created_at),
                (line.commit or "-")[:12] + flags,
                *([_safe(line.branch or "-", 24)] if branches else []),
                *([_safe(line.pipeline, 24)] if mixed else []),
                str(line.runs),
                str(line.records),
                "-" if line.error_rate is None else f"{line.error_rate:.1%}",
                *(_safe(_cell(line.metrics.get(label)), _WIDTH) for label in shown),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    first_number = 2 + branches + mixed
    out = [head, ""]
    for row in table:
        cells = [
            cell.rjust(widths[i]) if i >= first_number else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append("  ".join(cells).rstrip())
    if len(labels) > len(shown):
        out.append(f"\n{len(labels) - len(shown)} more evaluators in --format json")
    return "\n".join(out)
