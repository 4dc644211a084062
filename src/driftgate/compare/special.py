"""The distribution functions behind the p-values and intervals, in plain floating point.

Same definitions, names and argument order as their namesakes in `scipy.special`, which the
tests check them against (to 1e-9 relative, 1e-12 absolute for tiny values):

- `ndtri(p)`: the standard normal quantile (the standard library's, Wichura's AS 241);
- `stdtr(df, t)` and `stdtrit(df, p)`: Student's t distribution function and its inverse;
- `chdtrc(dof, x)`: the chi-square survival function, for the integer degrees of freedom
  of a contingency table;
- `binom_half_sf(k, n)`: `P(X > k)` for `X ~ Binomial(n, 1/2)` (`bdtrc(k, n, 0.5)`), the
  exact McNemar and sign tests;
- `hypergeom_cdf` and `hypergeom_sf`: the hypergeometric tails of Fisher's exact test.

Why not a library: scipy brings 115 MB (its OpenBLAS) to a gate that needs these few
functions, and an arbitrary-precision library costs a quarter of a second to import and a
millisecond or more a call, against a whole comparison of 1,000 records taking 4 ms. Each
function here is a few microseconds to tens of microseconds.

How, and why these methods:
- Student's t: the regularized incomplete beta `I_x(df/2, 1/2)` by its continued fraction
  (modified Lentz), on whichever side converges fast: the tail itself beyond |t| ~ 1.7, so
  tiny p-values keep their relative accuracy, one minus the central part within. The
  continued fraction's rounding grows like `df * eps / t**2` (2e-11 at a million degrees of
  freedom), so from `T_ASYMPTOTIC_MIN_DF` degrees of freedom on, wherever `t**4 <= df`,
  the Cornish-Fisher expansion in 1/df takes over (within 1e-13 there). The inverse is
  that expansion where it applies, otherwise Newton's method on the distribution, bracketed.
- binomial and hypergeometric tails: exact sums of the probabilities, the first term by
  Loader's saddle-point formula (accurate to rounding at any size, where `lgamma`
  differences lose digits over 100,000 records), the others by the ratio of successive
  terms, summing the side away from the mode and taking the complement otherwise.
- chi-square with integer degrees of freedom: the closed form, a finite sum of Poisson
  terms (plus `erfc` for odd degrees), every term positive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from statistics import NormalDist

__all__ = [
    "T_ASYMPTOTIC_MIN_DF",
    "binom_half_sf",
    "chdtrc",
    "hypergeom_cdf",
    "hypergeom_sf",
    "ndtri",
    "stdtr",
    "stdtrit",
]

# From this many degrees of freedom on, Student's t comes from its expansion in 1/df where
# t**4 <= df: the expansion's error grows with t**4 / df, the continued fraction's with df.
T_ASYMPTOTIC_MIN_DF = 2e4

_EPS = 2.0**-52
_TINY = 1e-300
_MAX_TERMS = 100_000
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_PI = math.sqrt(math.pi)
_STANDARD_NORMAL = NormalDist()


def ndtri(p: float) -> float:
    """The standard normal quantile: `x` with `P(Z <= x) = p` (-inf at 0, inf at 1)."""
    if not 0.0 <= p <= 1.0:  # also nan
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    return _STANDARD_NORMAL.inv_cdf(p)


def _ndtr(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


# ---------------------------------------------------------------- Student's t


def _gamma_ratio_half(a: float) -> float:
    """`Gamma(a + 1/2) / Gamma(a)`, to rounding for every a > 0."""
    if a < 100:
        return math.gamma(a + 0.5) / math.gamma(a)
    # The Stirling series of log Gamma(a + 1/2) - log Gamma(a) - log(a) / 2; at a >= 100 the
    # first omitted term is below 1e-19.
    r = 1.0 / a
    r2 = r * r
    s = r * (-1 / 8 + r2 * (1 / 192 + r2 * (-1 / 640 + r2 * (17 / 14336))))
    return math.sqrt(a) * math.exp(s)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of `I_x(a, b)`, without its prefactor (modified Lentz).

    Converges in a few dozen steps where `x < (a + 1) / (a + b + 2)`, the only place where
    it is called.
    """
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        m2 = 2 * m
        term = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + term / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        term = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + term / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) <= _EPS:
            break
    return h


