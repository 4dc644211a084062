"""The chi-square p-value computed without scipy.stats agrees with scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from driftgate.compare.evaluators import chi_square_p


@pytest.mark.parametrize("columns", [2, 3, 6])
def test_matches_scipy_chi2_contingency(columns: int) -> None:
    rng = np.random.default_rng(columns)
    for _ in range(200):
        table = rng.integers(1, 60, size=(2, columns)).astype(np.float64)
        assert chi_square_p(table) == pytest.approx(
            stats.chi2_contingency(table)[1], rel=1e-9, abs=1e-15
        )


def test_yates_correction_on_two_by_two() -> None:
    table = np.array([[12.0, 5.0], [7.0, 9.0]])
    assert chi_square_p(table) == pytest.approx(stats.chi2_contingency(table, correction=True)[1])
    assert chi_square_p(table) != pytest.approx(stats.chi2_contingency(table, correction=False)[1])
