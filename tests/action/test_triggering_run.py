"""What publish reads of its `workflow_run` event, from real payloads: GitHub's own examples
(@octokit/webhooks-examples) and the recorded fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driftgate.action.event import triggering_run
from tests import references

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"


def _examples(event: str) -> list[dict[str, Any]]:
    index = references.reference(references.WEBHOOK_EXAMPLES)
    examples: list[dict[str, Any]] = next(
        e["examples"] for e in json.loads(index.read_text()) if e["name"] == event
    )
    return examples


def _run(tmp_path: Path, payload: dict[str, Any], event: str = "workflow_run") -> Any:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return triggering_run({"GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(path)})


def test_githubs_examples_are_read(tmp_path: Path) -> None:
    examples = _examples("workflow_run")
    assert examples
    for payload in examples:
        run = _run(tmp_path, payload)
        source = payload["workflow_run"]
        assert run is not None
        assert (run.id, run.head_sha, run.head_branch) == (
            source["id"],
            source["head_sha"],
            source["head_branch"],
        )
        assert run.head_repository == source["head_repository"]["full_name"]
        assert run.repository == payload["repository"]["full_name"]
        assert run.event == source["event"]


def test_pull_requests_of_other_repositories_are_not_this_runs(tmp_path: Path) -> None:
    """GitHub's example lists pull request #2 of Codertocat/Hello-World in a run of
    octo-org/octo-repo: the entry's base repository (by id and API url, it has no
    full_name) is not the payload's repository."""
    listed = [p for p in _examples("workflow_run") if p["workflow_run"]["pull_requests"]]
    assert listed
    for payload in listed:
        bases = {p["base"]["repo"]["id"] for p in payload["workflow_run"]["pull_requests"]}
        assert payload["repository"]["id"] not in bases
        run = _run(tmp_path, payload)
        assert run is not None and run.pull_requests == ()


def test_a_same_repository_run_names_its_pull_request(tmp_path: Path) -> None:
    payload = json.loads((FIXTURES / "workflow_run.pull_request.json").read_text())
    run = _run(tmp_path, payload)
    assert run is not None
    assert run.pull_requests == (128,)
    assert run.event == "pull_request"
    assert run.head_owner == "acme-ai"
    # Matched by the API url when an id is missing.
    for entry in payload["workflow_run"]["pull_requests"]:
        del entry["base"]["repo"]["id"]
    assert _run(tmp_path, payload).pull_requests == (128,)
    for entry in payload["workflow_run"]["pull_requests"]:
        entry["base"]["repo"]["url"] = "https://api.github.com/repos/someone/else"
    assert _run(tmp_path, payload).pull_requests == ()


def test_a_fork_run_names_its_head_repository_and_branch(tmp_path: Path) -> None:
    payload = json.loads((FIXTURES / "workflow_run.fork.json").read_text())
    run = _run(tmp_path, payload)
    assert run is not None
    assert run.pull_requests == ()
    assert (run.head_owner, run.head_branch) == ("octo-contrib", "main")


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("pull_request", {"workflow_run": {"head_sha": "a" * 40}}),
        ("workflow_run", {"workflow_run": {"id": 1}}),
        ("workflow_run", {"workflow_run": "x"}),
        ("workflow_run", ["not", "an", "object"]),
        ("workflow_run", {}),
    ],
)
def test_anything_but_a_workflow_run_with_a_head_is_none(
    tmp_path: Path, event: str, payload: Any
) -> None:
    assert _run(tmp_path, payload, event) is None


def test_an_unreadable_or_deep_event_is_none(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    env = {"GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": str(path)}
    assert triggering_run(env) is None
    assert triggering_run({"GITHUB_EVENT_PATH": str(tmp_path / "missing")}) is None
    assert triggering_run({}) is None