def _t_prefactor(df: float, at: float) -> tuple[float, float, float]:
    """`(x**a sqrt(y) / B(a, 1/2), x, y)` with `a = df/2`, `x = df / (df + at**2)`, `y = 1 - x`.

    The first is also `at` times the density at `-at`.
    """
    a = 0.5 * df
    if at > 1e100:
        # t**2 would overflow; log1p(t**2 / df) is 2 log(t) - log(df) to rounding.
        log_x_over_a = 2.0 * math.log(at) - math.log(df)
        x, y, sqrt_y = df / at / at, 1.0, 1.0
    else:
        t2 = at * at
        log_x_over_a = math.log1p(t2 / df)
        x, y, sqrt_y = df / (df + t2), t2 / (df + t2), at / math.sqrt(df + t2)
    # B(a, 1/2) = sqrt(pi) Gamma(a) / Gamma(a + 1/2)
    common = math.exp(-a * log_x_over_a) * sqrt_y * _gamma_ratio_half(a) / _SQRT_PI
    return common, x, y


def _t_tail_fraction(df: float, at: float) -> float:
    """`P(T <= -at)` for `at > 0`, by the continued fraction."""
    common, x, y = _t_prefactor(df, at)
    if y * (df + 2.0) > 3.0 * x:  # x < (a + 1) / (a + 1/2 + 2): the tail's own fraction
        return 0.5 * common / (0.5 * df) * _beta_fraction(0.5 * df, 0.5, x)
    # Near the centre (|t| < 1.74): one half minus a part, the result above 0.04.
    return 0.5 - common * _beta_fraction(0.5, 0.5 * df, y)


def _cornish_fisher(z: float, df: float) -> tuple[float, float]:
    """The t quantile matching the normal quantile z, and its derivative in z.

    Fisher's expansion in 1/df (Abramowitz and Stegun 26.7.5); where it is used
    (`_asymptotic`) its first omitted term is below 1e-13 relative.
    """
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    d1 = (3 * z2 + 1) / 4
    d2 = ((25 * z2 + 48) * z2 + 3) / 96
    d3 = (((21 * z2 + 95) * z2 + 51) * z2 - 15) / 384
    d4 = ((((711 * z2 + 5432) * z2 + 7410) * z2 - 5760) * z2 - 945) / 92160
    r = 1.0 / df
    t = z + r * (g1 + r * (g2 + r * (g3 + r * g4)))
    slope = 1.0 + r * (d1 + r * (d2 + r * (d3 + r * d4)))
    return t, slope


def _asymptotic(df: float, at: float) -> bool:
    return df >= T_ASYMPTOTIC_MIN_DF and at <= df**0.25


def _t_tail_asymptotic(df: float, at: float) -> float:
    """`P(T <= -at)` where `_asymptotic`: the normal tail at the z that maps to -at."""
    z = -at
    for _ in range(20):
        t, slope = _cornish_fisher(z, df)
        step = (t + at) / slope
        z -= step
        if abs(step) <= 4 * _EPS * max(1.0, abs(z)):
            break
    return _ndtr(z)


@lru_cache(maxsize=512)
def _t_lower_tail(df: float, at: float) -> float:
    """`P(T <= -at)` for finite `at > 0` (cached: a test asks for both tails of one t)."""
    if _asymptotic(df, at):
        return _t_tail_asymptotic(df, at)
    return _t_tail_fraction(df, at)


def stdtr(df: float, t: float) -> float:
    """Student's t distribution function with `df > 0` degrees of freedom: `P(T <= t)`."""
    df, t = float(df), float(t)
    if math.isnan(df) or math.isnan(t) or df <= 0:
        return math.nan
    if t == 0:
        return 0.5
    if math.isinf(t):
        return 0.0 if t < 0 else 1.0
    if math.isinf(df):
        return _ndtr(t)
    tail = _t_lower_tail(df, abs(t))
    return tail if t < 0 else 1.0 - tail


