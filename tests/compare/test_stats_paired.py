"""Paired tests pinned to answers that can be checked by hand or against textbook results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftgate.compare.stats_paired import (
    agresti_min_interval,
    mcnemar_exact,
    paired_t,
    paired_test,
    sign_flip_exact,
)

# Student's sleep data (Cushny & Peebles, 1905), the textbook paired t example: the extra
# hours of sleep under drug 2 minus drug 1 for ten patients. R's
# `t.test(extra ~ group, data = sleep, paired = TRUE)` gives t = 4.0621 (as drug 2 - 1),
# df = 9, two-sided p = 0.002833, 95% interval [0.7001142, 2.4598858], mean 1.58.
SLEEP = np.array([1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4])


def test_mcnemar_exact_by_hand() -> None:
    # 5 records went fail -> pass and none the other way: P(X >= 5 | Bin(5, 1/2)) = 1/32.
    assert mcnemar_exact(0, 5) == (1.0, pytest.approx(1 / 32))
    # 1 worse, 6 better: P(X >= 6 | Bin(7, 1/2)) = (7 + 1) / 128.
    p_less, p_greater = mcnemar_exact(1, 6)
    assert p_greater == pytest.approx(8 / 128)
    assert p_less == pytest.approx(127 / 128)  # P(X >= 1) = 1 - 1/128
    # The two-sided exact McNemar p-value is twice the smaller one-sided value.
    assert 2 * p_greater == pytest.approx(stats.binomtest(6, 7, 0.5).pvalue)


def test_mcnemar_exact_matches_the_binomial_test_on_a_textbook_table() -> None:
    # Agresti's presidential approval table: 150 approve -> disapprove, 86 the reverse.
    p_less, _ = mcnemar_exact(150, 86)
    assert p_less == pytest.approx(stats.binomtest(86, 236, 0.5, alternative="less").pvalue)
    assert p_less < 1e-4


def test_mcnemar_without_discordant_pairs_is_no_evidence() -> None:
    assert mcnemar_exact(0, 0) == (1.0, 1.0)


def test_agresti_min_interval_by_hand() -> None:
    # n = 2, nothing flipped: cells +0.5 give 0.125 either way, variance 0.25 / 4, so the
    # 90% interval is 0 +- 1.6449 * 0.25.
    low, high = agresti_min_interval(0, 0, 2, 0.90)
    assert low == pytest.approx(-1.644854 * 0.25, abs=1e-6)
    assert high == pytest.approx(1.644854 * 0.25, abs=1e-6)
    # 10 better and 2 worse of 100: centre (10.5 - 2.5) / 102, variance (13/102 - c^2) / 102.
    centre = 8 / 102
    half = 1.959964 * math.sqrt((13 / 102 - centre**2) / 102)
    assert agresti_min_interval(2, 10, 100, 0.95) == (
        pytest.approx(centre - half),
        pytest.approx(centre + half),
    )


def test_agresti_min_interval_stays_within_minus_one_to_one() -> None:
    low, high = agresti_min_interval(0, 3, 3, 0.99)
    assert -1 <= low < high <= 1


def test_paired_t_on_the_sleep_data() -> None:
    result = paired_t(SLEEP, 0.95)
    assert result.estimate == pytest.approx(1.58)
    assert result.ci_low == pytest.approx(0.7001142, abs=1e-6)
    assert result.ci_high == pytest.approx(2.4598858, abs=1e-6)
    assert 2 * result.p_greater == pytest.approx(0.002833, abs=1e-6)  # type: ignore[operator]
    assert result.p_less == pytest.approx(1 - 0.002833 / 2, abs=1e-6)


def test_sign_flip_exact_by_hand() -> None:
    # The 8 sign patterns of (1, 2, 3) sum to 6, 0, 2, -4, 4, -2, 0, -6; observed 0.
    assert sign_flip_exact(np.array([1.0, 2.0, -3.0])) == (5 / 8, 5 / 8)
    # Three equal improvements: only the all-plus pattern is as extreme.
    assert sign_flip_exact(np.array([0.5, 0.5, 0.5])) == (1.0, 1 / 8)
    # Zeros carry no sign and do not change the answer.
    assert sign_flip_exact(np.array([0.5, 0.0, 0.5, 0.5, 0.0])) == (1.0, 1 / 8)


def test_paired_test_uses_the_exact_test_on_few_changed_records() -> None:
    # The sleep data have nine non-zero differences, all positive: p = 2**-9.
    result = paired_test(SLEEP, 0.95, binary=False)
    assert result.method == "sign_flip_exact"
    assert result.p_greater == pytest.approx(2**-9)
    assert result.ci_low == pytest.approx(0.7001142, abs=1e-6)  # the t interval


def test_paired_test_uses_t_on_many_changed_records() -> None:
    rng = np.random.default_rng(7)
    d = rng.normal(0.1, 1.0, 200)
    result = paired_test(d, 0.90, binary=False)
    reference = stats.ttest_rel(d, np.zeros_like(d), alternative="greater")
    assert result.method == "paired_t"
    assert result.p_greater == pytest.approx(reference.pvalue)
    assert result.n == 200


def test_paired_test_binary_is_mcnemar() -> None:
    d = np.array([1.0] * 6 + [-1.0] * 1 + [0.0] * 20)
    result = paired_test(d, 0.90, binary=True)
    assert result.method == "mcnemar_exact"
    assert result.p_greater == pytest.approx(8 / 128)
    assert result.estimate == pytest.approx(5 / 27)
    assert result.ci_low is not None and result.ci_low < result.estimate < result.ci_high  # type: ignore[operator]


def test_paired_test_empty_gives_no_test() -> None:
    result = paired_test(np.array([]), 0.9, binary=False)
    assert not result.tested
    assert result.n == 0
    assert result.estimate is None


def test_paired_test_single_pair() -> None:
    moved = paired_test(np.array([-0.4]), 0.9, binary=False)
    assert (moved.p_less, moved.p_greater) == (0.5, 1.0)
    assert moved.ci_low is None and moved.ci_high is None  # one pair says nothing of spread
    still = paired_test(np.array([0.0]), 0.9, binary=False)
    assert (still.p_less, still.p_greater) == (1.0, 1.0)
    assert still.ci_low is None


def test_paired_test_all_differences_zero() -> None:
    result = paired_test(np.zeros(50), 0.9, binary=False)
    assert (result.p_less, result.p_greater) == (1.0, 1.0)
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.se is None


def test_paired_test_all_differences_equal_is_the_sign_test() -> None:
    # Zero variance: t is undefined; 40 equal drops have sign-test p = 2**-40.
    result = paired_test(np.full(40, -0.25), 0.9, binary=False)
    assert result.method == "sign_test"
    assert result.p_less == pytest.approx(2.0**-40)
    assert result.p_greater == 1.0
    assert (result.ci_low, result.ci_high) == (-0.25, -0.25)


def test_paired_test_ignores_nans() -> None:
    d = np.array([np.nan, 0.5, 0.5, np.nan, 0.5])
    result = paired_test(d, 0.9, binary=False)
    assert result.n == 3
    assert result.p_greater == pytest.approx(1 / 8)


def test_paired_test_with_ties_of_opposite_sign() -> None:
    # Equal numbers of equal ups and downs: the mean is 0 and no direction is favoured.
    d = np.array([0.5] * 30 + [-0.5] * 30 + [0.0] * 40)
    result = paired_test(d, 0.9, binary=False)
    assert result.estimate == 0.0
    assert result.p_less == pytest.approx(0.5)
    assert result.p_greater == pytest.approx(0.5)
    assert result.ci_low == pytest.approx(-result.ci_high)  # type: ignore[operator]
