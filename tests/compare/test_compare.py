"""`compare` end to end on hand-made experiments: metrics, pairing, coverage, budgets."""

from __future__ import annotations

import pytest

from driftgate.compare import compare, no_baseline_report
from driftgate.compare.schema import Metric, Report
from driftgate.config import parse_config
from driftgate.experiments.models import SummaryEvaluation
from tests.compare.builders import column, experiment, keys, pass_fail


def metric(report: Report, name: str) -> Metric:
    found = [m for m in report.metrics if m.name == name]
    assert len(found) == 1, f"{name} in {[m.name for m in report.metrics]}"
    return found[0]


def test_a_clear_pass_rate_drop_fails_the_gate_and_lists_the_records() -> None:
    baseline_values = [1] * 150 + [0] * 50
    candidate_values = list(baseline_values)
    for i in range(30):  # 30 records break...
        candidate_values[i] = 0
    candidate_values[150] = candidate_values[151] = 1  # ...and 2 get fixed
    baseline, candidate = pass_fail(baseline_values, candidate_values)
    report = compare(baseline, candidate, baseline_reason="explicit baseline")
    m = metric(report, "correct")
    assert (m.kind, m.method, m.paired, m.n) == ("boolean", "mcnemar_exact", True, 200)
    assert m.baseline == pytest.approx(0.75)
    assert m.candidate == pytest.approx(0.61)
    assert m.delta == pytest.approx(-0.14)
    assert m.ci_low is not None and m.ci_high is not None and m.ci_low < -0.14 < m.ci_high
    assert m.p_value is not None and m.p_value < 1e-6
    assert (m.verdict, m.gate) == ("regressed", "fail")
    assert report.verdict == "fail"
    assert report.baseline_reason == "explicit baseline"
    records = report.records
    assert records.compared == 200
    assert records.regressed_count == 30
    assert records.regressed[:3] == ["r0", "r1", "r2"]
    assert records.improved == ["r150", "r151"]
    first = records.flipped[0]
    assert (first.id, first.direction) == ("r0", "regressed")
    assert first.changes[0].name == "correct"
    assert (first.changes[0].baseline, first.changes[0].candidate) == (1.0, 0.0)
    assert first.input == "input of r0"
    assert first.expected == "expected of r0"
    assert first.baseline_output == first.candidate_output == "output of r0"
    # Regressions come first; the list is cut at its limit and says so.
    assert [f.direction for f in records.flipped] == ["regressed"] * 20
    assert records.truncated


def test_identical_runs_are_unchanged_and_pass() -> None:
    values = [1] * 300 + [0] * 100
    report = compare(*pass_fail(values, values))
    m = metric(report, "correct")
    assert (m.verdict, m.gate, m.delta) == ("unchanged", "pass", 0.0)
    assert report.verdict == "pass"
    assert report.records.regressed == [] and report.records.flipped == []


def test_runs_are_averaged_per_record_before_pairing() -> None:
    # a: runs 1, 0 -> 0.5; b: one run, 1 -> 1.0. Per-record mean 0.75 (the row mean is 2/3).
    base = experiment(
        ["a", "a", "b"], runs=[1, 2, 1], evaluators=[column("correct", "boolean", [1, 0, 1])]
    )
    cand = experiment(
        ["a", "a", "b", "b"],
        runs=[1, 2, 1, 2],
        evaluators=[column("correct", "boolean", [1, 1, 0, 1])],
    )
    m = metric(compare(base, cand), "correct")
    assert m.baseline == pytest.approx(0.75)
    assert m.candidate == pytest.approx(0.75)  # a: 1.0, b: 0.5
    assert m.method != "mcnemar_exact"  # averaged values are not one-run pass/fail
    assert m.n == 2


def test_partial_overlap_pairs_what_it_can_and_says_so() -> None:
    base = experiment(keys(10), evaluators=[column("s", "score", [0.5] * 10)])
    cand_ids = keys(15)[5:]
    cand = experiment(cand_ids, evaluators=[column("s", "score", [0.5] * 10)])
    report = compare(base, cand)
    m = metric(report, "s")
    assert m.paired and m.n == 5
    assert any("paired over the 5 records" in note for note in m.notes)
    assert (report.records.baseline_only, report.records.candidate_only) == (5, 5)
    assert report.records.baseline_only_ids == keys(5)
    assert any("5 record(s) are in the baseline only" in w for w in report.warnings)


