"""What every test returns, family-wise error control (Holm), and the minimum detectable effect.

Conventions shared by the paired and unpaired tests:
- differences are `candidate - baseline`, in the metric's own unit;
- every test gives two one-sided p-values, `p_less` (the candidate is lower) and `p_greater`
  (it is higher). The gate asks two directional questions, "did it get worse?" (which can
  fail a build) and "did it get better?" (which cannot), so each is a one-sided test at
  `alpha`; a two-sided test at `alpha` would spend half of the false-alarm budget on
  improvements, which never fail anything;
- intervals are two-sided at `1 - 2 * alpha`, so that each end is the one-sided bound matching
  those tests (the convention of equivalence testing: `unchanged` is then exactly a TOST).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from driftgate.compare.special import ndtri

# At least this many records changed, and the exact sign-flip distribution is small enough
# (2**16 sign patterns) to enumerate; beyond it the t approximation is accurate.
EXACT_SIGN_FLIP_MAX = 16
DEFAULT_POWER = 0.8


@dataclass(frozen=True, slots=True)
class Inference:
    """The outcome of one two-sample comparison.

    `estimate` is the observed difference of means (candidate - baseline). `se` is the
    standard error that sizes the minimum detectable effect (None where it is undefined,
    such as zero variance). A field is None where no test or interval applies.
    """

    method: str
    n: int
    estimate: float | None = None
    p_less: float | None = None
    p_greater: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    se: float | None = None

    @property
    def tested(self) -> bool:
        return self.p_less is not None and self.p_greater is not None


def no_test(method: str, n: int, estimate: float | None = None) -> Inference:
    return Inference(method=method, n=n, estimate=estimate)


def two_sided_quantile(confidence: float) -> float:
    """The normal quantile of a two-sided interval at `confidence`."""
    return ndtri(0.5 + confidence / 2)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (valid under any dependence between the tests).

    Rejecting where the adjusted value is below alpha keeps the probability of any false
    rejection in the family at most alpha, and is uniformly more powerful than Bonferroni.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def minimum_detectable_effect(
    se: float | None, alpha: float, power: float = DEFAULT_POWER
) -> float | None:
    """The smallest true difference a one-sided test at `alpha` detects with `power`.

    Normal approximation, `(z_{1-alpha} + z_{power}) * se`: the size of a change that this
    sample would have caught four times out of five, the number to quote when the answer is
    `inconclusive`.
    """
    if se is None or not math.isfinite(se) or se <= 0:
        return None
    return (ndtri(1 - alpha) + ndtri(power)) * se