@lru_cache(maxsize=512)
def _t_lower_quantile(df: float, q: float) -> float:
    """The t < 0 with `P(T <= t) = q`, for `0 < q < 1/2`, by Newton's method on `stdtr`."""
    # In the tail the density is about C df**((df+1)/2) |t|**-(df+1), so F(t) is at most
    # C df**((df-1)/2) |t|**-df: solved for |t| that gives a point at or beyond the answer.
    log_c = math.log(_gamma_ratio_half(df / 2)) - 0.5 * math.log(df * math.pi)
    log_abs = (log_c + 0.5 * (df - 1) * math.log(df) - math.log(q)) / df
    if log_abs > 709.0:
        return -math.inf  # beyond the largest float
    low, high = -math.exp(log_abs), 0.0
    # Fisher's expansion is already close for tens of degrees of freedom and more.
    guess, _ = _cornish_fisher(ndtri(q), df)
    t = guess if low < guess < high else low
    for _ in range(200):
        value, common = _t_lower_tail(df, -t), _t_prefactor(df, -t)[0]
        if value > q:
            high = t
        else:
            low = t
        if value <= 0 or common <= 0:
            proposed = math.nan
        elif q < 0.05:
            # In the tail log F is nearly linear in log|t|: Newton's step in log|t|.
            proposed = t * math.exp((math.log(value) - math.log(q)) * value / common)
        else:
            proposed = t - (value - q) * -t / common
        if not low <= proposed <= high:  # also nan: halve the bracket instead
            magnitudes = high < 0 and low / high > 4
            proposed = -math.sqrt(-low) * math.sqrt(-high) if magnitudes else 0.5 * (low + high)
        if abs(proposed - t) <= 2 * _EPS * abs(t):
            return proposed
        t = proposed
    return t


def stdtrit(df: float, p: float) -> float:
    """The inverse of `stdtr` in t: the `t` with `P(T <= t) = p`."""
    df, p = float(df), float(p)
    if math.isnan(df) or df <= 0 or not 0.0 <= p <= 1.0:
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    if math.isinf(df):
        return ndtri(p)
    q = p if p < 0.5 else 1.0 - p  # exact for p >= 1/2
    t, _ = _cornish_fisher(ndtri(q), df)
    if not _asymptotic(df, -t):
        t = _t_lower_quantile(df, q)
    return t if p < 0.5 else -t


# ---------------------------------------------------------------- chi-square


def chdtrc(dof: int, x: float) -> float:
    """`P(X > x)` for a chi-square variable with a positive integer `dof` of freedom."""
    x = float(x)
    if math.isnan(x) or x < 0 or dof < 1:
        return math.nan
    if math.isinf(x):
        return 0.0
    # Q(dof/2, h): for even dof, the Poisson sum e^-h h^j / j! over j < dof/2; for odd dof,
    # erfc(sqrt(h)) plus e^-h h^(j-1/2) / Gamma(j+1/2) over 1 <= j <= (dof-1)/2.
    h = 0.5 * x
    odd = dof % 2
    shift = -0.5 if odd else 0.0
    first, last = (1, (dof - 1) // 2) if odd else (0, dof // 2 - 1)
    total = math.erfc(math.sqrt(h)) if odd else 0.0
    if last < first:
        return total
    if h == 0:
        return 1.0
    # The terms rise while j < h and fall after: start from the largest, in logarithms,
    # so that e^-h underflowing does not take the whole sum with it.
    peak = min(max(first, math.floor(h - shift)), last)
    log_peak = -h + (peak + shift) * math.log(h) - math.lgamma(peak + shift + 1)
    scaled = 1.0
    term = 1.0
    for j in range(peak - 1, first - 1, -1):
        term *= (j + 1 + shift) / h
        scaled += term
        if term < scaled * _EPS * 0.25:
            break
    term = 1.0
    for j in range(peak + 1, last + 1):
        term *= h / (j + shift)
        scaled += term
        if term < scaled * _EPS * 0.25:
            break
    return min(1.0, total + math.exp(log_peak) * scaled)


# ---------------------------------------------------------------- binomial, hypergeometric


def _stirling_error(n: int) -> float:
    """`log(n!) - log(sqrt(2 pi n) (n/e)**n)` for n >= 1."""
    if n <= 15:
        return math.lgamma(n + 1) - (n + 0.5) * math.log(n) + n - _LOG_SQRT_2PI
    r = 1.0 / n
    r2 = r * r
    return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))


def _deviance(x: float, mean: float) -> float:
    """`x log(x / mean) + mean - x`, without the cancellation when x is near the mean."""
    if x == 0:
        return mean
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        power = 2.0 * x * v
        v2 = v * v
        for j in range(1, 1000):
            power *= v2
            following = total + power / (2 * j + 1)
            if following == total:
                break
            total = following
        return total
    return x * math.log(x / mean) + mean - x


