"""The interval beside an adjusted p-value is at the level that p-value was held to: it
excludes 0 when the metric's adjusted test is significant, and includes it otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from driftgate.compare import compare
from driftgate.compare.intervals import adjustment_factor
from driftgate.compare.schema import Metric
from driftgate.config import parse_config
from tests.compare.builders import column, experiment, keys

ALPHA = 0.05
T_TESTS = {"paired_t", "welch_t"}


def _excludes_zero(low: float | None, high: float | None) -> bool:
    assert low is not None and high is not None
    return high < 0 or low > 0


def _scores(seed: int, evaluators: int = 4, n: int = 60) -> list[Metric]:
    """Several score evaluators, each dropping by a little, so that some are significant
    before Holm's adjustment and not after."""
    rng = np.random.default_rng(seed)
    ids = keys(n)
    base_cols, cand_cols = [], []
    for e in range(evaluators):
        level = rng.uniform(0.5, 0.9, n)
        base = np.clip(level + rng.normal(0, 0.05, n), 0, 1)
        cand = np.clip(level - rng.uniform(0.0, 0.03) + rng.normal(0, 0.05, n), 0, 1)
        base_cols.append(column(f"q{e}", "score", base.tolist()))
        cand_cols.append(column(f"q{e}", "score", cand.tolist()))
    report = compare(experiment(ids, evaluators=base_cols), experiment(ids, evaluators=cand_cols))
    return [m for m in report.metrics if m.kind == "score"]


def test_the_adjusted_interval_agrees_with_the_adjusted_p_value() -> None:
    confusing = 0
    for seed in range(40):
        for m in _scores(seed):
            assert m.method in T_TESTS and m.p_value is not None
            significant = m.p_value < ALPHA
            assert _excludes_zero(m.ci_low_adjusted, m.ci_high_adjusted) == significant, m
            # It holds the unadjusted interval, at a level at least as high.
            assert m.confidence is not None and m.confidence_adjusted is not None
            assert m.confidence_adjusted >= m.confidence
            assert m.ci_low_adjusted <= m.ci_low and m.ci_high_adjusted >= m.ci_high  # type: ignore[operator]
            if _excludes_zero(m.ci_low, m.ci_high) and not significant:
                confusing += 1
                assert m.verdict == "inconclusive"
    # The case this exists for: the unadjusted interval excludes 0, the verdict says
    # inconclusive; it must have come up for the test to mean anything.
    assert confusing >= 3


def test_a_single_gated_metric_keeps_its_interval() -> None:
    ids = keys(40)
    base = experiment(
        ids, evaluators=[column("q", "score", [0.8 + 0.01 * (i % 7) for i in range(40)])]
    )
    cand = experiment(
        ids, evaluators=[column("q", "score", [0.78 + 0.01 * (i % 5) for i in range(40)])]
    )
    report = compare(base, cand)
    (m,) = [m for m in report.metrics if m.name == "q"]
    # One quality test, alone in its family after the budgets take their share: the factor
    # is the family's share at most, 1 when the p-value was not adjusted at all.
    assert m.confidence_adjusted is not None and m.ci_low_adjusted is not None
    factor = adjustment_factor(m.p_value, m.p_value_unadjusted, 1 / 0.9)
    assert m.confidence_adjusted == pytest.approx(1 - 2 * ALPHA / factor)


@pytest.mark.parametrize(
    ("adjusted", "raw", "most", "expected"),
    [
        (0.04, 0.01, 4.0, 4.0),
        (0.02, 0.01, 4.0, 2.0),
        (1.0, 0.5, 4.0, 2.0),  # capped at 1: the factor the cap left
        (0.01, 0.01, 4.0, 1.0),
        (0.3, 0.0, 4.0, 4.0),  # an underflowed raw p-value: the largest factor
        (None, 0.1, 4.0, 1.0),
    ],
)
def test_adjustment_factor(
    adjusted: float | None, raw: float | None, most: float, expected: float
) -> None:
    assert adjustment_factor(adjusted, raw, most) == pytest.approx(expected)


def test_pass_fail_and_not_gated_metrics_get_theirs() -> None:
    """McNemar's and the errors budget get an interval at their level too; a metric at
    level off keeps its raw p-value and so its raw interval."""
    ids = keys(80)
    base = experiment(
        ids,
        evaluators=[
            column("correct", "boolean", [1] * 60 + [0] * 20),
            column("other", "boolean", [1] * 60 + [0] * 20),
        ],
    )
    cand = experiment(
        ids,
        evaluators=[
            column("correct", "boolean", [0] * 8 + [1] * 52 + [0] * 20),
            column("other", "boolean", [0] * 8 + [1] * 52 + [0] * 20),
        ],
    )
    config = parse_config({"metrics": {"other": {"level": "off"}}})
    report = compare(base, cand, config)
    by_name = {m.name: m for m in report.metrics}
    correct, other = by_name["correct"], by_name["other"]
    assert correct.method == "mcnemar_exact"
    assert correct.confidence_adjusted is not None and correct.confidence is not None
    assert correct.ci_low_adjusted is not None and correct.ci_low is not None
    assert correct.confidence_adjusted >= correct.confidence
    assert correct.ci_low_adjusted <= correct.ci_low
    assert other.confidence_adjusted == other.confidence
    assert (other.ci_low_adjusted, other.ci_high_adjusted) == (other.ci_low, other.ci_high)
