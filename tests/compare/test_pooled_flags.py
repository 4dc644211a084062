"""What a pooled baseline says among the warnings (compare/pooled_flags.py), and the
known-flaky list naming the regressed ones first."""

from __future__ import annotations

import numpy as np

from driftgate.compare import compare_pooled
from driftgate.compare.pooled import PoolSettings
from driftgate.compare.pooled_flags import history_flags
from tests.compare.test_pooled import boolean_run, simulated


def test_the_warnings_end_with_the_history_flags() -> None:
    history, candidate = simulated(np.random.default_rng(7), 400, 5, drift=0.15, at=2)
    report = compare_pooled(history, candidate)
    assert report.history is not None
    flags = history_flags(report.history)
    assert report.warnings[-len(flags) :] == flags
    assert flags[0].startswith("baseline: 2 base-branch runs pooled (2 iterations")
    assert flags[0].endswith("newest b0")
    assert flags[1] == report.history.change_point


def test_the_regressed_known_flaky_records_come_first() -> None:
    # r0..r9 stable passes, r10..r19 flaky (passed in one base run of two); the candidate
    # fails r15..r19 and r0..r9 pass still.
    a = np.r_[np.ones(10), np.ones(5), np.zeros(5)]
    b = np.r_[np.ones(10), np.zeros(5), np.ones(5)]
    cand = np.r_[np.ones(10), np.ones(5), np.zeros(5)]
    report = compare_pooled(
        [boolean_run(a, run_id="a"), boolean_run(b, run_id="b")],
        boolean_run(cand, run_id="c"),
        settings=PoolSettings(shift_alpha=1e-12),
    )
    assert report.history is not None
    regressed = set(report.records.regressed)
    assert regressed == {f"r{i}" for i in range(15, 20)}
    assert report.history.flaky[:5] == [f"r{i}" for i in range(15, 20)]
    assert sorted(report.history.flaky[5:]) == sorted(f"r{i}" for i in range(10, 15))
    assert report.history.regressed_flaky == 5
    assert any("known-flaky" in w and "5 of them among the regressed" in w for w in report.warnings)
