"""What a verdict means, for the process and for GitHub, in one place: the verdicts and
their order of severity, the `fail-on`, `no-baseline` and `comment` vocabularies, the
charset of pipeline names (they name the check), exit codes, the check run's conclusion,
the commit status's state, and which verdicts create a comment under
`comment: on-regression`.

Pure and light (no pydantic): the command line reads its choices from here at every start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, get_args

from driftgate.errors import EXIT_BACKEND, EXIT_USAGE

__all__ = [
    "COMMENT_MODES",
    "EXIT_BACKEND",
    "EXIT_GATE_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FAIL_ON",
    "NO_BASELINE",
    "PIPELINE",
    "SEVERITY",
    "CommentMode",
    "Conclusion",
    "FailOn",
    "NoBaseline",
    "StatusState",
    "Verdict",
    "alarming",
    "conclusion_for",
    "decided_by_no_baseline",
    "effective_no_baseline",
    "exit_code",
    "status_state",
    "worst",
]

Verdict = Literal["pass", "warn", "fail", "no_baseline", "error"]

# -------------------------------------------------------------------------- vocabularies

FailOn = Literal["regression", "warning", "never"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)

NoBaseline = Literal["neutral", "fail", "pass"]
"""What a run without a baseline concludes off the base branch (`no-baseline`)."""
NO_BASELINE: tuple[NoBaseline, ...] = get_args(NoBaseline)

PIPELINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A pipeline name: it names the check run (`driftgate / <pipeline>`) and the sticky comment's
marker, so the Action, the fork's artifact and `driftgate init` hold it to one charset."""

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


def conclusion_for(
    verdicts: Verdict | Iterable[Verdict],
    fail_on: FailOn,
    no_baseline: NoBaseline = "neutral",
    *,
    on_base_branch: bool = False,
) -> Conclusion:
    """The check run's conclusion, from the overall verdict or every experiment's.

    An error always fails; otherwise `fail_on` says which verdicts fail. A missing baseline
    is what `no_baseline` says (neutral by default): with `fail`, one experiment without a
    baseline fails the check whatever the others came to, hence the list. On the base
    branch itself (`on_base_branch`) a missing baseline means the first run is being
    recorded: never a failure, so `fail` reads as `neutral` there.
    """
    seen = [verdicts] if isinstance(verdicts, str) else list(verdicts)
    overall = worst(seen) if seen else "error"
    policy = effective_no_baseline(no_baseline, on_base_branch=on_base_branch)
    if overall == "error":
        return "failure"
    if policy == "fail" and "no_baseline" in seen:
        return "failure"
    if overall == "no_baseline":
        return "success" if policy == "pass" else "neutral"
    if fail_on == "never":
        return "neutral" if overall == "fail" else "success"
    failing = {"fail", "warn"} if fail_on == "warning" else {"fail"}
    return "failure" if overall in failing else "success"


def effective_no_baseline(no_baseline: NoBaseline, *, on_base_branch: bool) -> NoBaseline:
    """`no_baseline` as it applies to this run: on the base branch, recording a first run
    is never a failure."""
    return "neutral" if on_base_branch and no_baseline == "fail" else no_baseline


def decided_by_no_baseline(
    verdicts: Iterable[Verdict],
    fail_on: FailOn,
    no_baseline: NoBaseline = "neutral",
    *,
    on_base_branch: bool = False,
) -> bool:
    """Whether the experiments without a baseline decide the conclusion: there are some, and
    the others alone (if any) would conclude otherwise. Then the check says why."""
    seen = list(verdicts)
    if "no_baseline" not in seen:
        return False
    others = [v for v in seen if v != "no_baseline"]
    if not others:
        return True
    alone = conclusion_for(others, fail_on, no_baseline, on_base_branch=on_base_branch)
    return alone != conclusion_for(seen, fail_on, no_baseline, on_base_branch=on_base_branch)


def exit_code(
    verdicts: Verdict | Iterable[Verdict],
    fail_on: FailOn,
    no_baseline: NoBaseline = "neutral",
    *,
    on_base_branch: bool = False,
) -> int:
    """1 when the check fails (the gate failed under `fail_on`, the run errored, or a
    baseline is missing under `no_baseline: fail` off the base branch), else 0."""
    conclusion = conclusion_for(verdicts, fail_on, no_baseline, on_base_branch=on_base_branch)
    return EXIT_GATE_FAILED if conclusion == "failure" else EXIT_OK


def status_state(conclusion: Conclusion) -> StatusState:
    """The commit status that stands in for the check run. A status has no "neutral", and
    no baseline is never a failure, so neutral shows as success."""
    return "failure" if conclusion == "failure" else "success"


def alarming(verdict: Verdict) -> bool:
    """Whether the verdict asks for attention: what `comment: on-regression` creates a
    comment for (an existing comment is updated whatever the verdict)."""
    return verdict in ("fail", "warn", "error")
