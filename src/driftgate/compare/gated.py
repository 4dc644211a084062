"""What the gate tests of an evaluator, as per-row values: shared by the pooled baseline's
change points and flake registry (`pooled.py`) and the trend (`trend.py`). Pure."""

from __future__ import annotations

import numpy as np

from driftgate.config import EvaluatorKind, GateConfig
from driftgate.experiments.models import EvaluatorColumn, FloatArray

__all__ = ["KINDS", "pass_fail"]

# The evaluator types the gate tests, as the configuration names their kinds.
KINDS: dict[str, EvaluatorKind] = {
    "boolean": "boolean",
    "score": "score",
    "categorical": "categorical",
}


def pass_fail(column: EvaluatorColumn, config: GateConfig) -> FloatArray | None:
    """The evaluator as the gate tests it (0/1 per row, NaN for none), if it is pass/fail
    or a score; None for what is not tested (json, categories without an assessment)."""
    if column.metric_type == "boolean":
        return np.where(column.errored, np.nan, column.value)
    if column.metric_type == "score":
        return np.where(column.errored, np.nan, column.value)
    if column.metric_type != "categorical":
        return None
    policy = config.policy(column.label, "categorical")
    if policy.pass_values:
        chosen = set(policy.pass_values)
        cats = column.category or [None] * len(column.value)
        values = np.fromiter(
            (np.nan if c is None else float(c in chosen) for c in cats), np.float64, len(cats)
        )
        return np.where(column.errored, np.nan, values)
    if np.isfinite(column.passed).any():
        return np.where(column.errored, np.nan, column.passed)
    return None
