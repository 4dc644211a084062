"""Unpaired tests: the fallback when too few records are in both runs to pair them.

Records shared by both runs make the two samples positively correlated, which makes these
tests conservative (they see more noise than there is), never anti-conservative.
- pass/fail with one run on each side: Fisher's exact test (exact at any size; this path is
  rare enough that its conservatism is a fair price), with the Agresti-Caffo interval
  (+1 pass and +1 fail per side), which keeps its coverage at small samples.
- otherwise: Welch's t-test, which does not assume equal variances.
- both sides constant: the exact two-sample permutation test, whose p-value is then the
  chance that a random split puts all the lower values on one side.
"""

from __future__ import annotations

import math

import numpy as np

from driftgate.compare.special import hypergeom_cdf, hypergeom_sf, stdtr
from driftgate.compare.stats import Inference, no_test, two_sided_quantile
from driftgate.compare.stats_paired import t_interval
from driftgate.experiments.models import FloatArray


def agresti_caffo_interval(
    passes_x: int, n_x: int, passes_y: int, n_y: int, confidence: float
) -> tuple[float, float]:
    """Agresti-Caffo (2000) interval for `p_y - p_x` from two independent samples."""
    z = two_sided_quantile(confidence)
    px = (passes_x + 1) / (n_x + 2)
    py = (passes_y + 1) / (n_y + 2)
    half = z * math.sqrt(px * (1 - px) / (n_x + 2) + py * (1 - py) / (n_y + 2))
    return max(-1.0, py - px - half), min(1.0, py - px + half)


def fisher_exact(passes_x: int, n_x: int, passes_y: int, n_y: int) -> tuple[float, float]:
    """One-sided Fisher exact p-values `(p_less, p_greater)` for `p_y` against `p_x`."""
    # Given the margins, the passes of y are hypergeometric: y's n_y records drawn from
    # all n_x + n_y, of which all the passes are the good ones. Few passes of y is evidence
    # that y passes less often.
    passes = passes_x + passes_y
    total = n_x + n_y
    if 0 in (n_x, n_y, passes, total - passes):
        return 1.0, 1.0  # an empty row or column: every table is this table
    p_less = hypergeom_cdf(passes_y, total, n_y, passes)
    p_greater = hypergeom_sf(passes_y - 1, total, n_y, passes)
    return min(p_less, 1.0), min(p_greater, 1.0)


def welch_t(x: FloatArray, y: FloatArray, confidence: float) -> Inference:
    """Welch's t-test and interval for `mean(y) - mean(x)` (n >= 2 each, some variance)."""
    vx = float(x.var(ddof=1)) / len(x)
    vy = float(y.var(ddof=1)) / len(y)
    se = math.sqrt(vx + vy)
    estimate = float(y.mean() - x.mean())
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    t = estimate / se
    low, high = t_interval(estimate, se, df, confidence)
    return Inference(
        method="welch_t",
        n=len(x) + len(y),
        estimate=estimate,
        p_less=stdtr(df, t),
        p_greater=stdtr(df, -t),
        ci_low=low,
        ci_high=high,
        se=se,
    )


def unpaired_test(x: FloatArray, y: FloatArray, confidence: float, *, binary: bool) -> Inference:
    """Compare baseline values `x` with candidate values `y` as independent samples."""
    x = x[np.isfinite(x)]
    y = y[np.isfinite(y)]
    n = len(x) + len(y)
    if len(x) == 0 or len(y) == 0:
        return no_test("unpaired", n)
    estimate = float(y.mean() - x.mean())
    if binary:
        px, py = int(x.sum()), int(y.sum())
        p_less, p_greater = fisher_exact(px, len(x), py, len(y))
        low, high = agresti_caffo_interval(px, len(x), py, len(y), confidence)
        ax, ay = (px + 1) / (len(x) + 2), (py + 1) / (len(y) + 2)
        se = math.sqrt(ax * (1 - ax) / len(x) + ay * (1 - ay) / len(y))
        return Inference("fisher_exact", n, estimate, p_less, p_greater, low, high, se)
    if len(x) < 2 or len(y) < 2:
        return no_test("welch_t", n, estimate)
    if x.var() == 0 and y.var() == 0:
        if estimate == 0:
            return Inference("permutation_exact", n, 0.0, 1.0, 1.0, 0.0, 0.0, None)
        # Every value of one side is below every value of the other: one split in C(n, k).
        extreme = 1.0 / math.comb(n, len(x))
        p_less, p_greater = (extreme, 1.0) if estimate < 0 else (1.0, extreme)
        return Inference("permutation_exact", n, estimate, p_less, p_greater, estimate, estimate)
    return welch_t(x, y, confidence)
