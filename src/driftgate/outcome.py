"""What a verdict means for the process and for GitHub: exit codes (DESIGN.md's contract),
the `fail-on` policy, and the check run's conclusion. One place, for the CLI and the Action."""

from __future__ import annotations

from typing import Literal

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_BACKEND = 0, 1, 2, 3
FAIL_ON = ("regression", "warning", "never")

Conclusion = Literal["success", "failure", "neutral"]


def conclusion_for(verdict: str, fail_on: str) -> Conclusion:
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


def exit_code(verdict: str, fail_on: str) -> int:
    """1 when the check fails (the gate failed under `fail_on`, or the run errored), else 0."""
    return EXIT_GATE_FAILED if conclusion_for(verdict, fail_on) == "failure" else EXIT_OK
