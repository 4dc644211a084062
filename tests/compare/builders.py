"""Small hand-made experiments for the comparison tests: one row per (record, run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    MetricType,
    SummaryEvaluation,
)

Values = Sequence[float | bool | None]


def _floats(values: Values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def column(
    label: str,
    metric_type: MetricType,
    values: Values = (),
    *,
    passed: Values | None = None,
    categories: Sequence[str | None] | None = None,
    errored: Sequence[bool] | None = None,
) -> EvaluatorColumn:
    rows = len(categories) if categories is not None else len(values)
    return EvaluatorColumn(
        label=label,
        metric_type=metric_type,
        value=_floats(values) if values else np.full(rows, np.nan),
        passed=_floats(passed) if passed is not None else np.full(rows, np.nan),
        errored=np.array(errored if errored is not None else [False] * rows, dtype=bool),
        category=list(categories) if categories is not None else None,
    )


def experiment(
    keys: Sequence[str],
    *,
    runs: Sequence[int] | None = None,
    evaluators: Sequence[EvaluatorColumn] = (),
    task_error: Sequence[bool] | None = None,
    seconds: Sequence[float] | None = None,
    tokens: Sequence[float] | None = None,
    cost: Sequence[float] | None = None,
    outputs: Sequence[str] | None = None,
    summaries: Sequence[SummaryEvaluation] = (),
    info: Mapping[str, Any] | None = None,
    run: int | None = None,
) -> ExperimentData:
    n = len(keys)
    nan = np.full(n, np.nan)
    for ev in evaluators:
        assert len(ev.value) == n, f"{ev.label} has {len(ev.value)} rows, want {n}"
    return ExperimentData(
        info=ExperimentInfo(**{"id": "exp", "name": "exp", "experiment": "demo", **(info or {})}),
        run=run,
        record_key=list(keys),
        run_iteration=np.array(runs if runs is not None else [1] * n, dtype=np.int32),
        task_error=np.array(task_error if task_error is not None else [False] * n, dtype=bool),
        error_message=[None] * n,
        duration_ns=np.array(seconds, dtype=np.float64) * 1e9 if seconds is not None else nan,
        input_tokens=nan,
        output_tokens=nan,
        total_tokens=np.array(tokens, dtype=np.float64) if tokens is not None else nan,
        cost=np.array(cost, dtype=np.float64) if cost is not None else nan,
        input_text=[f"input of {k}" for k in keys],
        expected_text=[f"expected of {k}" for k in keys],
        output_text=list(outputs) if outputs is not None else [f"output of {k}" for k in keys],
        evaluators={ev.label: ev for ev in evaluators},
        summaries=list(summaries),
    )


def keys(n: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def pass_fail(
    baseline: Sequence[int], candidate: Sequence[int], label: str = "correct"
) -> tuple[ExperimentData, ExperimentData]:
    """Two one-run experiments over the same records with one boolean evaluator."""
    ids = keys(len(baseline))
    return (
        experiment(
            ids, evaluators=[column(label, "boolean", baseline)], info={"id": "base", "name": "b"}
        ),
        experiment(
            ids, evaluators=[column(label, "boolean", candidate)], info={"id": "cand", "name": "c"}
        ),
    )