def test_fewer_than_half_paired_falls_back_to_unpaired_and_says_so() -> None:
    base = experiment(keys(10), evaluators=[column("correct", "boolean", [1] * 10)])
    cand = experiment(keys(18)[8:], evaluators=[column("correct", "boolean", [1, 1] + [0] * 8)])
    report = compare(base, cand)
    m = metric(report, "correct")
    assert not m.paired
    assert m.method == "fisher_exact"
    assert m.n == 20
    assert m.baseline == 1.0 and m.candidate == pytest.approx(0.2)
    assert any("independent samples" in note for note in m.notes)
    assert any("independent samples" in w and "correct" in w for w in report.warnings)


def test_evaluators_on_one_side_json_and_type_changes_are_reported_not_dropped() -> None:
    ids = keys(4)
    base = experiment(
        ids,
        evaluators=[
            column("old", "boolean", [1, 1, 0, 1]),
            column("blob", "json", [None] * 4),
            column("kind", "categorical", categories=["a", "b", "a", "a"]),
        ],
    )
    cand = experiment(
        ids,
        evaluators=[
            column("new", "score", [0.1, 0.2, 0.3, 0.4]),
            column("blob", "json", [None] * 4),
            column("kind", "score", [1, 2, 3, 4]),
        ],
    )
    report = compare(base, cand)
    assert report.metrics == [m for m in report.metrics if m.kind not in ("boolean", "score")]
    coverage = {c.label: c for c in report.evaluators}
    assert coverage["old"].reason == "baseline only" and not coverage["old"].compared
    assert coverage["new"].reason == "candidate only"
    assert coverage["blob"].reason == "json evaluators are reported, not gated"
    assert coverage["kind"].reason == "type changed"
    text = "\n".join(report.warnings)
    assert "'old' is in the baseline only" in text
    assert "'new' is in the candidate only" in text
    assert "json evaluators are reported, not gated: 'blob'" in text
    assert "'kind' changed type (categorical -> score)" in text


def test_boolean_to_score_is_compared_as_a_score_with_a_warning() -> None:
    ids = keys(3)
    base = experiment(ids, evaluators=[column("x", "boolean", [1, 0, 1])])
    cand = experiment(ids, evaluators=[column("x", "score", [0.9, 0.1, 0.8])])
    report = compare(base, cand)
    assert metric(report, "x").kind == "score"
    assert any("compared as scores" in w for w in report.warnings)


def test_evaluator_errors_are_counted_and_left_out() -> None:
    ids = keys(10)
    base = experiment(ids, evaluators=[column("correct", "boolean", [1] * 10)])
    cand = experiment(
        ids,
        evaluators=[
            column(
                "correct",
                "boolean",
                [1] * 7 + [None] * 3,
                errored=[False] * 7 + [True] * 3,
            )
        ],
    )
    report = compare(base, cand)
    m = metric(report, "correct")
    assert m.n == 7
    assert m.candidate == 1.0
    cov = next(c for c in report.evaluators if c.label == "correct")
    assert (cov.errors_baseline, cov.errors_candidate) == (0, 3)
    assert cov.error_rate_candidate == pytest.approx(0.3)
    assert any(
        "errored on 3 of 10 candidate rows (baseline: 0 of 10)" in w for w in report.warnings
    )


def test_an_evaluator_without_any_value_is_inconclusive_not_an_error() -> None:
    ids = keys(5)
    base = experiment(ids, evaluators=[column("empty", "score", [None] * 5)])
    cand = experiment(ids, evaluators=[column("empty", "score", [None] * 5)])
    report = compare(base, cand)
    m = metric(report, "empty")
    assert (m.n, m.verdict, m.gate, m.p_value) == (0, "inconclusive", "pass", None)
    assert any("'empty' could not be tested" in w for w in report.warnings)


def test_categorical_with_assessment_is_a_pass_rate() -> None:
    ids = keys(4)
    cats = ["good", "good", "bad", "good"]
    base = experiment(
        ids, evaluators=[column("grade", "categorical", passed=[1, 1, 0, 1], categories=cats)]
    )
    cand = experiment(
        ids, evaluators=[column("grade", "categorical", passed=[1, 0, 0, 1], categories=cats)]
    )
    m = metric(compare(base, cand), "grade")
    assert (m.kind, m.unit, m.direction) == ("categorical", "pass rate", "higher")
    assert (m.baseline, m.candidate) == (0.75, 0.5)
    assert m.method == "mcnemar_exact"


def test_categorical_with_pass_values_from_the_config_is_a_pass_rate() -> None:
    ids = keys(4)
    base = experiment(
        ids, evaluators=[column("grade", "categorical", categories=["A", "B", "C", None])]
    )
    cand = experiment(
        ids, evaluators=[column("grade", "categorical", categories=["A", "C", "C", "A"])]
    )
    config = parse_config({"metrics": {"grade": {"pass_values": ["A", "B"]}}})
    m = metric(compare(base, cand, config), "grade")
    assert m.baseline == pytest.approx(2 / 3)  # record 3 has no category on the baseline
    assert m.candidate == pytest.approx(1 / 3)
    assert m.n == 3
    assert any("pass = one of 'A', 'B'" in n for n in m.notes)


