"""The gate rules on hand-made measurements."""

from __future__ import annotations

import pytest

from driftgate.compare.measure import Measurement
from driftgate.compare.rules import (
    Adjusted,
    adjusted_p_values,
    decide,
    judge,
    judge_all,
    overall,
)
from driftgate.compare.stats import Inference
from driftgate.config import absolute, percent

ALPHA = 0.05


@pytest.mark.parametrize(
    ("good", "interval", "p_worse", "p_better", "expected"),
    [
        # significant and worse than the 2-point tolerance
        (-0.05, (-0.08, -0.02), 0.01, 0.99, "regressed"),
        # significant but smaller than the tolerance, interval not inside it
        (-0.01, (-0.03, -0.001), 0.01, 0.99, "inconclusive"),
        # worse than the tolerance but not significant
        (-0.05, (-0.12, 0.02), 0.20, 0.80, "inconclusive"),
        (0.05, (0.02, 0.08), 0.99, 0.01, "improved"),
        # the interval inside +-0.02: equivalence, whatever the p-values
        (0.001, (-0.015, 0.018), 0.45, 0.55, "unchanged"),
        (-0.019, (-0.02, -0.018), 0.001, 0.999, "unchanged"),
        # exactly on the tolerance counts as inside
        (0.0, (-0.02, 0.02), 0.5, 0.5, "unchanged"),
        (0.0, None, 1.0, 1.0, "inconclusive"),
        (None, None, None, None, "inconclusive"),
        # a metric that could not be tested
        (-0.5, None, None, None, "inconclusive"),
    ],
)
def test_decide(
    good: float | None,
    interval: tuple[float, float] | None,
    p_worse: float | None,
    p_better: float | None,
    expected: str,
) -> None:
    assert decide(good, interval, p_worse, p_better, 0.02, ALPHA) == expected


@pytest.mark.parametrize(
    ("good", "expected"), [(-0.3, "regressed"), (-0.2, "unchanged"), (0.3, "improved")]
)
def test_decide_descriptive_reads_the_observed_change(good: float, expected: str) -> None:
    assert decide(good, None, None, None, 0.25, ALPHA, descriptive=True) == expected


def _measurement(
    name: str,
    *,
    estimate: float,
    p_less: float,
    p_greater: float,
    direction: str = "higher",
    level: str = "fail",
    family: str | None = "quality",
    ci: tuple[float, float] = (-1.0, 1.0),
    baseline: float = 0.5,
) -> Measurement:
    return Measurement(
        name=name,
        kind="boolean",
        direction=direction,  # type: ignore[arg-type]
        level=level,  # type: ignore[arg-type]
        tolerance=absolute(0.02),
        inference=Inference("paired_t", 100, estimate, p_less, p_greater, *ci, 0.01),
        baseline=baseline,
        candidate=baseline + estimate,
        family=family,  # type: ignore[arg-type]
        rate=True,
    )


def test_holm_within_families_and_bonferroni_shares_across_them() -> None:
    ms = [
        _measurement("a", estimate=-0.1, p_less=0.01, p_greater=0.99),
        _measurement("b", estimate=0.1, p_less=0.99, p_greater=0.02),
        _measurement("c", estimate=-0.1, p_less=0.04, p_greater=0.96, family="budgets"),
        _measurement("d", estimate=-0.1, p_less=0.03, p_greater=0.97, level="off"),
    ]
    adjusted = adjusted_p_values(ms)
    # quality (share 0.9): worse (0.01, 0.99) -> Holm (0.02, 0.99) -> / 0.9, capped at 1;
    # better (0.99, 0.02) -> Holm (0.99, 0.04) -> / 0.9.
    assert adjusted[0] == Adjusted(pytest.approx(0.02 / 0.9), 1.0, pytest.approx(2 / 0.9))
    assert adjusted[1] == Adjusted(1.0, pytest.approx(0.04 / 0.9), pytest.approx(2 / 0.9))
    # budgets (share 0.1), alone in their family.
    assert adjusted[2] == Adjusted(pytest.approx(0.4), 1.0, pytest.approx(10.0))
    # not gated: raw p-values.
    assert adjusted[3] == Adjusted(0.03, 0.97, 1.0)


def test_a_lone_family_gets_all_of_alpha() -> None:
    ms = [_measurement("a", estimate=-0.1, p_less=0.01, p_greater=0.99, family="budgets")]
    assert adjusted_p_values(ms)[0] == Adjusted(0.01, 0.99, 1.0)


def test_lower_is_better_swaps_worse_and_better() -> None:
    m = _measurement(
        "latency", estimate=0.1, p_less=0.99, p_greater=0.001, direction="lower", ci=(0.05, 0.15)
    )
    metric = judge_all([m], ALPHA)[0]
    assert metric.verdict == "regressed"
    assert metric.gate == "fail"
    assert metric.p_value == pytest.approx(0.001)  # in the direction of the change


def test_judge_reports_adjusted_and_raw_p_values_and_the_gate() -> None:
    ms = [
        _measurement("a", estimate=-0.1, p_less=0.03, p_greater=0.97, ci=(-0.15, -0.05)),
        _measurement("b", estimate=0.0, p_less=0.5, p_greater=0.5),
    ]
    a, b = judge_all(ms, ALPHA)
    assert a.p_value == pytest.approx(0.06)  # 2 x 0.03
    assert a.p_value_unadjusted == pytest.approx(0.03)
    assert a.verdict == "inconclusive"  # significant alone, not after Holm
    assert a.gate == "pass"
    assert a.family == "quality"
    assert a.confidence == pytest.approx(0.9)
    assert b.verdict == "inconclusive"
    assert any("can detect changes of about" in n for n in b.notes)


def test_warn_level_gates_at_warn_and_off_never_gates() -> None:
    warn = _measurement("w", estimate=-0.1, p_less=0.001, p_greater=0.999, level="warn")
    off = _measurement("o", estimate=-0.1, p_less=0.001, p_greater=0.999, level="off")
    w, o = judge_all([warn, off], ALPHA)
    assert (w.verdict, w.gate) == ("regressed", "warn")
    assert (o.verdict, o.gate) == ("regressed", "pass")
    assert o.family is None


def test_relative_tolerance_resolves_against_the_baseline() -> None:
    m = Measurement(
        name="tokens",
        kind="tokens",
        direction="lower",
        level="warn",
        tolerance=percent(20),
        inference=Inference("paired_t", 50, 30.0, 0.999, 0.001, 20.0, 40.0, 5.0),
        baseline=100.0,
        candidate=130.0,
        family="budgets",
    )
    metric = judge(m, ALPHA, Adjusted(0.001, 0.999))
    assert metric.min_effect == pytest.approx(20.0)
    assert metric.min_effect_rule == "20%"
    assert metric.relative_delta == pytest.approx(0.3)
    assert (metric.verdict, metric.gate) == ("regressed", "warn")


def test_overall_verdict() -> None:
    fail = _measurement("f", estimate=-0.1, p_less=0.001, p_greater=0.999, ci=(-0.2, -0.05))
    warn = _measurement("w", estimate=-0.1, p_less=0.001, p_greater=0.999, level="warn")
    calm = _measurement("c", estimate=0.0, p_less=0.5, p_greater=0.5, ci=(-0.01, 0.01))
    assert overall(judge_all([fail, warn, calm], ALPHA)) == "fail"
    assert overall(judge_all([warn, calm], ALPHA)) == "warn"
    assert overall(judge_all([calm], ALPHA)) == "pass"
    assert overall([]) == "pass"
