"""The gate rules: from measurements to per-metric verdicts and gates, and the overall verdict.

For a tested metric, with the change oriented so that positive is better and `tol` its
minimum effect:
- `regressed`: the one-sided test for "worse", adjusted for every test of the experiment
  (see `adjusted_p_values`), is below alpha, and the observed change is worse than -tol;
- `improved`: the same, the other way;
- `unchanged`: the interval (level 1 - 2 alpha) lies inside [-tol, +tol];
- `inconclusive`: anything else; the report gives the minimum detectable effect.
Descriptive metrics (latency quantiles, summary evaluators) have no test: they regress when
the observed change is worse than -tol. Only `regressed` moves the gate, to the metric's level.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from driftgate.compare.intervals import adjustment_factor, interval_at, needs_another
from driftgate.compare.measure import Family, Measurement
from driftgate.compare.schema import Gate, Metric, MetricVerdict
from driftgate.compare.stats import holm, minimum_detectable_effect
from driftgate.verdict import Verdict

# The false-alarm budget alpha is split between the families of tests. Quality is what the
# gate is for; the tested budgets (error rate, tokens, cost) must also be beyond their limit
# to fail, which chance alone rarely achieves, so a small share of alpha is enough for them.
FAMILY_SHARES: dict[Family, float] = {"quality": 0.9, "budgets": 0.1}

# Floating-point slack when an interval end or a change sits exactly on the tolerance.
_EPS = 1e-12


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _oriented(m: Measurement, value: float | None) -> float | None:
    if value is None:
        return None
    return -value if m.direction == "lower" else value


def _amount(m: Measurement, value: float) -> str:
    return f"{value * 100:.1f} points" if m.rate else f"{value:.3g}"


def _one_sided(m: Measurement) -> tuple[float, float] | None:
    """(p for worse, p for better) in the metric's direction."""
    inf = m.inference
    if inf.p_less is None or inf.p_greater is None:
        return None
    if m.direction == "lower":
        return inf.p_greater, inf.p_less
    return inf.p_less, inf.p_greater


@dataclass(frozen=True, slots=True)
class Adjusted:
    """A metric's one-sided p-values after the multiple-testing adjustment.

    `divisor` sizes its detectable effect: the level of its strictest test is alpha / divisor.
    """

    worse: float
    better: float
    divisor: float = 1.0


def adjusted_p_values(measurements: list[Measurement]) -> dict[int, Adjusted]:
    """Adjusted (worse, better) p-values per measurement index, to compare with alpha.

    Holm within each family; across the families present, Bonferroni with the weights of
    `FAMILY_SHARES`, so that the chance of any false alarm in the whole experiment stays at
    most alpha. Worse and better are adjusted separately: a false `regressed` can fail a
    build, a false `improved` cannot. Metrics not gated (level off) keep their raw p-values.
    """
    families: dict[Family, list[int]] = defaultdict(list)
    adjusted: dict[int, Adjusted] = {}
    for i, m in enumerate(measurements):
        p = _one_sided(m)
        if p is None:
            continue
        if m.family is not None and m.level != "off":
            families[m.family].append(i)
        else:
            adjusted[i] = Adjusted(*p)
    total = sum(FAMILY_SHARES[f] for f in families)
    for family, members in families.items():
        share = FAMILY_SHARES[family] / total
        one_sided = [p for p in (_one_sided(measurements[i]) for i in members) if p is not None]
        worse = holm([p[0] for p in one_sided])
        better = holm([p[1] for p in one_sided])
        for i, w, b in zip(members, worse, better, strict=True):
            adjusted[i] = Adjusted(min(1.0, w / share), min(1.0, b / share), len(members) / share)
    return adjusted


def decide(
    good: float | None,
    interval: tuple[float, float] | None,
    p_worse: float | None,
    p_better: float | None,
    tolerance: float,
    alpha: float,
    *,
    descriptive: bool = False,
) -> MetricVerdict:
    """The verdict from the oriented change `good` (positive = better) and its interval."""
    if good is None:
        return "inconclusive"
    if descriptive:
        # No test exists for it: the observed change is all there is.
        if good < -tolerance - _EPS:
            return "regressed"
        if good > tolerance + _EPS:
            return "improved"
        return "unchanged"
    if p_worse is None or p_better is None:
        return "inconclusive"
    if p_worse < alpha and good < -tolerance - _EPS:
        return "regressed"
    if p_better < alpha and good > tolerance + _EPS:
        return "improved"
    if (
        interval is not None
        and -tolerance - _EPS <= interval[0]
        and interval[1] <= tolerance + _EPS
    ):
        return "unchanged"
    return "inconclusive"


