"""What a verdict means, for the process and for GitHub, in one place: the verdicts and
their order of severity, the `fail-on` and `comment` vocabularies, exit codes, the check
run's conclusion, the commit status's state, and which verdicts create a comment under
`comment: on-regression`.

Pure and light (no pydantic): the command line reads its choices from here at every start.
"""

from __future__ import annotations

from typing import Literal, get_args

from driftgate.errors import EXIT_BACKEND, EXIT_USAGE

__all__ = [
    "COMMENT_MODES",
    "EXIT_BACKEND",
    "EXIT_GATE_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FAIL_ON",
    "SEVERITY",
    "CommentMode",
    "Conclusion",
    "FailOn",
    "StatusState",
    "Verdict",
    "alarming",
    "conclusion_for",
    "exit_code",
    "status_state",
    "worst",
]

Verdict = Literal["pass", "warn", "fail", "no_baseline", "error"]

# -------------------------------------------------------------------------- vocabularies

FailOn = Literal["regression", "warning", "never"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)

CommentMode = Literal["always", "on-change", "on-regression", "off"]
COMMENT_MODES: tuple[CommentMode, ...] = get_args(CommentMode)

Conclusion = Literal["success", "failure", "neutral"]
StatusState = Literal["success", "failure", "error", "pending"]

EXIT_OK, EXIT_GATE_FAILED = 0, 1

# Worst first: the overall verdict of several experiments is the worst of theirs.
SEVERITY: tuple[Verdict, ...] = ("error", "fail", "warn", "no_baseline", "pass")


# -------------------------------------------------------------------------- what a verdict means


def worst(verdicts: list[Verdict]) -> Verdict:
    for verdict in SEVERITY:
        if verdict in verdicts:
            return verdict
    return "pass"


def conclusion_for(verdict: Verdict, fail_on: FailOn) -> Conclusion:
    """The check run's conclusion: `no_baseline` is neutral, never a failure; an error
    always fails; otherwise `fail_on` says which verdicts fail."""
    if verdict == "error":
        return "failure"
    if verdict == "no_baseline":
        return "neutral"
    if fail_on == "never":
        return "neutral" if verdict == "fail" else "success"
    failing = {"fail", "warn"} if fail_on == "warning" else {"fail"}
    return "failure" if verdict in failing else "success"


def exit_code(verdict: Verdict, fail_on: FailOn) -> int:
    """1 when the check fails (the gate failed under `fail_on`, or the run errored), else 0."""
    return EXIT_GATE_FAILED if conclusion_for(verdict, fail_on) == "failure" else EXIT_OK


def status_state(conclusion: Conclusion) -> StatusState:
    """The commit status that stands in for the check run. A status has no "neutral", and
    no baseline is never a failure, so neutral shows as success."""
    return "failure" if conclusion == "failure" else "success"


def alarming(verdict: Verdict) -> bool:
    """Whether the verdict asks for attention: what `comment: on-regression` creates a
    comment for (an existing comment is updated whatever the verdict)."""
    return verdict in ("fail", "warn", "error")