def test_pass_values_win_over_the_evaluators_assessment() -> None:
    ids = keys(2)
    cats = ["A", "C"]
    base = experiment(ids, evaluators=[column("g", "categorical", passed=[0, 0], categories=cats)])
    config = parse_config({"metrics": {"g": {"pass_values": ["A"]}}})
    assert metric(compare(base, base, config), "g").baseline == 0.5


def test_categorical_without_assessment_reports_its_distribution_ungated() -> None:
    ids = keys(200)
    base = experiment(
        ids, evaluators=[column("topic", "categorical", categories=["x"] * 100 + ["y"] * 100)]
    )
    cand = experiment(
        ids, evaluators=[column("topic", "categorical", categories=["x"] * 180 + ["y"] * 20)]
    )
    m = metric(compare(base, cand), "topic")
    assert (m.direction, m.gate, m.level, m.method) == ("none", "pass", "off", "chi_square")
    assert m.baseline is None and m.delta is None
    assert m.distribution == {"x": (0.5, 0.9), "y": (0.5, 0.1)}
    assert m.p_value is not None and m.p_value < 0.001
    assert m.verdict == "inconclusive"  # it moved, and there is no better or worse
    assert any("40.0% (total variation)" in n for n in m.notes)
    same = metric(compare(base, base), "topic")
    assert (same.verdict, same.p_value) == ("unchanged", 1.0)


def test_categorical_mode_per_record_over_runs() -> None:
    # Record a: x, x, y -> x; record b: y, y, x -> y.
    base = experiment(
        ["a", "a", "a", "b", "b", "b"],
        runs=[1, 2, 3, 1, 2, 3],
        evaluators=[column("topic", "categorical", categories=["x", "x", "y", "y", "y", "x"])],
    )
    m = metric(compare(base, base), "topic")
    assert m.distribution == {"x": (0.5, 0.5), "y": (0.5, 0.5)}
    assert m.n == 4  # two records per side


def test_direction_lower_from_the_config() -> None:
    ids = keys(100)
    base = experiment(ids, evaluators=[column("toxicity", "score", [0.1] * 100)])
    cand = experiment(ids, evaluators=[column("toxicity", "score", [0.3] * 100)])
    config = parse_config({"metrics": {"tox*": {"direction": "lower", "min_effect": 0.05}}})
    m = metric(compare(base, cand, config), "toxicity")
    assert (m.direction, m.method, m.verdict, m.gate) == ("lower", "sign_test", "regressed", "fail")
    assert m.min_effect == 0.05


def test_summary_evaluators_are_descriptive() -> None:
    ids = keys(2)
    base = experiment(
        ids,
        summaries=[
            SummaryEvaluation("f1", 1, "score", 0.80),
            SummaryEvaluation("f1", 2, "score", 0.82),
            SummaryEvaluation("label", 1, "categorical", "ok"),
        ],
    )
    cand = experiment(ids, summaries=[SummaryEvaluation("f1", 1, "score", 0.70)])
    report = compare(base, cand)
    m = metric(report, "f1")
    assert (m.kind, m.method, m.p_value, m.ci_low) == ("summary", "descriptive", None, None)
    assert m.baseline == pytest.approx(0.81)
    assert m.delta == pytest.approx(-0.11)
    # Reported, but not gated unless the config gives it a level.
    assert (m.verdict, m.gate, m.level) == ("regressed", "pass", "off")
    assert (m.n_baseline, m.n_candidate) == (2, 1)
    assert report.verdict == "pass"
    warned = compare(base, cand, parse_config({"metrics": {"f1": {"level": "warn"}}}))
    assert (metric(warned, "f1").gate, warned.verdict) == ("warn", "warn")
    coverage = {c.label: c for c in report.evaluators}
    assert coverage["label"].source == "summary" and not coverage["label"].compared
    assert any("summary evaluator 'label'" in w for w in report.warnings)


