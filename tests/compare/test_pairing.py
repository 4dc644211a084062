from __future__ import annotations

import numpy as np
import pytest

from driftgate.compare.pairing import align, enough_pairs, first_rows, record_means
from tests.compare.builders import experiment


def test_align_indexes_the_union_of_records() -> None:
    baseline = experiment(["a", "b", "a", "b"], runs=[1, 1, 2, 2])
    candidate = experiment(["b", "c"])
    alignment = align(baseline, candidate)
    assert alignment.keys == ["a", "b", "c"]
    assert alignment.baseline_codes.tolist() == [0, 1, 0, 1]
    assert alignment.candidate_codes.tolist() == [1, 2]
    assert alignment.in_both.tolist() == [False, True, False]


def test_record_means_average_each_records_runs_and_skip_missing() -> None:
    codes = np.array([0, 1, 0, 1, 0, 2])
    values = np.array([1.0, 0.0, 0.0, np.nan, 1.0, np.inf])
    means, counts = record_means(codes, values, 4)
    assert means[:2] == pytest.approx([2 / 3, 0.0])
    assert counts.tolist() == [3, 1, 0, 0]
    assert np.isnan(means[2]) and np.isnan(means[3])  # non-finite and absent records


def test_first_rows_pick_the_earliest_run() -> None:
    codes = np.array([1, 0, 1, 0])
    runs = np.array([2, 2, 1, 1], dtype=np.int32)
    assert first_rows(codes, runs, 3).tolist() == [3, 2, -1]
    assert first_rows(np.array([], dtype=np.intp), runs[:0], 2).tolist() == [-1, -1]


def test_enough_pairs_is_half_of_the_larger_side() -> None:
    assert enough_pairs(200, 400, 200)
    assert not enough_pairs(199, 400, 200)
    assert not enough_pairs(0, 0, 0)
