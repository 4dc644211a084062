"""Paired tests on per-record differences (candidate - baseline of the same record).

Which test, and why:
- pass/fail with one run on each side: exact McNemar (a binomial test on the records that
  flipped; the records that did not flip carry no information about the direction), with
  the Agresti-Min interval for the difference of paired proportions (good coverage down
  to small samples, unlike the plain Wald interval).
- anything else (runs averaged per record, scores): the paired t-test on the differences.
  The gate is about the mean (pass rate, mean score), and the t interval is an interval for
  exactly that; with tens of records the central limit theorem makes it accurate even for
  skewed or discrete differences. Wilcoxon's signed-rank test is not used: it tests a
  pseudo-median rather than the mean, and it discards the zero differences that are most
  records in LLM evaluations, so it can disagree in sign with the mean it would be reported
  beside. A bootstrap would cost thousands of passes over 50,000 records per metric.
- few changed records (at most `EXACT_SIGN_FLIP_MAX` non-zero differences): the exact
  sign-flip permutation test of the mean difference, which needs no distributional
  assumption; with all differences of one size it is the sign test, and for one-run
  pass/fail data it is McNemar's exact test.
- all differences equal and non-zero (zero variance, where t is undefined): the sign test.
"""

from __future__ import annotations

import math

import numpy as np

from driftgate.compare.special import binom_half_sf, stdtr, stdtrit
from driftgate.compare.stats import (
    EXACT_SIGN_FLIP_MAX,
    Inference,
    no_test,
    two_sided_quantile,
)
from driftgate.experiments.models import FloatArray


def mcnemar_exact(n_worse: int, n_better: int) -> tuple[float, float]:
    """One-sided exact McNemar p-values `(p_less, p_greater)` from the discordant pairs.

    `n_worse` records went pass -> fail (difference -1), `n_better` fail -> pass (+1). Under
    no change each discordant record is equally likely to go either way.
    """
    discordant = n_worse + n_better
    p_less = binom_half_sf(n_worse - 1, discordant)
    p_greater = binom_half_sf(n_better - 1, discordant)
    return min(p_less, 1.0), min(p_greater, 1.0)


def agresti_min_interval(
    n_worse: int, n_better: int, n: int, confidence: float
) -> tuple[float, float]:
    """Agresti-Min (2005) interval for a difference of paired proportions (+0.5 per cell)."""
    z = two_sided_quantile(confidence)
    total = n + 2
    better = (n_better + 0.5) / total
    worse = (n_worse + 0.5) / total
    centre = better - worse
    half = z * math.sqrt(max(better + worse - centre**2, 0.0) / total)
    return max(-1.0, centre - half), min(1.0, centre + half)


def sign_flip_exact(differences: FloatArray) -> tuple[float, float]:
    """Exact one-sided p-values of the sign-flip permutation test of the mean difference.

    Under no change each record's difference is as likely to have either sign; the p-value
    is the share of the 2**k sign patterns of the k non-zero differences whose sum is at
    least as extreme as the one observed.
    """
    nonzero = np.abs(differences[differences != 0])
    k = len(nonzero)
    if k == 0:
        return 1.0, 1.0
    if k > EXACT_SIGN_FLIP_MAX:
        raise ValueError(f"{k} non-zero differences is too many to enumerate")
    patterns = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
    sums = (patterns * 2 - 1) @ nonzero
    observed = float(differences.sum())
    # Sums of the same magnitudes are equal up to rounding; count those as ties.
    slack = 1e-9 * float(nonzero.sum())
    p_less = float(np.mean(sums <= observed + slack))
    p_greater = float(np.mean(sums >= observed - slack))
    return p_less, p_greater


def sign_test(n_negative: int, n_positive: int) -> tuple[float, float]:
    """The sign test on non-zero differences (the same binomial as exact McNemar)."""
    return mcnemar_exact(n_negative, n_positive)


def t_interval(mean: float, se: float, df: float, confidence: float) -> tuple[float, float]:
    half = stdtrit(df, 0.5 + confidence / 2) * se
    return mean - half, mean + half


def paired_t(differences: FloatArray, confidence: float) -> Inference:
    """Paired t-test and interval for the mean difference (needs n >= 2 and variance > 0)."""
    n = len(differences)
    mean = float(differences.mean())
    se = float(differences.std(ddof=1)) / math.sqrt(n)
    t = mean / se
    low, high = t_interval(mean, se, n - 1, confidence)
    return Inference(
        method="paired_t",
        n=n,
        estimate=mean,
        p_less=stdtr(n - 1, t),
        p_greater=stdtr(n - 1, -t),
        ci_low=low,
        ci_high=high,
        se=se,
    )


def paired_test(differences: FloatArray, confidence: float, *, binary: bool) -> Inference:
    """The paired comparison of per-record differences; `binary` means one-run pass/fail.

    Never raises on degenerate input: no pairs gives no test, one pair or identical
    differences give the exact test with the interval that the data support.
    """
    d = differences[np.isfinite(differences)]
    n = len(d)
    if n == 0:
        return no_test("paired", 0)
    n_negative = int(np.count_nonzero(d < 0))
    n_positive = int(np.count_nonzero(d > 0))
    mean = float(d.mean())
    if binary:
        p_less, p_greater = mcnemar_exact(n_negative, n_positive)
        low, high = agresti_min_interval(n_negative, n_positive, n, confidence)
        # The variance of the mean difference is about (discordant share) / n; +1 keeps the
        # detectable effect finite when no record flipped.
        discordant_se = math.sqrt((n_negative + n_positive + 1) / (n + 2) / n)
        return Inference("mcnemar_exact", n, mean, p_less, p_greater, low, high, discordant_se)
    if n_negative + n_positive == 0:
        # No record moved; with a single record that says nothing about the spread.
        zero: float | None = 0.0 if n > 1 else None
        return Inference("no_difference", n, 0.0, 1.0, 1.0, zero, zero, None)
    # Equal differences have no spread; std() would report rounding noise instead of 0.
    sd = float(d.std(ddof=1)) if n > 1 and d.max() != d.min() else 0.0
    se = sd / math.sqrt(n) if sd > 0 else None
    interval: tuple[float | None, float | None] = (None, None)
    if se is not None:
        interval = t_interval(mean, se, n - 1, confidence)
    elif n > 1:
        # Every record moved by exactly the same amount: the data admit no other value.
        interval = (mean, mean)
    if n_negative + n_positive <= EXACT_SIGN_FLIP_MAX:
        p_less, p_greater = sign_flip_exact(d)
        return Inference("sign_flip_exact", n, mean, p_less, p_greater, *interval, se)
    if se is None:
        p_less, p_greater = sign_test(n_negative, n_positive)
        return Inference("sign_test", n, mean, p_less, p_greater, *interval, None)
    return paired_t(d, confidence)
