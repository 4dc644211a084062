"""compare/special.py against scipy (a development dependency), exact sums and closed forms.

The agreement asked for is 1e-9 relative, or 1e-12 absolute for values that small. Where
scipy itself is further than that from the exact value (Cauchy's distribution function a
hair from 0, binomial and hypergeometric tails over 100,000 records, where it errs by up to
2e-10), the exact value is the reference.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special as sp
from scipy import stats

from driftgate.compare.special import (
    T_ASYMPTOTIC_MIN_DF,
    binom_half_sf,
    chdtrc,
    hypergeom_cdf,
    hypergeom_sf,
    ndtri,
    stdtr,
    stdtrit,
)

REL, ABS = 1e-9, 1e-12


def close(expected: float) -> object:
    return pytest.approx(expected, rel=REL, abs=ABS)


DFS = [1, 1.5, 2, 3, 4.5, 9, 17.3, 30, 99, 100, 101, 999, 12345.6, 19_999, T_ASYMPTOTIC_MIN_DF]
DFS += [20_001, 1e5, 999_999, 1e6, 3e6, 1e8, 1e12]
TS = [
    1e-6,
    0.01,
    0.3,
    1,
    1.5,
    1.7,
    1.73,
    1.75,
    2,
    2.5,
    3.3,
    5,
    8,
    13,
    20,
    38,
    60,
    1e3,
    1e8,
    1e200,
    1e300,
]
PS = [1e-300, 1e-40, 1e-12, 1e-6, 0.001, 0.025, 0.05, 0.1, 0.3, 0.45, 0.4999, 0.5001]
PS += [0.6, 0.8, 0.9, 0.95, 0.975, 0.995, 0.9995, 1 - 1e-9, 1 - 1e-15]


@pytest.mark.parametrize("df", DFS)
def test_stdtr_matches_scipy_over_a_grid(df: float) -> None:
    for t in TS:
        assert stdtr(df, -t) == close(sp.stdtr(df, -t)), t
        assert stdtr(df, t) == close(sp.stdtr(df, t)), t


def check_stdtrit(df: float, p: float) -> None:
    ours, expected = stdtrit(df, p), sp.stdtrit(df, p)
    assert stdtr(df, ours) == pytest.approx(p, rel=1e-12, abs=0)
    # Far in the tails of a few degrees of freedom scipy's quantile is not one: at 3.16
    # degrees of freedom and p = 1e-171 its stdtr gives 7.9e-171 back, and it stops near
    # 1e154 (short of 5e199 at 1.5 and 1e-300). There the check above is the reference.
    if sp.stdtr(df, expected) == pytest.approx(p, rel=1e-12, abs=0):
        assert ours == close(expected), p


@pytest.mark.parametrize("df", DFS)
def test_stdtrit_matches_scipy_over_a_grid(df: float) -> None:
    for p in PS:
        check_stdtrit(df, p)


def test_student_t_closed_forms() -> None:
    # One degree of freedom is Cauchy's distribution, two have a closed form too. Near t = 0
    # scipy is off by 3e-9 at one degree of freedom; these are exact.
    for t in [1e-300, 1e-12, 1e-8, 1e-3, 0.5, 1, 3, 1e4, 1e200]:
        assert stdtr(1, -t) == pytest.approx(math.atan2(1, t) / math.pi, rel=1e-14)
        root = math.sqrt(2 + t * t) if t < 1e150 else t
        assert stdtr(2, -t) == pytest.approx(1 / (root * (root + t)), rel=1e-14)
    for q in [1e-300, 1e-9, 0.01, 0.2, 0.4999]:
        assert stdtrit(1, q) == pytest.approx(-1 / math.tan(math.pi * q), rel=1e-13)
        assert stdtrit(2, q) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-13)


def test_student_t_on_both_sides_of_the_asymptotic_switch() -> None:
    # The expansion takes over from T_ASYMPTOTIC_MIN_DF degrees of freedom where t**4 <= df.
    df = T_ASYMPTOTIC_MIN_DF
    for t in [0.5, 2, 6, 11, 30]:
        assert stdtr(math.nextafter(df, 0), -t) == pytest.approx(stdtr(df, -t), rel=1e-12)
    for df in [T_ASYMPTOTIC_MIN_DF, 1e6, 1e9]:
        edge = df**0.25
        inside, outside = stdtr(df, -edge), stdtr(df, -math.nextafter(edge, math.inf))
        assert inside == pytest.approx(outside, rel=1e-12)
        assert inside == close(sp.stdtr(df, -edge))


def test_student_t_edge_cases() -> None:
    nan, inf = math.nan, math.inf
    assert stdtr(5, inf) == 1.0
    assert stdtr(5, -inf) == 0.0
    assert stdtr(5, 0.0) == 0.5
    assert stdtr(inf, 1.0) == pytest.approx(sp.ndtr(1.0), rel=1e-15)  # the normal limit
    assert stdtr(1e300, -3.0) == pytest.approx(sp.ndtr(-3.0), rel=1e-14)
    for df, t in [(nan, 1.0), (3, nan), (0, 1.0), (-1, 1.0)]:
        assert math.isnan(stdtr(df, t))
    assert stdtr(3, -1e300) == pytest.approx(sp.stdtr(3, -1e300), rel=REL)  # t**2 overflows
    assert stdtrit(5, 0.5) == 0.0
    assert stdtrit(5, 1.0) == inf
    assert stdtrit(5, 0.0) == -inf  # scipy says +inf here; -inf is the limit
    assert stdtrit(inf, 0.975) == pytest.approx(1.959963984540054, rel=1e-15)
    assert stdtrit(1, 5e-324) == -inf  # beyond the largest float
    for df, p in [(nan, 0.9), (5, nan), (0, 0.9), (-2, 0.9), (5, -0.1), (5, 1.1)]:
        assert math.isnan(stdtrit(df, p))


def test_stdtrit_inverts_stdtr() -> None:
    for df in [1, 2.5, 7, 40, 1001, 2e5, 5e6]:
        for p in [1e-200, 1e-8, 0.01, 0.3, 0.7, 0.95, 1 - 1e-10]:
            assert stdtr(df, stdtrit(df, p)) == pytest.approx(p, rel=1e-12)


log_df = st.floats(0, 6).map(lambda e: 10.0**e)  # 1 to 1e6 degrees of freedom


@given(df=log_df, t=st.floats(-60, 60))
def test_stdtr_matches_scipy(df: float, t: float) -> None:
    expected = sp.stdtr(df, t)
    if df < 1.2 and abs(t) < 1e-5:
        expected = 0.5 + math.atan(t) / math.pi  # where scipy is off (see above)
    assert stdtr(df, t) == close(expected)


# Probabilities near 0 and 1 (down to 1e-300 and 1 - 1e-16), and anywhere between.
probability = st.one_of(
    st.floats(-300, -1).map(lambda e: 10.0**e),
    st.floats(-16, -1).map(lambda e: 1 - 10.0**e),
    st.floats(0.001, 0.999),
)


@given(df=log_df, p=probability)
def test_stdtrit_matches_scipy(df: float, p: float) -> None:
    check_stdtrit(df, p)


def test_ndtri() -> None:
    for p in [*PS, 5e-324, 1e-310]:
        assert ndtri(p) == close(sp.ndtri(p)), p
    assert ndtri(0.0) == -math.inf
    assert ndtri(1.0) == math.inf
    for p in [math.nan, -0.1, 1.1]:
        assert math.isnan(ndtri(p))


@given(p=probability)
def test_ndtri_matches_scipy(p: float) -> None:
    assert ndtri(p) == close(sp.ndtri(p))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 8, 13, 30, 99, 100, 1000])
def test_chdtrc_matches_scipy_over_a_grid(dof: int) -> None:
    for x in [1e-12, 1e-3, 0.1, 0.5, 1, 2, 3.84, 10, 30, 100, 300, 700, 1400, 1600, 5000]:
        assert chdtrc(dof, x) == close(sp.chdtrc(dof, x)), x


@given(dof=st.integers(1, 2000), x=st.floats(0, 4000))
def test_chdtrc_matches_scipy(dof: int, x: float) -> None:
    assert chdtrc(dof, x) == close(sp.chdtrc(dof, x))


def test_chdtrc_edge_cases() -> None:
    assert chdtrc(1, 0.0) == 1.0
    assert chdtrc(4, 0.0) == 1.0
    assert chdtrc(3, math.inf) == 0.0
    for dof, x in [(1, -1.0), (2, math.nan), (0, 1.0), (-1, 1.0)]:
        assert math.isnan(chdtrc(dof, x))


def exact_binom_half_sf(k: int, n: int) -> float:
    return float(Fraction(sum(math.comb(n, j) for j in range(max(k + 1, 0), n + 1)), 2**n))


def test_binom_half_sf_is_the_exact_sum() -> None:
    for n in [*range(41), 99, 100, 101, 1000, 2001]:
        for k in {-1, 0, 1, n // 3, n // 2 - 1, n // 2, n // 2 + 1, n - 2, n - 1, n}:
            assert binom_half_sf(k, n) == pytest.approx(exact_binom_half_sf(k, n), rel=1e-13)


def test_binom_half_sf_edge_cases() -> None:
    assert binom_half_sf(-1, 0) == 1.0  # no discordant record: no evidence
    assert binom_half_sf(0, 0) == 0.0
    assert binom_half_sf(-5, 10) == 1.0
    assert binom_half_sf(10, 10) == 0.0
    assert binom_half_sf(12, 10) == 0.0
    assert binom_half_sf(9, 10) == 2.0**-10
    assert binom_half_sf(99_999, 100_000) == pytest.approx(2.0**-100_000, abs=1e-300)


@given(n=st.integers(0, 100_000), share=st.floats(0, 1))
def test_binom_half_sf_matches_scipy(n: int, share: float) -> None:
    k = round(share * (n + 1)) - 1  # from -1 to n
    # Around the middle of 100,000 trials scipy's incomplete beta errs by 2e-10.
    assert binom_half_sf(k, n) == pytest.approx(sp.bdtrc(k, n, 0.5), rel=1e-9, abs=ABS)


def exact_hypergeom_cdf(k: int, total: int, good: int, draws: int) -> Fraction:
    ways = sum(math.comb(good, j) * math.comb(total - good, draws - j) for j in range(0, k + 1))
    return Fraction(ways, math.comb(total, draws))


def test_hypergeom_is_the_exact_sum() -> None:
    for total, good, draws in [
        (8, 4, 4),
        (20, 7, 9),
        (30, 29, 3),
        (301, 120, 150),
        (1000, 500, 400),
    ]:
        low, high = max(0, draws - (total - good)), min(draws, good)
        for k in range(low - 1, high + 1, max(1, (high - low) // 40)):
            cdf = exact_hypergeom_cdf(k, total, good, draws)
            assert hypergeom_cdf(k, total, good, draws) == pytest.approx(float(cdf), rel=1e-13)
            assert hypergeom_sf(k, total, good, draws) == pytest.approx(float(1 - cdf), rel=1e-13)


def test_hypergeom_edge_cases() -> None:
    assert hypergeom_cdf(-1, 10, 5, 3) == 0.0
    assert hypergeom_cdf(3, 10, 5, 3) == 1.0
    assert hypergeom_sf(3, 10, 5, 3) == 0.0
    assert hypergeom_cdf(0, 10, 0, 3) == 1.0  # nothing good: X is 0
    assert hypergeom_cdf(4, 10, 10, 5) == 0.0  # everything good: X is the draws
    assert hypergeom_cdf(0, 10, 5, 0) == 1.0  # nothing drawn
    assert hypergeom_sf(0, 1, 1, 1) == 1.0


@st.composite
def fisher_tables(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(k, total, good, draws) of a two-by-two table with up to 100,000 records a side."""
    n_x, n_y = draw(st.integers(1, 100_000)), draw(st.integers(1, 100_000))
    passes_x = draw(st.integers(0, n_x))
    passes_y = draw(st.integers(0, n_y))
    return passes_y, n_x + n_y, n_y, passes_x + passes_y


@given(table=fisher_tables())
def test_hypergeom_matches_scipy(table: tuple[int, int, int, int]) -> None:
    k, total, good, draws = table
    # Over 100,000 records scipy's hypergeometric tails err by up to 4e-11.
    assert hypergeom_cdf(k, total, good, draws) == close(stats.hypergeom.cdf(k, total, good, draws))
    assert hypergeom_sf(k - 1, total, good, draws) == close(
        stats.hypergeom.sf(k - 1, total, good, draws)
    )