def _categorical(m: Measurement, alpha: float) -> Metric:
    assert m.shift is not None
    moved, p = m.shift
    return Metric(
        name=m.name,
        kind=m.kind,
        direction="none",
        baseline=None,
        candidate=None,
        delta=None,
        ci_low=None,
        ci_high=None,
        p_value=p,
        n=m.n_baseline + m.n_candidate,
        verdict="inconclusive" if p < alpha else "unchanged",
        gate="pass",
        level="off",
        method="chi_square",
        paired=False,
        p_value_unadjusted=p,
        n_baseline=m.n_baseline,
        n_candidate=m.n_candidate,
        distribution=m.distribution,
        notes=[*m.notes, f"distribution shift: {moved:.1%} (total variation)"],
    )


def _adjusted_interval(
    m: Measurement,
    alpha: float,
    p_value: float | None,
    p_raw: float | None,
    adjusted: Adjusted | None,
    raw: tuple[float | None, float | None],
) -> tuple[tuple[float, float], float] | None:
    """The interval at the level the adjusted p-value was held to, and that level (see
    `intervals.py`); the raw interval where the adjustment changed nothing."""
    low, high = raw
    if adjusted is None or p_value is None or low is None or high is None:
        return None
    factor = adjustment_factor(p_value, p_raw, adjusted.divisor)
    if not needs_another(factor):
        return (low, high), 1 - 2 * alpha
    level = 1 - 2 * alpha / factor
    found = interval_at(m, level)
    return (found, level) if found is not None else None


def judge(m: Measurement, alpha: float, adjusted: Adjusted | None) -> Metric:
    """Turn one measurement into the report's metric, with its verdict and gate."""
    if m.shift is not None:
        return _categorical(m, alpha)
    inf = m.inference
    confidence = 1 - 2 * alpha
    tolerance = m.tolerance.resolve(m.baseline)
    delta = _finite(m.delta)
    good = _oriented(m, delta)
    low, high = _finite(inf.ci_low), _finite(inf.ci_high)
    interval = None
    if low is not None and high is not None:
        interval = (low, high) if m.direction != "lower" else (-high, -low)
    p_worse = adjusted.worse if adjusted is not None else None
    p_better = adjusted.better if adjusted is not None else None
    verdict = decide(good, interval, p_worse, p_better, tolerance, alpha, descriptive=m.descriptive)
    raw = _one_sided(m)
    observed_worse = good is not None and good < 0
    p_value = None
    p_raw = None
    if adjusted is not None and raw is not None:
        p_value = adjusted.worse if observed_worse else adjusted.better
        p_raw = raw[0] if observed_worse else raw[1]
    mde = minimum_detectable_effect(inf.se, alpha / (adjusted.divisor if adjusted else 1.0))
    shown = _adjusted_interval(m, alpha, p_value, p_raw, adjusted, (low, high))
    notes = list(m.notes)
    if verdict == "inconclusive" and inf.tested:
        significant = min(p_worse or 1.0, p_better or 1.0) < alpha
        if significant:
            notes.append(
                f"a significant change, but within the minimum effect (±{_amount(m, tolerance)})"
            )
        elif mde is not None:
            notes.append(f"this sample can detect changes of about {_amount(m, mde)} or more")
    gate: Gate = "pass"
    if verdict == "regressed" and m.level != "off":
        gate = "fail" if m.level == "fail" else "warn"
    relative = None
    if delta is not None and m.baseline:
        relative = delta / abs(m.baseline)
    return Metric(
        name=m.name,
        kind=m.kind,
        direction=m.direction,
        baseline=_finite(m.baseline),
        candidate=_finite(m.candidate),
        delta=delta,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        n=inf.n,
        verdict=verdict,
        gate=gate,
        level=m.level,
        unit=m.unit,
        method=inf.method,
        paired=m.paired,
        p_value_unadjusted=p_raw,
        confidence=confidence if interval is not None else None,
        ci_low_adjusted=shown[0][0] if shown else None,
        ci_high_adjusted=shown[0][1] if shown else None,
        confidence_adjusted=shown[1] if shown else None,
        min_effect=tolerance,
        min_effect_rule=str(m.tolerance),
        mde=mde,
        relative_delta=_finite(relative),
        n_baseline=m.n_baseline,
        n_candidate=m.n_candidate,
        family=m.family if m.family is not None and m.level != "off" and inf.tested else None,
        notes=notes,
    )


def judge_all(measurements: list[Measurement], alpha: float) -> list[Metric]:
    adjusted = adjusted_p_values(measurements)
    return [judge(m, alpha, adjusted.get(i)) for i, m in enumerate(measurements)]


def overall(metrics: list[Metric]) -> Verdict:
    gates = {m.gate for m in metrics}
    if "fail" in gates:
        return "fail"
    if "warn" in gates:
        return "warn"
    return "pass"
