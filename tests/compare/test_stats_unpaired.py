"""Unpaired fallback tests, Holm's adjustment and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftgate.compare.stats import holm, minimum_detectable_effect
from driftgate.compare.stats_unpaired import (
    agresti_caffo_interval,
    fisher_exact,
    unpaired_test,
    welch_t,
)


def test_fisher_exact_on_the_lady_tasting_tea() -> None:
    # Fisher's tea: 3 of 4 right on one side, 1 of 4 on the other. The one-sided p-value is
    # (C(4,3) C(4,1) + C(4,4) C(4,0)) / C(8,4) = 17/70.
    p_less, p_greater = fisher_exact(passes_x=1, n_x=4, passes_y=3, n_y=4)
    assert p_greater == pytest.approx(17 / 70)
    assert p_less == pytest.approx(1 - 1 / 70)  # all but the one table more extreme the other way


def test_agresti_caffo_interval_by_hand() -> None:
    # 1 + 1 of 10 + 2 against 6 + 1 of 10 + 2: (7/12 - 2/12) +- z * sqrt(sum p(1-p)/12).
    px, py = 2 / 12, 7 / 12
    half = 1.959964 * math.sqrt(px * (1 - px) / 12 + py * (1 - py) / 12)
    low, high = agresti_caffo_interval(1, 10, 6, 10, 0.95)
    assert low == pytest.approx(py - px - half)
    assert high == pytest.approx(py - px + half)


def test_welch_t_matches_the_reference_implementation() -> None:
    x = np.array([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6])
    y = np.array([27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9])
    result = welch_t(x, y, 0.95)
    reference = stats.ttest_ind(y, x, equal_var=False)
    assert 2 * min(result.p_less, result.p_greater) == pytest.approx(reference.pvalue)  # type: ignore[type-var]
    assert result.estimate == pytest.approx(y.mean() - x.mean())
    ci = reference.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_unpaired_binary_uses_fisher() -> None:
    result = unpaired_test(np.array([0.0, 0, 0, 1]), np.array([1.0, 1, 1, 0]), 0.9, binary=True)
    assert result.method == "fisher_exact"
    assert result.p_greater == pytest.approx(17 / 70)
    assert result.estimate == pytest.approx(0.5)


def test_unpaired_constant_sides_use_the_exact_permutation_count() -> None:
    # 3 values of 1.0 against 2 of 0.5: one split in C(5, 3) = 10 is this extreme.
    result = unpaired_test(np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.5]), 0.9, binary=False)
    assert result.method == "permutation_exact"
    assert result.p_less == pytest.approx(1 / 10)
    assert result.p_greater == 1.0
    same = unpaired_test(np.array([2.0, 2.0]), np.array([2.0, 2.0]), 0.9, binary=False)
    assert (same.p_less, same.p_greater, same.ci_low, same.ci_high) == (1.0, 1.0, 0.0, 0.0)


def test_unpaired_edge_cases_give_no_test() -> None:
    assert not unpaired_test(np.array([]), np.array([1.0]), 0.9, binary=False).tested
    single = unpaired_test(np.array([1.0]), np.array([1.0, 2.0]), 0.9, binary=False)
    assert not single.tested
    assert single.estimate == pytest.approx(0.5)
    nans = unpaired_test(np.array([np.nan]), np.array([np.nan, 1.0]), 0.9, binary=False)
    assert not nans.tested


def test_holm_known_case() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; the running
    # maximum makes the last 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_order() -> None:
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.2]) == [0.2]
    assert holm([]) == []
    adjusted = holm([0.01, 0.01, 0.02])
    assert adjusted == pytest.approx([0.03, 0.03, 0.03])


def test_holm_rejects_what_bonferroni_would_and_more() -> None:
    p = [0.011, 0.02, 0.04]
    bonferroni = [min(1.0, 3 * x) for x in p]
    assert all(h <= b for h, b in zip(holm(p), bonferroni, strict=True))
    assert sum(x < 0.05 for x in holm(p)) == 3  # 0.033, 0.04, 0.04
    assert sum(x < 0.05 for x in bonferroni) == 1


def test_minimum_detectable_effect() -> None:
    # (z_0.95 + z_0.80) * se = (1.6449 + 0.8416) * 0.01
    assert minimum_detectable_effect(0.01, 0.05) == pytest.approx(0.024865, abs=1e-6)
    assert minimum_detectable_effect(None, 0.05) is None
    assert minimum_detectable_effect(0.0, 0.05) is None
    assert minimum_detectable_effect(math.nan, 0.05) is None
