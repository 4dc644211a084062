"""The artifact a read-only run (a fork's pull request) leaves for `driftgate publish`: the
report (`report.json`, `GateResult`'s own JSON) and where it belongs (`meta.json`).

Written by the gate, read by the publish step, which trusts none of it: everything read is
validated, and a folder that is not a driftgate artifact raises `ArtifactError` saying what
to do."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftgate.action.inputs import PIPELINE
from driftgate.errors import UsageError
from driftgate.result import GateResult
from driftgate.verdict import CommentMode, FailOn

REPORT = "report.json"
META = "meta.json"


class ArtifactError(UsageError):
    """The artifact folder holds no driftgate report, or not a valid one."""


class ArtifactMeta(BaseModel):
    """What a read-only run leaves beside its report."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = 1
    repository: str | None
    pr_number: int = Field(ge=1)
    head_sha: str = Field(pattern=r"^[0-9a-fA-F]{40,64}$")
    pipeline: str = Field(pattern=f"^{PIPELINE.pattern}$")
    comment: CommentMode = "always"
    check: bool = True
    fail_on: FailOn = "regression"
    backend: str = Field(default="the pull request's run", max_length=80)


def write_artifact(folder: Path, result: GateResult, meta: ArtifactMeta | None) -> None:
    """The report, and its meta when the run is for a pull request."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT).write_text(result.to_json())
    if meta is not None:
        (folder / META).write_text(meta.model_dump_json(indent=2) + "\n")


def read_artifact(folder: Path, shown: str) -> tuple[ArtifactMeta, GateResult]:
    """The meta and the report in `folder` (`shown`: how the user named it)."""
    try:
        meta = ArtifactMeta.model_validate_json((folder / META).read_text())
        result = GateResult.from_json((folder / REPORT).read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"no driftgate artifact in {shown} ({Path(exc.filename).name} is missing): "
            "download the pull request run's artifact there first (actions/download-artifact "
            "with run-id: ${{ github.event.workflow_run.id }})"
        ) from None
    except (ValidationError, ValueError, TypeError) as exc:
        raise ArtifactError(f"the artifact in {shown} is not a driftgate report: {exc}") from None
    return meta, result
