"""`no-baseline` (`--no-baseline`): what a run without a baseline concludes, and the check
saying why. The conclusion and the exit code are `verdict.py`'s; the words `report/`'s."""

from __future__ import annotations

import itertools

import pytest

from driftgate.report import CheckRules, render_check, status_description
from driftgate.result import GateResult
from driftgate.verdict import (
    FAIL_ON,
    NO_BASELINE,
    SEVERITY,
    FailOn,
    NoBaseline,
    Verdict,
    conclusion_for,
    decided_by_no_baseline,
    exit_code,
)
from tests.report.scenarios import CONTEXT, no_baseline_result, pass_report, warn_report

# Every list of one or two experiments' verdicts.
VERDICT_LISTS: list[list[Verdict]] = [[v] for v in SEVERITY] + [
    [a, b] for a, b in itertools.combinations_with_replacement(SEVERITY, 2)
]
POLICIES = list(itertools.product(FAIL_ON, NO_BASELINE))


def test_the_vocabulary_and_its_default() -> None:
    assert NO_BASELINE == ("neutral", "fail", "pass")
    assert conclusion_for("no_baseline", "regression") == "neutral"


@pytest.mark.parametrize(
    ("verdicts", "fail_on", "policy", "on_base", "expected"),
    [
        (["no_baseline"], "regression", "neutral", False, "neutral"),
        (["no_baseline"], "regression", "fail", False, "failure"),
        (["no_baseline"], "regression", "pass", False, "success"),
        # On the base branch the first run is recorded: never a failure.
        (["no_baseline"], "regression", "fail", True, "neutral"),
        (["no_baseline"], "regression", "pass", True, "success"),
        # One experiment without a baseline fails the check under `fail`, whatever the
        # others came to (the overall verdict, `warn`, would pass).
        (["warn", "no_baseline"], "regression", "fail", False, "failure"),
        (["pass", "no_baseline"], "regression", "fail", False, "failure"),
        (["warn", "no_baseline"], "regression", "neutral", False, "success"),
        (["pass", "no_baseline"], "regression", "pass", False, "success"),
        # What the others decide stands when it is worse.
        (["fail", "no_baseline"], "regression", "pass", False, "failure"),
        (["error", "no_baseline"], "never", "pass", False, "failure"),
        # `fail-on: never` does not soften an explicit `no-baseline: fail`.
        (["no_baseline"], "never", "fail", False, "failure"),
    ],
)
def test_conclusions(
    verdicts: list[Verdict], fail_on: FailOn, policy: NoBaseline, on_base: bool, expected: str
) -> None:
    assert conclusion_for(verdicts, fail_on, policy, on_base_branch=on_base) == expected
    code = exit_code(verdicts, fail_on, policy, on_base_branch=on_base)
    assert code == (1 if expected == "failure" else 0)


@pytest.mark.parametrize("verdicts", VERDICT_LISTS, ids=lambda v: "+".join(v))
def test_the_policy_only_ever_touches_runs_without_a_baseline(verdicts: list[Verdict]) -> None:
    for fail_on, policy in POLICIES:
        with_policy = conclusion_for(verdicts, fail_on, policy)
        on_base = conclusion_for(verdicts, fail_on, policy, on_base_branch=True)
        default = conclusion_for(verdicts, fail_on)
        if "no_baseline" not in verdicts:
            assert with_policy == on_base == default, (verdicts, fail_on, policy)
            assert not decided_by_no_baseline(verdicts, fail_on, policy)
            continue
        if policy == "fail":
            assert with_policy == "failure"
            # On the base branch `fail` reads as the default: recording is never a failure.
            assert on_base == default
        if policy == "pass" and "error" not in verdicts and "fail" not in verdicts:
            assert with_policy != "failure" or fail_on == "warning"


def _multi(*reports: object) -> GateResult:
    return GateResult(reports=list(reports))  # type: ignore[arg-type]


def test_the_check_says_why_it_is_neutral_by_default() -> None:
    result = no_baseline_result()
    check = render_check(result, CONTEXT)
    assert check.title.startswith("⚪ No baseline")
    assert check.title.endswith("· neutral: no-baseline is neutral")
    first = check.summary.split("\n\n")[0]
    assert first.startswith("**Why this check is neutral:** nothing was compared")
    assert "`no-baseline: fail`" in first
    assert "Record a run on `main`" in first


def test_the_check_says_why_it_failed_under_no_baseline_fail() -> None:
    rules = CheckRules("regression", "fail")
    result = no_baseline_result()
    assert rules.conclusion(result) == "failure"
    check = render_check(result, CONTEXT, rules)
    assert check.title.startswith("❌ No baseline")
    assert check.title.endswith("· failed: no-baseline is fail")
    assert check.summary.startswith("**Why this check failed:** nothing was compared, and ")
    assert "`baseline-experiment-id`" in check.summary
    assert status_description(result, rules).endswith("failed: no-baseline is fail")


def test_the_check_says_why_it_passed_under_no_baseline_pass() -> None:
    rules = CheckRules("regression", "pass")
    check = render_check(no_baseline_result(), CONTEXT, rules)
    assert check.title.startswith("✅ No baseline")
    assert check.summary.startswith("**Why this check passed:** nothing was compared")


def test_on_the_base_branch_the_check_says_it_records() -> None:
    rules = CheckRules("regression", "fail", on_base_branch=True)
    result = no_baseline_result()
    assert rules.conclusion(result) == "neutral"
    check = render_check(result, CONTEXT, rules)
    assert check.title.startswith("⚪ No baseline")
    assert check.title.endswith("· neutral: recorded on the base branch")
    assert "this run is on the base branch (`main`)" in check.summary
    assert "never a failure" in check.summary


def test_one_experiment_without_a_baseline_among_several_is_named() -> None:
    result = _multi(warn_report(), no_baseline_result().reports[0])
    rules = CheckRules("regression", "fail")
    check = render_check(result, CONTEXT, rules)
    assert rules.conclusion(result) == "failure"
    assert check.title.startswith("❌ ")
    assert "failed: no-baseline is fail" in check.title
    assert "**Why this check failed:** 1 experiment of 2 had no baseline" in check.summary


def test_nothing_is_added_where_the_baseline_does_not_decide() -> None:
    # A passing comparison, and a failing one beside a run without a baseline: the verdicts
    # alone decide, and the check says nothing about `no-baseline`.
    for result in (_multi(pass_report()), _multi(pass_report(), pass_report())):
        for rules in (CheckRules(), CheckRules("regression", "fail")):
            check = render_check(result, CONTEXT, rules)
            assert "no-baseline" not in check.title + check.summary
