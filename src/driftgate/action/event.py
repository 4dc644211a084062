"""What `driftgate publish` reads of its `workflow_run` event: the run that triggered it.

The event file is read once, here. A missing or unreadable file, or an event of another
kind, gives empty facts: the caller decides what their absence means."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class TriggeringRun(BaseModel):
    """The workflow run a `workflow_run` event is about (the pull request's run)."""

    model_config = ConfigDict(frozen=True)

    head_sha: str | None = None
    html_url: str | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def triggering_run(env: Mapping[str, str]) -> TriggeringRun:
    path = env.get("GITHUB_EVENT_PATH")
    try:
        payload = json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return TriggeringRun()
    run = payload.get("workflow_run") if isinstance(payload, dict) else None
    if not isinstance(run, dict):
        return TriggeringRun()
    return TriggeringRun(head_sha=_text(run.get("head_sha")), html_url=_text(run.get("html_url")))
