"""A metric's interval at the level its adjusted test was held to.

The gate tests each metric one-sided at alpha after Holm's adjustment, so a metric whose
unadjusted 1 - 2 alpha interval excludes 0 can still be `inconclusive`: the interval and the
p-value beside it then answer different questions. Holm's procedure has no simultaneous
intervals that agree with it (Bonferroni's would disagree the other way, the procedure being
more powerful), so the report shows, beside each adjusted p-value, the interval at the level
that p-value was held to: one-sided alpha divided by the factor the adjustment multiplied
the p-value by. Where the interval is the inversion of the test (the t-tests), it excludes 0
exactly when the adjusted p-value is below alpha; for the exact tests of pass/fail and of
few changed records, whose intervals are approximations, nearly always.

The interval is the same test run again on the same per-record values at that level, so it
is whatever interval the test gives; a measurement whose values do not reproduce its test
(no per-record values, another method) gets none rather than a wrong one.
"""

from __future__ import annotations

import numpy as np

from driftgate.compare.measure import Measurement
from driftgate.compare.stats_paired import paired_test
from driftgate.compare.stats_unpaired import unpaired_test

__all__ = ["adjustment_factor", "interval_at", "needs_another"]

# The adjustment multiplies a p-value by at most the family's size over its share of alpha;
# below this factor it changed nothing worth a second interval.
_SAME = 1 + 1e-9


def adjustment_factor(adjusted: float | None, raw: float | None, most: float) -> float:
    """How much the adjustment multiplied the p-value by (1 when it did not), within
    [1, `most`]: a raw p-value of 0 (underflow) takes the largest factor."""
    if adjusted is None or raw is None:
        return 1.0
    if raw <= 0:
        return max(most, 1.0)
    return min(max(adjusted / raw, 1.0), max(most, 1.0))


def interval_at(m: Measurement, confidence: float) -> tuple[float, float] | None:
    """`m`'s interval at `confidence`, from its own test on its own per-record values."""
    inf = m.inference
    if m.per_record is None or inf.ci_low is None or inf.ci_high is None:
        return None
    base, cand = m.per_record
    if m.paired:
        again = paired_test(cand - base, confidence, binary=inf.method == "mcnemar_exact")
    else:
        again = unpaired_test(base, cand, confidence, binary=inf.method == "fisher_exact")
    if again.method != inf.method or again.estimate != inf.estimate:
        return None
    if again.ci_low is None or again.ci_high is None:
        return None
    if not (np.isfinite(again.ci_low) and np.isfinite(again.ci_high)):
        return None
    return again.ci_low, again.ci_high


def needs_another(factor: float) -> bool:
    return factor > _SAME
