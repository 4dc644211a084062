"""What `driftgate publish` reads of its `workflow_run` event: the run that triggered it.

The event file is read once, here. Only a `workflow_run` event whose run names a head commit
gives a `TriggeringRun`; anything else (another event, no payload, an unreadable file) gives
None, and publishing is refused: without the run, nothing ties an artifact to a pull
request.

The run's pull requests are kept only when their base repository is this repository:
`workflow_run.pull_requests` also lists pull requests of other repositories whose head is
the same branch (in a repository that is itself a fork, the parent's pull requests);
`driftgate.ci.context.own_pull_requests` keeps ours, as the gate's context does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from driftgate.ci.context import GITHUB_API, own_pull_requests

# The event file is GitHub's, but a workflow may point GITHUB_EVENT_PATH anywhere.
_MAX_EVENT_BYTES = 25 * 1024 * 1024


class TriggeringRun(BaseModel):
    """The workflow run a `workflow_run` event is about (the pull request's run)."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    head_sha: str
    head_branch: str | None = None
    # owner/name of the repository the run's commit came from (a fork's, for fork PRs);
    # None when that repository was deleted.
    head_repository: str | None = None
    html_url: str | None = None
    # The event of the triggering run: "pull_request", "push", ...
    event: str | None = None
    # The run's pull requests whose base is this repository, by number.
    pull_requests: tuple[int, ...] = ()
    # owner/name of the repository the event was delivered to.
    repository: str | None = None

    @property
    def head_owner(self) -> str | None:
        if not self.head_repository or "/" not in self.head_repository:
            return None
        return self.head_repository.split("/", 1)[0]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _numbers(entries: list[Mapping[str, Any]]) -> tuple[int, ...]:
    numbers = (entry.get("number") for entry in entries)
    return tuple(dict.fromkeys(n for n in numbers if type(n) is int and n > 0))


def _payload(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with Path(path).open("rb") as file:
            raw = file.read(_MAX_EVENT_BYTES + 1)
        if len(raw) > _MAX_EVENT_BYTES:
            return {}
        payload = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return {}
    return _dict(payload)


def triggering_run(env: Mapping[str, str]) -> TriggeringRun | None:
    """The run that triggered this `workflow_run` workflow; None for any other event, or a
    payload without a head commit."""
    name = env.get("GITHUB_EVENT_NAME")
    if name is not None and name != "workflow_run":
        return None
    payload = _payload(env)
    run = _dict(payload.get("workflow_run"))
    head_sha = _text(run.get("head_sha"))
    if head_sha is None:
        return None
    repository = _dict(payload.get("repository")) or _dict(run.get("repository"))
    run_id = run.get("id")
    return TriggeringRun(
        id=run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None,
        head_sha=head_sha,
        head_branch=_text(run.get("head_branch")),
        head_repository=_text(_dict(run.get("head_repository")).get("full_name")),
        html_url=_text(run.get("html_url")),
        event=_text(run.get("event")),
        pull_requests=_numbers(
            own_pull_requests(
                payload, env.get("GITHUB_REPOSITORY"), env.get("GITHUB_API_URL") or GITHUB_API
            )
        ),
        repository=_text(repository.get("full_name")),
    )
