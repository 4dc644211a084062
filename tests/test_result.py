"""What a verdict means (verdict.py): every verdict under every `fail-on`; and the gate's
result (result.py): report.json's contract and round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

import pytest

from driftgate.compare import error_report
from driftgate.result import CommandResult, GateResult
from driftgate.verdict import (
    COMMENT_MODES,
    EXIT_BACKEND,
    EXIT_GATE_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    SEVERITY,
    Verdict,
    alarming,
    conclusion_for,
    exit_code,
    status_state,
    worst,
)
from tests.report.scenarios import fail_report, multi_result, no_baseline_result, pass_report

# verdict -> (regression, warning, never): the check run's conclusion.
CONCLUSIONS: dict[str, tuple[str, str, str]] = {
    "pass": ("success", "success", "success"),
    "warn": ("success", "failure", "success"),
    "fail": ("failure", "failure", "neutral"),
    "no_baseline": ("neutral", "neutral", "neutral"),
    "error": ("failure", "failure", "failure"),
}


def test_every_verdict_under_every_fail_on() -> None:
    assert set(CONCLUSIONS) == set(get_args(Verdict)) == set(SEVERITY)
    assert FAIL_ON == ("regression", "warning", "never")
    for verdict, expected in CONCLUSIONS.items():
        for fail_on, conclusion in zip(FAIL_ON, expected, strict=True):
            assert conclusion_for(verdict, fail_on) == conclusion, (verdict, fail_on)  # type: ignore[arg-type]
            code = exit_code(verdict, fail_on)  # type: ignore[arg-type]
            assert code == (EXIT_GATE_FAILED if conclusion == "failure" else EXIT_OK)


def test_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_BACKEND) == (0, 1, 2, 3)


def test_a_status_has_no_neutral_and_no_baseline_is_never_a_failure() -> None:
    assert status_state("success") == "success"
    assert status_state("neutral") == "success"
    assert status_state("failure") == "failure"


def test_worst_follows_the_severity_order() -> None:
    assert worst(["pass", "no_baseline", "warn"]) == "warn"
    assert worst(["pass", "fail", "error"]) == "error"
    assert worst([]) == "pass"


def test_only_a_verdict_that_asks_for_attention_creates_an_on_regression_comment() -> None:
    assert "on-regression" in COMMENT_MODES
    assert {v for v in SEVERITY if alarming(v)} == {"fail", "warn", "error"}


def _command(**overrides: object) -> CommandResult:
    fields: dict[str, object] = {
        "command": "python experiment.py",
        "exit_code": 0,
        "timed_out": False,
        "duration_s": 12.3456789,
        "started_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "tail": "done\n",
        "experiment_ids": ["0b6f0c6e-8c43-4a8e-9c39-6c9d5a2f5d10"],
    }
    return CommandResult.model_validate({**fields, **overrides})


def test_report_json_keeps_its_contract() -> None:
    result = GateResult(
        reports=[fail_report(), pass_report()],
        command=_command(),
        found_how="the experiment URLs the command printed",
        notes=["a note"],
    )
    data = json.loads(result.to_json())
    first = fail_report().model_dump(mode="json")
    # The first experiment's report at the top level, the overall verdict over it.
    assert {k: data[k] for k in first if k != "verdict"} == {
        k: v for k, v in first.items() if k != "verdict"
    }
    assert data["verdict"] == "fail"
    assert [e["verdict"] for e in data["experiments"]] == ["fail", "pass"]
    assert data["found"] == "the experiment URLs the command printed"
    assert data["notes"] == ["a note"]
    assert data["command"] == {
        "command": "python experiment.py",
        "exit_code": 0,
        "timed_out": False,
        "duration_s": 12.346,
        "started_at": "2026-01-02T03:04:05.123456+00:00",
        "tail": "done\n",
    }
    # What is for finding experiments is not part of the report.
    assert "experiment_ids" not in result.to_json()
    assert "reports" not in data and "found_how" not in data


@pytest.mark.parametrize(
    "result",
    [
        GateResult(reports=[fail_report()], command=_command(), found_how="f", notes=["n"]),
        multi_result(),
        no_baseline_result(),
        GateResult(
            reports=[error_report("the command could not start")],
            command=_command(exit_code=None, failed_to_start="`x` could not start: not found"),
        ),
        GateResult(),
    ],
    ids=["fail", "multi", "no_baseline", "failed_to_start", "empty"],
)
def test_report_json_round_trips(result: GateResult) -> None:
    text = result.to_json()
    back = GateResult.from_json(text)
    assert back.to_json() == text
    assert back.verdict == result.verdict
    assert back.reports == result.reports
    if result.command is not None:
        assert back.command is not None
        assert back.command.failed_to_start == result.command.failed_to_start
        assert back.command.ok == result.command.ok


def test_the_top_level_copy_cannot_override_the_reports() -> None:
    data = json.loads(GateResult(reports=[fail_report()]).to_json())
    data["verdict"] = "pass"  # a forged top level: the verdict is derived, never read
    data["metrics"] = []
    assert GateResult.model_validate(data).verdict == "fail"


def test_a_command_in_another_time_zone_keeps_its_offset() -> None:
    tz = timezone(timedelta(hours=2))
    command = _command(started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz))
    assert command.model_dump(mode="json")["started_at"] == "2026-01-02T03:04:05+02:00"
