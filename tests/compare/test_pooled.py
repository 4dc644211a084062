"""The baseline pooled from several base-branch runs (compare/pooled.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftgate.compare import compare, compare_pooled
from driftgate.compare.pooled import PoolSettings, find_change_point, pool
from driftgate.experiments.models import ExperimentData
from tests.compare.builders import column, experiment

NO_HARM = PoolSettings(harm_alpha=0.0)  # the default: no lenient cut


def boolean_run(
    outcomes: np.ndarray, *, run_id: str, iterations: int = 1, config: dict | None = None
) -> ExperimentData:
    """One experiment run: `outcomes` is records x iterations (or records) of 0/1."""
    grid = outcomes.reshape(len(outcomes), -1) if outcomes.ndim == 1 else outcomes
    n, runs = grid.shape
    keys = [f"r{i}" for i in range(n)] * runs
    values = grid.T.reshape(-1).astype(float).tolist()
    return experiment(
        keys,
        runs=[r + 1 for r in range(runs) for _ in range(n)],
        evaluators=[column("correct", "boolean", values)],
        info={"id": run_id, "config": config or {}},
    )


def simulated(
    rng: np.random.Generator, records: int, base_runs: int, *, drift: float = 0.0, at: int = 0
) -> tuple[list[ExperimentData], ExperimentData]:
    """Records of U-shaped difficulty; the newest `at` base runs and the candidate pass
    `drift` less often (proportionally) than the older ones."""
    latent = rng.beta(0.22, 0.09, records)
    newer = latent * (1 - drift / latent.mean())
    history = [
        boolean_run(
            (rng.random(records) < (newer if j < at else latent)).astype(float), run_id=f"b{j}"
        )
        for j in range(base_runs)
    ]
    return history, boolean_run((rng.random(records) < newer).astype(float), run_id="cand")


def test_one_base_run_gives_exactly_todays_report() -> None:
    history, candidate = simulated(np.random.default_rng(1), 300, 1)
    pooled = compare_pooled(history, candidate)
    assert pooled == compare(history[0], candidate)
    assert pooled.history is None
    # Runs beyond the first without records change nothing either.
    empty = experiment([], info={"id": "empty"})
    assert compare_pooled([history[0], empty], candidate) == pooled


def test_no_usable_history_is_no_baseline() -> None:
    _, candidate = simulated(np.random.default_rng(2), 50, 1)
    report = compare_pooled([experiment([], info={"id": "empty"})], candidate)
    assert report.verdict == "no_baseline"
    assert "no base-branch run" in report.baseline_reason


def test_pooled_figures_by_hand() -> None:
    keys = ["r1", "r2", "r3", "r4"]
    base_a = experiment(
        keys, evaluators=[column("s", "score", [0.5, 0.7, 0.9, 0.3])], info={"id": "a"}
    )
    base_b = experiment(
        keys, evaluators=[column("s", "score", [0.7, 0.5, 0.9, 0.5])], info={"id": "b"}
    )
    candidate = experiment(
        keys, evaluators=[column("s", "score", [0.4, 0.6, 0.7, 0.3])], info={"id": "c"}
    )
    report = compare_pooled([base_a, base_b], candidate)
    metric = next(m for m in report.metrics if m.name == "s")
    # Per-record pooled means 0.6, 0.6, 0.9, 0.4; differences -0.2, 0, -0.2, -0.1.
    assert metric.baseline == pytest.approx(0.625)
    assert metric.candidate == pytest.approx(0.5)
    assert metric.delta == pytest.approx(-0.125)
    se = math.sqrt(0.0275 / 3) / 2
    half = stats.t.ppf(0.95, 3) * se
    assert metric.ci_low == pytest.approx(-0.125 - half)
    assert metric.ci_high == pytest.approx(-0.125 + half)
    assert metric.method == "sign_flip_exact"  # three records moved
    assert report.history is not None
    assert (report.history.pooled, report.history.observations) == (2, 2)
    assert not any("run(s), the candidate" in w for w in report.warnings)


def test_pooling_shrinks_the_baselines_noise_only() -> None:
    """The spread of the estimated change over repetitions: a one-run candidate against one
    base run has the noise of two runs per record; against five, of 1 + 1/5 runs."""
    rng = np.random.default_rng(3)
    one, five, mde_one, mde_five = [], [], [], []
    for _ in range(120):
        history, candidate = simulated(rng, 200, 5)
        single = next(m for m in compare(history[0], candidate).metrics if m.name == "correct")
        pooled = next(
            m
            for m in compare_pooled(history, candidate, settings=NO_HARM).metrics
            if m.name == "correct"
        )
        one.append(single.delta)
        five.append(pooled.delta)
        mde_one.append(single.mde)
        mde_five.append(pooled.mde)
    ratio = np.var(five) / np.var(one)
    assert 0.4 < ratio < 0.85  # (1 + 1/5) / 2 = 0.6
    # The test's own standard error follows: its detectable effect shrinks by about sqrt(0.6).
    assert 0.65 < np.mean(mde_five) / np.mean(mde_one) < 0.9


def test_false_alarms_stay_under_alpha_without_change() -> None:
    rng = np.random.default_rng(4)
    fails = sum(compare_pooled(*simulated(rng, 150, 5)).verdict == "fail" for _ in range(150))
    assert fails <= 15  # 5% of 150 is 7.5; 15 is far beyond chance for a sound test


def test_a_clear_shift_is_a_change_point() -> None:
    history, _ = simulated(np.random.default_rng(5), 400, 5, drift=0.15, at=2)
    point = find_change_point(history)
    assert point is not None
    assert point.keep == 2
    assert point.metric == "correct"
    assert point.shift < -0.1
    assert point.harmful


def test_noise_is_not_a_change_point() -> None:
    rng = np.random.default_rng(6)
    cuts = sum(
        find_change_point(simulated(rng, 400, 5)[0], settings=NO_HARM) is not None
        for _ in range(40)
    )
    assert cuts <= 2  # 1% level: 0.4 expected


def test_change_point_pools_only_the_newest_runs_and_says_so() -> None:
    history, candidate = simulated(np.random.default_rng(7), 400, 5, drift=0.15, at=2)
    report = compare_pooled(history, candidate)
    assert report.history is not None
    assert report.history.pooled == 2
    assert [r.pooled for r in report.history.runs] == [True, True, False, False, False]
    assert report.history.runs[2].why == "before a change point the data show"
    assert "the base branch changed" in report.history.change_point
    assert report.history.change_point in report.warnings
    # Pooled over the newest two alone, nothing regressed: the candidate is their system.
    assert report.verdict != "fail"


def test_a_different_config_is_a_declared_change_point() -> None:
    rng = np.random.default_rng(8)
    history, candidate = simulated(rng, 100, 3)
    older = history[2].info.model_copy(update={"config": {"model": "small"}})
    history[2] = replace(history[2], info=older)
    report = compare_pooled(history, candidate)
    assert report.history is not None
    assert report.history.pooled == 2
    assert "config differs" in report.history.runs[2].why
    assert "model" in report.history.change_point


def test_known_flaky_records() -> None:
    # r0 always passes, r1 passed once of two base runs, r2 never passes, r3 errored once.
    base_a = boolean_run(np.array([1.0, 1.0, 0.0, 1.0]), run_id="a")
    base_b = boolean_run(np.array([1.0, 0.0, 0.0, 1.0]), run_id="b")
    base_b = replace(base_b, task_error=np.array([False, False, False, True]))
    candidate = boolean_run(np.array([1.0, 1.0, 0.0, 1.0]), run_id="c")
    report = compare_pooled([base_a, base_b], candidate)
    assert report.history is not None
    assert report.history.flaky == ["r1", "r3"]
    assert report.history.flaky_count == 2


def test_a_regression_of_flaky_records_only_is_labelled() -> None:
    # 60 records that passed in one base run of two (half of them in each, so the runs
    # agree overall), all failing now; 140 stable passes.
    flaky = 60
    half = np.r_[np.ones(flaky // 2), np.zeros(flaky // 2)]
    a = np.r_[half, np.ones(140)]
    b = np.r_[1 - half, np.ones(140)]
    cand = np.r_[np.zeros(flaky), np.ones(140)]
    report = compare_pooled(
        [boolean_run(a, run_id="a"), boolean_run(b, run_id="b")],
        boolean_run(cand, run_id="c"),
        settings=PoolSettings(shift_alpha=1e-12, harm_alpha=1e-12),
    )
    metric = next(m for m in report.metrics if m.name == "correct")
    assert metric.verdict == "regressed"
    assert report.history is not None
    assert report.history.flaky_only == ["correct"]
    assert any("known-flaky" in note for note in metric.notes)
    # A stable record that broke too: no longer only flaky ones.
    cand[-1] = 0.0
    report = compare_pooled(
        [boolean_run(a, run_id="a"), boolean_run(b, run_id="b")],
        boolean_run(cand, run_id="c"),
        settings=PoolSettings(shift_alpha=1e-12, harm_alpha=1e-12),
    )
    assert report.history is not None
    assert report.history.flaky_only == []
    assert report.history.regressed_flaky == flaky


def test_pool_keeps_every_observation() -> None:
    a = boolean_run(np.array([[1.0, 0.0], [1.0, 1.0]]), run_id="a")  # 2 records x 2 iterations
    b = boolean_run(np.array([0.0, 1.0, 1.0]), run_id="b")  # 3 records x 1
    pooled = pool([a, b])
    assert pooled.rows == a.rows + b.rows
    assert pooled.info.id == "a"
    assert sorted(set(pooled.run_iteration.tolist())) == [1, 2, 3]
    assert pooled.info.run_count == 3


outcomes = st.lists(st.booleans(), min_size=8, max_size=8)


@settings(max_examples=40, deadline=None)
@given(base=outcomes, cand=outcomes, copies=st.integers(min_value=2, max_value=5))
def test_identical_runs_pool_to_the_same_figures(
    base: list[bool], cand: list[bool], copies: int
) -> None:
    """Copies of one base run are one run's figures: the same per-record values, no change
    point, no known-flaky record."""
    run = boolean_run(np.array(base, dtype=float), run_id="a")
    candidate = boolean_run(np.array(cand, dtype=float), run_id="c")
    single = next(m for m in compare(run, candidate).metrics if m.name == "correct")
    report = compare_pooled([run] * copies, candidate)
    pooled = next(m for m in report.metrics if m.name == "correct")
    assert (pooled.baseline, pooled.candidate, pooled.delta) == (
        single.baseline,
        single.candidate,
        single.delta,
    )
    assert report.history is not None
    assert report.history.pooled == copies
    assert report.history.change_point == ""
    assert report.history.flaky == []


@settings(max_examples=40, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.sampled_from([0.0, 1.0]), min_size=6, max_size=6), min_size=2, max_size=4
    )
)
def test_the_pooled_baseline_is_the_mean_of_every_observation(runs: list[list[float]]) -> None:
    history = [boolean_run(np.array(r), run_id=f"b{i}") for i, r in enumerate(runs)]
    candidate = boolean_run(np.ones(6), run_id="c")
    report = compare_pooled(
        history, candidate, settings=PoolSettings(shift_alpha=1e-12, harm_alpha=1e-12)
    )
    metric = next(m for m in report.metrics if m.name == "correct")
    assert metric.baseline == pytest.approx(float(np.mean(runs)))
    assert report.history is not None
    expected_flaky = [f"r{i}" for i in range(6) if 0 < np.mean([r[i] for r in runs]) < 1]
    assert report.history.flaky == expected_flaky


def _shifted_history() -> tuple[list[ExperimentData], ExperimentData]:
    """The base branch got worse at its newest run (20 of 200 records stopped passing), and
    the candidate is that newest system, unchanged."""
    newest = np.r_[np.ones(140), np.zeros(60)]
    older = np.r_[np.ones(160), np.zeros(40)]
    history = [boolean_run(newest, run_id="b0")] + [
        boolean_run(older, run_id=f"b{j}") for j in range(1, 5)
    ]
    return history, boolean_run(newest, run_id="cand")


def test_a_change_the_newest_run_does_not_confirm_is_not_counted() -> None:
    history, candidate = _shifted_history()
    blind = PoolSettings(shift_alpha=1e-12, confirm=False)
    unconfirmed = compare_pooled(history, candidate, settings=blind)
    assert unconfirmed.verdict == "fail"  # the pooled test alone: the older runs' 80% rate
    report = compare_pooled(history, candidate, settings=PoolSettings(shift_alpha=1e-12))
    metric = next(m for m in report.metrics if m.name == "correct")
    assert metric.verdict == "inconclusive"
    assert metric.gate == "pass"
    assert metric.p_value == 1.0  # nothing moved against the newest run
    assert report.verdict == "pass"
    assert report.history is not None
    assert report.history.unconfirmed == ["correct"]
    assert any("newest base run alone" in note for note in metric.notes)


def test_a_change_point_finds_that_shift_too() -> None:
    history, candidate = _shifted_history()
    report = compare_pooled(history, candidate)
    assert report.history is not None
    assert report.history.pooled == 1
    assert report.verdict == "pass"


def test_pooled_reports_survive_the_recheck() -> None:
    """A fork's artifact is judged again from its figures (compare/recheck.py): the pooled
    verdicts, confirmation included, must be what the figures say."""
    from driftgate.compare.recheck import recheck_report

    rng = np.random.default_rng(9)
    for drift in (0.0, 0.05, 0.1):
        report = compare_pooled(*simulated(rng, 300, 5, drift=drift, at=1))
        assert recheck_report(report) == report
    history, candidate = _shifted_history()
    report = compare_pooled(history, candidate, settings=PoolSettings(shift_alpha=1e-12))
    assert recheck_report(report) == report


def test_the_adjusted_confirmation_is_stricter() -> None:
    rng = np.random.default_rng(10)
    for _ in range(5):
        history, candidate = simulated(rng, 300, 5, drift=0.03, at=1)
        loose = compare_pooled(history, candidate)
        strict = compare_pooled(history, candidate, settings=PoolSettings(confirm_adjusted=True))
        for a, b in zip(loose.metrics, strict.metrics, strict=True):
            if a.p_value is not None and a.family is not None:
                assert b.p_value is not None
                assert b.p_value >= a.p_value


def _two_metric_run(outcomes: np.ndarray, run_id: str) -> ExperimentData:
    values = outcomes.astype(float).tolist()
    return experiment(
        [f"r{i}" for i in range(len(outcomes))],
        runs=[1] * len(outcomes),
        evaluators=[column("correct", "boolean", values), column("grounded", "boolean", values)],
        info={"id": run_id, "config": {}},
    )


def test_the_confirmation_is_holm_adjusted_over_the_metrics_the_pooled_test_flagged() -> None:
    """The base branch moved both gated metrics at its newest run; the candidate lost 5 more
    records on both. Against the newest run alone each loss has p = 1/32 (the exact
    sign-flip test, 5 records moved), under alpha alone but not once adjusted for the two
    metrics the pooled test flagged: a shift of the base branch must not pass twice."""
    newest = np.r_[np.ones(140), np.zeros(60)]
    older = np.r_[np.ones(160), np.zeros(40)]
    candidate_outcomes = newest.copy()
    candidate_outcomes[:5] = 0
    history = [_two_metric_run(newest, "b0")] + [
        _two_metric_run(older, f"b{j}") for j in range(1, 5)
    ]
    candidate = _two_metric_run(candidate_outcomes, "cand")
    blind = {"shift_alpha": 1e-12}
    each = compare_pooled(history, candidate, settings=PoolSettings(**blind, confirm_flagged=False))
    gated = ("correct", "grounded")
    assert [m.verdict for m in each.metrics if m.name in gated] == ["regressed", "regressed"]
    flagged = compare_pooled(history, candidate, settings=PoolSettings(**blind))
    for a, b in zip(each.metrics, flagged.metrics, strict=True):
        if a.name in gated:
            assert a.p_value == pytest.approx(1 / 32)
            assert b.p_value == pytest.approx(2 / 32)
            assert b.verdict == "inconclusive"
    assert flagged.verdict == "pass"
    assert flagged.history is not None
    assert flagged.history.unconfirmed == ["correct", "grounded"]
    # One metric flagged: the same as confirming it at alpha alone.
    single = [boolean_run(newest, run_id="b0")] + [
        boolean_run(older, run_id=f"b{j}") for j in range(1, 5)
    ]
    one = boolean_run(candidate_outcomes, run_id="cand")
    assert compare_pooled(single, one, settings=PoolSettings(**blind)) == compare_pooled(
        single, one, settings=PoolSettings(**blind, confirm_flagged=False)
    )
