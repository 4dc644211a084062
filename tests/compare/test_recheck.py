"""Verdicts derived again from a report's numbers (`compare.recheck`): they agree with the
engine on every report it produces, and a report whose verdicts were forged gets them back."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.compare import compare, error_report
from driftgate.compare.recheck import recheck_metric, recheck_report
from driftgate.compare.schema import Metric, Report
from driftgate.config import parse_config
from driftgate.experiments.models import SummaryEvaluation
from tests.compare.builders import column, experiment, keys

LEVELS = st.sampled_from(["fail", "warn", "off"])


@st.composite
def comparisons(draw: st.DrawFn) -> Report:
    """Two experiments over varied records: a boolean, a score, a categorical, latency,
    tokens, a summary evaluator; drops and gains of any size; gate levels and minimum
    effects of any kind."""
    n = draw(st.integers(8, 120))
    rng = random.Random(draw(st.integers(0, 2**32)))
    base_rate, drop = draw(st.floats(0.3, 0.95)), draw(st.floats(-0.4, 0.4))
    shift, slow = draw(st.floats(-0.3, 0.3)), draw(st.floats(0.5, 3.0))
    ids = keys(n)

    def side(rate: float, mean: float, seconds: float, f1: float) -> dict[str, object]:
        return {
            "evaluators": [
                column("correct", "boolean", [int(rng.random() < rate) for _ in ids]),
                column("quality", "score", [rng.gauss(mean, 0.2) for _ in ids]),
                column("tone", "categorical", categories=[rng.choice("abc") for _ in ids]),
            ],
            "seconds": [rng.uniform(0.5, 1.5) * seconds for _ in ids],
            "tokens": [rng.uniform(10, 30) for _ in ids],
            "summaries": [SummaryEvaluation("f1", 1, "score", f1)],
        }

    base = experiment(ids, **side(base_rate, 0.6, 1.0, 0.8), info={"id": "b"})  # type: ignore[arg-type]
    cand = experiment(
        ids,
        **side(min(max(base_rate + drop, 0), 1), 0.6 + shift, slow, 0.8 + shift),  # type: ignore[arg-type]
        info={"id": "c"},
    )
    config = parse_config(
        {
            "alpha": draw(st.sampled_from([0.01, 0.05, 0.2])),
            "metrics": {
                "correct": {"level": draw(LEVELS), "min_effect": draw(st.sampled_from([0, 0.05]))},
                "quality": {"level": draw(LEVELS), "min_effect": draw(st.sampled_from([0, "5%"]))},
                "f1": {"level": draw(LEVELS)},
            },
            "budgets": {"latency": {"p95": "20%", "level": draw(LEVELS)}},
        }
    )
    return compare(base, cand, config)


def _forged(report: Report, verdict: str, metric_verdict: str) -> Report:
    metrics = [
        m.model_copy(update={"verdict": metric_verdict, "gate": "pass"}) for m in report.metrics
    ]
    return report.model_copy(update={"verdict": verdict, "metrics": metrics})


@settings(max_examples=60, deadline=None)
@given(comparisons())
def test_the_engines_verdicts_are_derived_again_exactly(report: Report) -> None:
    assert recheck_report(report) == report


@settings(max_examples=40, deadline=None)
@given(comparisons(), st.sampled_from(["pass", "no_baseline", "warn"]))
def test_forged_verdicts_are_replaced_by_what_the_figures_say(report: Report, claim: str) -> None:
    forged = _forged(report, claim, "unchanged")
    assert recheck_report(forged) == report


def test_a_forged_pass_over_a_significant_drop_fails() -> None:
    regressed = Metric(
        name="correct",
        kind="boolean",
        direction="higher",
        baseline=0.8,
        candidate=0.5,
        delta=-0.3,
        ci_low=-0.4,
        ci_high=-0.2,
        p_value=1e-6,
        n=200,
        verdict="unchanged",
        gate="pass",
        level="fail",
        min_effect=0.02,
    )
    checked = recheck_metric(regressed, 0.05)
    assert (checked.verdict, checked.gate) == ("regressed", "fail")
    # Lower is better: the same drop in the other direction is an improvement.
    better = recheck_metric(regressed.model_copy(update={"direction": "lower"}), 0.05)
    assert (better.verdict, better.gate) == ("improved", "pass")
    # A descriptive latency is judged on the change alone, whatever p says.
    latency = regressed.model_copy(
        update={"kind": "latency", "direction": "lower", "delta": 0.5, "p_value": None}
    )
    assert recheck_metric(latency, 0.05).gate == "fail"
    # Nonsense alpha or minimum effect falls back to the safe side.
    assert recheck_metric(regressed, float("nan")).gate == "fail"
    assert (
        recheck_metric(regressed.model_copy(update={"min_effect": float("nan")}), 0.05).gate
        == "fail"
    )


def test_an_error_stays_an_error_and_no_baseline_has_nothing_to_fail() -> None:
    error = error_report("the command failed")
    assert recheck_report(error).verdict == "error"
    # Without a baseline nothing was compared: neutral, whatever the report claims.
    for claim in ("pass", "fail", "warn"):
        claimed = error.model_copy(update={"verdict": claim})
        assert recheck_report(claimed).verdict == "no_baseline"


def test_a_result_whose_command_failed_is_an_error_whatever_its_reports_say() -> None:
    from datetime import UTC, datetime

    from driftgate.result import CommandResult, GateResult, recheck

    passed = recheck_report(error_report("x")).model_copy(update={"verdict": "pass"})
    failed = CommandResult(
        command="python evals.py",
        exit_code=1,
        timed_out=False,
        duration_s=1.0,
        started_at=datetime(2025, 1, 1, tzinfo=UTC),
        tail="",
    )
    forged = GateResult(reports=[passed], command=failed)
    assert forged.verdict == "pass"
    checked = recheck(forged)
    assert checked.verdict == "error"
    assert "exited with status 1" in checked.reports[0].warnings[0]
    ok = failed.model_copy(update={"exit_code": 0})
    assert recheck(GateResult(reports=[passed], command=ok)).verdict == "no_baseline"
