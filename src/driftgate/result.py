"""The gate's result.

`GateResult` is what one gate session found: a report per experiment, the user's command,
how the experiments were found, the notes of degraded states. It is a pydantic model whose
JSON is `report.json`'s contract (the first experiment's report at the top level, every
report under `experiments`, the command under `command`), so the report file and the fork
artifact round-trip through `to_json`/`from_json` and nothing is read back by hand.

`ReportContext` says where it ran: the repository, the pipeline, the commit, the pull
request, the run, the experiments' backend, and whether the figures came from a pull
request's artifact. `recheck` derives a result's verdicts again from its numbers, for a
result read from elsewhere. What a verdict means is `verdict.py`'s.

Pure: no I/O.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    field_serializer,
    model_serializer,
    model_validator,
)

from driftgate.compare.schema import Report
from driftgate.verdict import Verdict, worst

__all__ = [
    "DEFAULT_FULL_REPORT_NOTE",
    "CommandResult",
    "GateResult",
    "ReportContext",
    "recheck",
]


class CommandResult(BaseModel):
    """How the user's command (or the setup command) ran."""

    model_config = ConfigDict(frozen=True)

    command: str
    exit_code: int | None  # None when it had to be stopped (timeout) or never started
    timed_out: bool
    duration_s: float
    started_at: datetime
    tail: str
    failed_to_start: str | None = None
    # The experiment ids the command printed (ddtrace's experiment.url): for finding the
    # experiments, not part of the report.
    experiment_ids: list[str] = Field(default_factory=list, exclude=True)

    @field_serializer("duration_s")
    def _duration(self, value: float) -> float:
        return round(value, 3)

    @field_serializer("started_at")
    def _started(self, value: datetime) -> str:
        # Python's own ISO form (`+00:00`), as report.json has always written it.
        return value.isoformat()

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("failed_to_start") is None:
            data.pop("failed_to_start", None)
        return data

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe_failure(self) -> str:
        if self.failed_to_start:
            return self.failed_to_start
        if self.timed_out:
            return f"`{self.command}` did not finish within the timeout and was stopped"
        if self.exit_code is not None and self.exit_code < 0:
            return f"`{self.command}` was killed by signal {-self.exit_code}"
        return f"`{self.command}` exited with status {self.exit_code}"


class GateResult(BaseModel):
    """What one gate session found: a report per experiment the command recorded."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    reports: list[Report] = Field(default_factory=list, alias="experiments")
    command: CommandResult | None = None
    found_how: str = Field("", alias="found")
    notes: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        """The worst of the experiments' verdicts; an error when there is none."""
        return worst([r.verdict for r in self.reports]) if self.reports else "error"

    @property
    def verdicts(self) -> list[Verdict]:
        """Every experiment's verdict (an error when there is none): what the check's
        conclusion is decided from (`verdict.conclusion_for`)."""
        return [r.verdict for r in self.reports] or ["error"]

    @model_serializer(mode="wrap")
    def _contract(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The first experiment's report at the top level (the documented contract), the
        overall verdict, every experiment's report, how they were found, the notes, and the
        command when there was one."""
        data: dict[str, Any] = handler(self)
        experiments = data.get("experiments", data.get("reports", []))
        out: dict[str, Any] = {
            **(experiments[0] if experiments else {}),
            "verdict": data["verdict"],
            "experiments": experiments,
            "found": data.get("found", data.get("found_how", "")),
            "notes": data["notes"],
        }
        if data.get("command") is not None:
            out["command"] = data["command"]
        return out

    @model_validator(mode="before")
    @classmethod
    def _from_contract(cls, data: Any) -> Any:
        # The top level repeats the first report and the overall verdict: both are derived,
        # so only what they are derived from is read back.
        if isinstance(data, dict) and "experiments" in data:
            return {k: data[k] for k in ("experiments", "command", "found", "notes") if k in data}
        return data

    def to_json(self) -> str:
        """report.json's text. `json.dumps` rather than pydantic's writer: the file has
        always been ASCII with Python's float spelling, and stays byte-identical."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> GateResult:
        """A result back from `to_json`'s text, validated field by field."""
        return cls.model_validate(json.loads(text))


def recheck(result: GateResult) -> GateResult:
    """`result` with every verdict derived again from its numbers (`compare.recheck`), and
    an error when its command failed, as the gate session reports one."""
    # The statistics' modules: only a re-check needs them (a fork's artifact, published).
    from driftgate.compare.engine import error_report
    from driftgate.compare.recheck import recheck_report

    reports = [recheck_report(r) for r in result.reports]
    command = result.command
    if command is not None and not command.ok and all(r.verdict != "error" for r in reports):
        failed = f"the experiment command failed: {command.describe_failure()}"
        reports = [error_report(failed)]
    return result.model_copy(update={"reports": reports})


DEFAULT_FULL_REPORT_NOTE = (
    "The full report is in the job summary of the workflow run and in the JSON report "
    "(report.json, uploaded with the run's artifacts)."
)


class ReportContext(BaseModel):
    """What the surfaces say besides the results. All of it is escaped where printed,
    `full_report_note` included."""

    model_config = ConfigDict(frozen=True)

    repository: str | None  # owner/name
    pipeline: str
    head_sha: str | None
    base_branch: str | None
    pr_number: int | None
    run_url: str | None  # the workflow run (job summary, logs); None locally
    backend: str  # "Datadog (datadoghq.com)", "the embedded store"
    full_report_note: str = DEFAULT_FULL_REPORT_NOTE
    # Published from a pull request's artifact: the figures are its code's, and say so.
    from_artifact: bool = False
    serve_command: str | None = None
    """With the embedded store: the command that serves its experiments' pages
    (`driftgate serve`, with `--db` when the file is not the default one), for the report to
    say how to browse them. None on Datadog, whose links are the experiments' pages."""
