"""GitHub event payloads for tests, made from the recorded fixtures with the commits, refs and
repository of the test at hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "fixtures" / "events"


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return payload


def push_event(repo: str, sha: str, before: str, branch: str = "main") -> dict[str, Any]:
    payload = _load("push.main.json")
    payload.update(ref=f"refs/heads/{branch}", before=before, after=sha)
    payload["repository"].update(full_name=repo, default_branch="main", name=repo.split("/")[1])
    payload["head_commit"]["id"] = sha
    return payload


def pull_request_event(
    repo: str, number: int, head: str, base: str, *, fork: bool = False, head_ref: str = "feature"
) -> dict[str, Any]:
    payload = _load("pull_request.fork.json" if fork else "pull_request.same_repo.json")
    pr = payload["pull_request"]
    payload["number"] = pr["number"] = number
    pr["head"].update(sha=head, ref=head_ref)
    pr["base"].update(sha=base, ref="main")
    pr["base"]["repo"]["full_name"] = repo
    payload["repository"].update(full_name=repo, default_branch="main")
    if not fork:
        pr["head"]["repo"]["full_name"] = repo
    return payload


def workflow_run_event(
    repo: str,
    head: str,
    *,
    head_repo: str | None = None,
    head_branch: str | None = None,
    run_id: int | None = None,
    pull_requests: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `workflow_run` event of a fork pull request's finished run (no pull_requests);
    the keywords replace the run's head repository and branch, its id, its pull requests."""
    payload = _load("workflow_run.fork.json")
    run = payload["workflow_run"]
    run["head_sha"] = head
    payload["repository"]["full_name"] = repo
    run["repository"]["full_name"] = repo
    if head_repo is not None:
        run["head_repository"]["full_name"] = head_repo
        run["head_repository"]["owner"]["login"] = head_repo.split("/")[0]
    if head_branch is not None:
        run["head_branch"] = head_branch
    if run_id is not None:
        run["id"] = run_id
    run["html_url"] = f"https://github.com/{repo}/actions/runs/{run['id']}"
    if pull_requests is not None:
        run["pull_requests"] = pull_requests
    return payload
