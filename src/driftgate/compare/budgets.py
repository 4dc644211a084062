"""Budgets: task error rate, tokens and cost per record, latency p50/p95.

The error rate, tokens and cost are per-record quantities, so they get the same paired
tests as the evaluators (their own family for the multiple-testing control), and fail only
when the change is significant *and* beyond the configured limit. Latency quantiles are
descriptive: span durations depend on the machine and the provider's load at least as much
as on the change under test, so a per-record test would claim a certainty it does not have;
they are judged on the observed change against the limit, at `warn` by default.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from driftgate.compare.measure import Findings, Measurement, compare_column
from driftgate.compare.pairing import Alignment
from driftgate.compare.stats import no_test
from driftgate.config import Budget, GateConfig
from driftgate.experiments.models import ExperimentData, FloatArray

NS_PER_SECOND = 1e9
_METRIC = {"tokens": "token counts", "cost": "estimated costs"}


def _reported(values: FloatArray) -> bool:
    """Whether a column carries data: some finite non-zero value (0 is what absent gives)."""
    return bool(np.any(np.isfinite(values) & (values != 0)))


def _latency(
    baseline: FloatArray, candidate: FloatArray, quantile: Literal[50, 95], budget: Budget
) -> Measurement:
    b = baseline[np.isfinite(baseline) & (baseline > 0)] / NS_PER_SECOND
    c = candidate[np.isfinite(candidate) & (candidate > 0)] / NS_PER_SECOND
    return Measurement(
        name=f"latency_p{quantile}",
        kind="latency",
        direction="lower",
        level=budget.level,
        tolerance=budget.max_increase,
        inference=no_test("descriptive", len(b) + len(c)),
        baseline=float(np.percentile(b, quantile)) if len(b) else None,
        candidate=float(np.percentile(c, quantile)) if len(c) else None,
        n_baseline=len(b),
        n_candidate=len(c),
        unit="seconds",
        descriptive=True,
        notes=(
            f"p{quantile} of task span durations over all runs; no test: durations depend on "
            "the machine and the provider's load, judged on the observed change",
        ),
    )


def budget_metrics(
    baseline: ExperimentData,
    candidate: ExperimentData,
    alignment: Alignment,
    config: GateConfig,
    confidence: float,
) -> Findings:
    budgets = config.budgets
    found = Findings()
    found.measurements.append(
        compare_column(
            name="errors",
            kind="errors",
            baseline=baseline.task_error.astype(np.float64),
            candidate=candidate.task_error.astype(np.float64),
            alignment=alignment,
            confidence=confidence,
            direction="lower",
            level=budgets.errors.level,
            tolerance=budgets.errors.max_increase,
            rate=True,
            family="budgets",
            unit="error rate",
        )
    )
    columns: tuple[tuple[Literal["tokens", "cost"], FloatArray, FloatArray, Budget, str], ...] = (
        ("tokens", baseline.total_tokens, candidate.total_tokens, budgets.tokens, "tokens/record"),
        ("cost", baseline.cost, candidate.cost, budgets.cost, "cost/record"),
    )
    for name, base, cand, budget, unit in columns:
        if not _reported(base) and not _reported(cand):
            if name in budgets.model_fields_set and budget.level != "off":
                # A budget the configuration sets is never dropped without a word.
                found.warnings.append(
                    f"{name}: not reported by either run (neither the task spans nor their "
                    f"child spans carry {_METRIC[name]}), so the {name} budget is not judged; "
                    'record them on the task\'s LLM spans, or set its level to "off"'
                )
            continue
        if not (_reported(base) and _reported(cand)):
            side = "baseline" if _reported(base) else "candidate"
            found.warnings.append(f"{name} are reported by the {side} only: not compared")
            continue
        found.measurements.append(
            compare_column(
                name=name,
                kind=name,
                baseline=base,
                candidate=cand,
                alignment=alignment,
                confidence=confidence,
                direction="lower",
                level=budget.level,
                tolerance=budget.max_increase,
                rate=False,
                family="budgets",
                unit=unit,
            )
        )
    if _reported(baseline.duration_ns) and _reported(candidate.duration_ns):
        found.measurements.append(
            _latency(baseline.duration_ns, candidate.duration_ns, 50, budgets.latency_p50)
        )
        found.measurements.append(
            _latency(baseline.duration_ns, candidate.duration_ns, 95, budgets.latency_p95)
        )
    return found