def test_budgets_errors_tokens_cost_latency() -> None:
    ids = keys(200)
    base = experiment(
        ids,
        task_error=[False] * 200,
        tokens=[100.0 + i % 7 for i in range(200)],
        seconds=[1.0 + (i % 10) / 10 for i in range(200)],
    )
    cand = experiment(
        ids,
        task_error=[True] * 20 + [False] * 180,
        tokens=[150.0 + i % 5 for i in range(200)],
        cost=[0.01] * 200,
        seconds=[2.0 + (i % 10) / 5 for i in range(200)],
    )
    report = compare(base, cand)
    errors = metric(report, "errors")
    assert (errors.kind, errors.direction, errors.method) == ("errors", "lower", "mcnemar_exact")
    assert errors.delta == pytest.approx(0.10)
    assert (errors.verdict, errors.gate) == ("regressed", "fail")
    tokens = metric(report, "tokens")
    assert tokens.relative_delta == pytest.approx(tokens.delta / tokens.baseline)  # type: ignore[operator]
    assert tokens.min_effect == pytest.approx(0.2 * tokens.baseline)  # type: ignore[operator]
    assert (tokens.verdict, tokens.gate) == ("regressed", "warn")
    assert "cost" not in {m.name for m in report.metrics}
    assert any("cost are reported by the candidate only" in w for w in report.warnings)
    p95 = metric(report, "latency_p95")
    assert (p95.kind, p95.unit, p95.method, p95.p_value) == (
        "latency",
        "seconds",
        "descriptive",
        None,
    )
    assert p95.candidate == pytest.approx(2 * p95.baseline)  # type: ignore[operator]
    assert (p95.verdict, p95.gate) == ("regressed", "warn")
    assert report.verdict == "fail"
    # The record whose task started failing is listed as regressed.
    assert report.records.regressed[:2] == ["r0", "r1"]


def test_budget_levels_and_limits_come_from_the_config() -> None:
    ids = keys(200)
    base = experiment(ids, tokens=[100.0 + i % 7 for i in range(200)])
    cand = experiment(ids, tokens=[110.0 + i % 7 for i in range(200)])
    loose = compare(base, cand)
    assert metric(loose, "tokens").verdict == "unchanged"  # +10% is inside the 20% default
    strict = compare(
        base, cand, parse_config({"budgets": {"tokens": {"max_increase": "5%", "level": "fail"}}})
    )
    assert (metric(strict, "tokens").verdict, strict.verdict) == ("regressed", "fail")


def test_dataset_and_config_differences_are_flagged() -> None:
    ids = keys(3)
    base = experiment(ids, info={"dataset_version": 1, "config": {"model": "a", "t": 0}})
    cand = experiment(ids, info={"dataset_version": 2, "config": {"model": "b", "t": 0}})
    report = compare(base, cand)
    text = "\n".join(report.warnings)
    assert "dataset version 1, the candidate on 2" in text
    assert "config differs from the baseline's: model" in text


def test_empty_candidate_is_an_error_and_empty_baseline_is_no_baseline() -> None:
    full = experiment(keys(3), evaluators=[column("c", "boolean", [1, 0, 1])])
    empty = experiment([], info={"id": "nothing"})
    assert compare(full, empty).verdict == "error"
    report = compare(empty, full, baseline_reason="merge-base run")
    assert report.verdict == "no_baseline"
    assert report.baseline_reason == "merge-base run; the baseline nothing has no records"


def test_single_record_experiments_do_not_break() -> None:
    base = experiment(
        ["only"], evaluators=[column("c", "boolean", [1]), column("s", "score", [0.4])]
    )
    cand = experiment(
        ["only"], evaluators=[column("c", "boolean", [0]), column("s", "score", [0.2])]
    )
    report = compare(base, cand)
    assert {m.verdict for m in report.metrics if m.name in ("c", "s")} == {"inconclusive"}
    assert report.verdict == "pass"


def test_nothing_in_common_at_all() -> None:
    base = experiment(keys(3, "a"), evaluators=[column("s", "score", [0.1, 0.2, 0.3])])
    cand = experiment(keys(3, "b"), evaluators=[column("s", "score", [0.1, 0.2, 0.3])])
    report = compare(base, cand)
    m = metric(report, "s")
    assert not m.paired
    assert m.method == "welch_t"
    assert report.records.compared == 0


def test_no_baseline_report_lists_the_candidates_own_figures() -> None:
    cand = experiment(keys(4), evaluators=[column("c", "boolean", [1, 1, 0, 1])], tokens=[10.0] * 4)
    report = no_baseline_report(cand, baseline_reason="first run on main")
    assert (report.verdict, report.baseline, report.baseline_reason) == (
        "no_baseline",
        None,
        "first run on main",
    )
    m = metric(report, "c")
    assert (m.baseline, m.candidate, m.delta, m.p_value) == (None, 0.75, None, None)
    assert (m.verdict, m.gate) == ("inconclusive", "pass")
    assert metric(report, "tokens").candidate == 10.0
    topic = experiment(keys(2), evaluators=[column("t", "categorical", categories=["x", "y"])])
    assert metric(no_baseline_report(topic), "t").distribution == {
        "x": (None, 0.5),
        "y": (None, 0.5),
    }
    assert no_baseline_report(experiment([])).metrics == []