def _log_binomial_pmf(k: int, n: int, p: float, q: float) -> float:
    """log P(X = k) for X ~ Binomial(n, p), `q = 1 - p` given exactly (Loader, 2000)."""
    if n == 0:
        return 0.0
    if k == 0:
        return n * (math.log1p(-p) if p < 0.5 else math.log(q))
    if k == n:
        return n * (math.log(p) if p < 0.5 else math.log1p(-q))
    exponent = (
        _stirling_error(n)
        - _stirling_error(k)
        - _stirling_error(n - k)
        - _deviance(k, n * p)
        - _deviance(n - k, n * q)
    )
    return exponent - 0.5 * math.log(2 * math.pi * k * (n - k) / n)


def _tail_sum(first: float, ratios: Iterable[float]) -> float:
    """`first` plus the terms that `ratios` (successive term ratios) make from it, until they
    no longer change the sum."""
    total = term = first
    for ratio in ratios:
        term *= ratio
        total += term
        if term <= total * _EPS * 0.25:
            break
    return total


def binom_half_sf(k: int, n: int) -> float:
    """`P(X > k)` for `X ~ Binomial(n, 1/2)`; 1 for k < 0, 0 for k >= n."""
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    j = k + 1
    if 2 * j > n:
        # From j up, beyond the mode: each term smaller than the one before.
        first = math.exp(_log_binomial_pmf(j, n, 0.5, 0.5))
        return _tail_sum(first, ((n - i) / (i + 1) for i in range(j, n)))
    # 1 - P(X <= k), summed from k down, below the mode.
    first = math.exp(_log_binomial_pmf(k, n, 0.5, 0.5))
    return 1.0 - _tail_sum(first, (i / (n - i + 1) for i in range(k, 0, -1)))


def _log_hypergeom_pmf(k: int, total: int, good: int, draws: int) -> float:
    """log P(X = k) for `draws` items drawn from `total` of which `good` are good, as the
    ratio of three binomial probabilities at p = draws / total (each to rounding)."""
    p, q = draws / total, (total - draws) / total
    return (
        _log_binomial_pmf(k, good, p, q)
        + _log_binomial_pmf(draws - k, total - good, p, q)
        - _log_binomial_pmf(draws, total, p, q)
    )


def _hypergeom_tails(k: int, total: int, good: int, draws: int) -> tuple[float, float]:
    """`(P(X <= k), P(X > k))` of the hypergeometric distribution; the smaller side summed."""
    low, high = max(0, draws - (total - good)), min(draws, good)
    if k < low:
        return 0.0, 1.0
    if k >= high:
        return 1.0, 0.0
    bad = total - good
    mode = (draws + 1) * (good + 1) // (total + 2)
    if k < mode:
        # P(X = i - 1) / P(X = i) = i (bad - draws + i) / ((good - i + 1)(draws - i + 1))
        first = math.exp(_log_hypergeom_pmf(k, total, good, draws))
        below = _tail_sum(
            first,
            (i * (bad - draws + i) / ((good - i + 1) * (draws - i + 1)) for i in range(k, low, -1)),
        )
        return below, 1.0 - below
    # P(X = i + 1) / P(X = i) = (good - i)(draws - i) / ((i + 1)(bad - draws + i + 1))
    first = math.exp(_log_hypergeom_pmf(k + 1, total, good, draws))
    above = _tail_sum(
        first,
        ((good - i) * (draws - i) / ((i + 1) * (bad - draws + i + 1)) for i in range(k + 1, high)),
    )
    return 1.0 - above, above


def hypergeom_cdf(k: int, total: int, good: int, draws: int) -> float:
    """`P(X <= k)`: `X` good items among `draws` drawn without replacement from `total`
    items of which `good` are good (`scipy.stats.hypergeom(total, good, draws).cdf(k)`)."""
    return _hypergeom_tails(k, total, good, draws)[0]


def hypergeom_sf(k: int, total: int, good: int, draws: int) -> float:
    """`P(X > k)`, the complement of `hypergeom_cdf`, with its own relative accuracy."""
    return _hypergeom_tails(k, total, good, draws)[1]
