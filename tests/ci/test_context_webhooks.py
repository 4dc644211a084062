"""The CI context against real webhook payloads none of us wrote: octokit's
@octokit/webhooks-examples (GitHub's own examples, validated against GitHub's webhook schema),
each in the runner environment GitHub documents for its event ("Events that trigger
workflows": GITHUB_SHA and GITHUB_REF per event) and checked out the way actions/checkout does
by default (GITHUB_SHA, one commit deep).

`pull_request_target` has no examples of its own: GitHub sends it the `pull_request` payload,
so every `pull_request` example runs as both. The package has no `schedule` example (a
schedule has no webhook); tests/fixtures/events/schedule.json covers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from driftgate.ci.context import (
    SUPPORTED_EVENTS,
    CIContext,
    ContextError,
    build_context,
    from_github_event,
    metadata,
)
from tests import references
from tests.ci.fakegit import FakeGit

# Commits GitHub names in the environment but no payload carries.
DEFAULT_TIP = "d7a4b0f2c9e1835a6b4f0e2d1c3b5a7968f4e2d0"  # the default branch's last commit
DISPATCH_TIP = "5e0c7a9b1d3f2468ace0b2d4f6a8c0e2d4f6a8b1"  # the dispatched ref's last commit
MERGE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # a PR's test merge commit
NULL = "0" * 40

# What the context is driven with; `pull_request_target` borrows `pull_request`'s payloads.
DRIVEN = ("pull_request", "push", "workflow_run", "merge_group", "workflow_dispatch")


@cache
def _index() -> dict[str, list[dict[str, Any]]]:
    examples = references.reference(references.WEBHOOK_EXAMPLES)
    return {entry["name"]: entry["examples"] for entry in json.loads(examples.read_text())}


def _cases() -> list[Any]:
    try:
        index = _index()
    except pytest.fail.Exception:
        # Collected anyway, so that the run fails with the message rather than skipping.
        return [pytest.param("missing", 0, id="webhooks-examples-missing")]
    cases = []
    for event in DRIVEN:
        events = ("pull_request", "pull_request_target") if event == "pull_request" else (event,)
        for name in events:
            for i, example in enumerate(index[event]):
                label = example.get("action") or ("deleted" if example.get("deleted") else "")
                cases.append(pytest.param(name, i, id=f"{name}-{i}-{label}".rstrip("-")))
    return cases


def _example(event: str, i: int) -> dict[str, Any]:
    source = "pull_request" if event == "pull_request_target" else event
    payload: dict[str, Any] = _index()[source][i]
    return payload


def _branch(ref: str | None) -> str | None:
    return ref.removeprefix("refs/heads/") if ref and ref.startswith("refs/heads/") else None


def documented_env(event: str, payload: dict[str, Any], path: Path) -> dict[str, str]:
    """The runner's environment for `event`, as GitHub documents it, for this payload."""
    repo = payload["repository"]
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": repo["full_name"],
        "GITHUB_REPOSITORY_OWNER": repo["owner"]["login"],
        "GITHUB_RUN_ID": "15000000001",
        "GITHUB_RUN_NUMBER": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_WORKFLOW": "evals",
        "GITHUB_JOB": "gate",
        "GITHUB_ACTOR": payload["sender"]["login"],
    }
    default = f"refs/heads/{repo['default_branch']}"
    if event in ("pull_request", "pull_request_target"):
        pr = payload["pull_request"]
        env.update(GITHUB_HEAD_REF=pr["head"]["ref"], GITHUB_BASE_REF=pr["base"]["ref"])
        if event == "pull_request":
            # The PR's test merge commit, on refs/pull/N/merge.
            env.update(
                GITHUB_SHA=pr.get("merge_commit_sha") or MERGE_SHA,
                GITHUB_REF=f"refs/pull/{payload['number']}/merge",
            )
        else:
            # The last commit on the PR's base branch, and that branch.
            env.update(GITHUB_SHA=pr["base"]["sha"], GITHUB_REF=f"refs/heads/{pr['base']['ref']}")
    elif event == "push" and payload["deleted"]:
        # "When you delete a branch, the SHA in the workflow run (and its associated refs)
        # reverts to the default branch of the repository."
        env.update(GITHUB_SHA=DEFAULT_TIP, GITHUB_REF=default)
    elif event == "push":
        env.update(GITHUB_SHA=payload["after"], GITHUB_REF=payload["ref"])
    elif event == "workflow_run":
        env.update(GITHUB_SHA=DEFAULT_TIP, GITHUB_REF=default)
    elif event == "merge_group":
        group = payload["merge_group"]
        env.update(GITHUB_SHA=group["head_sha"], GITHUB_REF=group["head_ref"])
    elif event == "workflow_dispatch":
        env.update(GITHUB_SHA=DISPATCH_TIP, GITHUB_REF=payload["ref"])
    return env


def _context(event: str, i: int, tmp_path: Path) -> tuple[CIContext, dict[str, Any], FakeGit]:
    payload = _example(event, i)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = documented_env(event, payload, path)
    # actions/checkout's default: GITHUB_SHA, fetch-depth 1.
    git = FakeGit(head=env["GITHUB_SHA"], shallow=True, default=None)
    ctx = build_context(env, git, workspace="/elsewhere", now=datetime.now(UTC))
    return ctx, payload, git


def _warned(ctx: CIContext) -> bool:
    return any(note.startswith("WARNING: the checkout is") for note in ctx.notes)


# ---------------------------------------------------------------------------- per example


@pytest.mark.parametrize(("event", "i"), _cases())
def test_real_payload_in_its_documented_environment(event: str, i: int, tmp_path: Path) -> None:
    ctx, payload, _git = _context(event, i, tmp_path)
    repo = payload["repository"]
    assert ctx.event_name == event
    assert ctx.repository == repo["full_name"]
    assert ctx.default_branch == repo["default_branch"]
    assert ctx.run_id == "15000000001" and ctx.run_attempt == 1
    assert ctx.workspace == "/github/workspace"
    assert ctx.actor == payload["sender"]["login"]
    assert not ctx.read_only  # no example is a fork PR, and Dependabot is not decided by actor
    check = {
        "pull_request": _pull_request,
        "pull_request_target": _pull_request,
        "push": _push,
        "workflow_run": _workflow_run,
        "merge_group": _merge_group,
        "workflow_dispatch": _workflow_dispatch,
    }[event]
    check(ctx, payload)
    if ctx.nothing_to_gate is None:
        # What the user's command receives names the commit the run is recorded for.
        assert metadata(ctx, "evals")["commit"] == ctx.head_sha


def _pull_request(ctx: CIContext, payload: dict[str, Any]) -> None:
    pr = payload["pull_request"]
    head_repo = (pr["head"].get("repo") or {}).get("full_name")
    assert ctx.head_sha == pr["head"]["sha"]
    assert ctx.pr_number == payload["number"] == pr["number"]
    assert ctx.branch == pr["head"]["ref"]
    assert ctx.base_branch == pr["base"]["ref"]
    assert ctx.base_sha == pr["base"]["sha"]
    assert ctx.head_repository == head_repo
    assert ctx.is_fork == (head_repo != pr["base"]["repo"]["full_name"])
    assert ctx.is_pull_request and not ctx.on_base_branch and ctx.nothing_to_gate is None
    if ctx.event_name == "pull_request":
        # The merge commit actions/checkout checks out is the PR's code: nothing to warn of.
        assert ctx.checkout_sha != ctx.head_sha
        assert not _warned(ctx)
    else:
        # pull_request_target checks out the base: the report must say it is not the PR.
        assert ctx.checkout_sha == pr["base"]["sha"]
        base = pr["base"]["sha"][:12]
        assert ctx.notes[0].startswith(f"WARNING: the checkout is {base}, not the pull request")
        assert "github.event.pull_request.head.sha" in ctx.notes[0]


def _push(ctx: CIContext, payload: dict[str, Any]) -> None:
    ref = payload["ref"]
    if payload["deleted"]:
        assert payload["after"] == NULL
        assert ctx.nothing_to_gate is not None and f"deleted {ref}" in ctx.nothing_to_gate
        # GITHUB_SHA/GITHUB_REF name the default branch: still never a base-branch run.
        assert not ctx.on_base_branch
        assert ctx.merge_base is None and ctx.checkout_sha is None
        return
    assert ctx.nothing_to_gate is None
    assert ctx.head_sha == payload["after"]
    assert ctx.branch == _branch(ref)  # None for a tag
    assert ctx.base_branch == payload["repository"]["default_branch"]
    assert ctx.on_base_branch == (ctx.branch == ctx.base_branch)
    before = payload["before"]
    # A created ref has no previous tip (`before` is 000…).
    assert ctx.base_sha == (before if ctx.on_base_branch and before != NULL else None)
    assert ctx.pr_number is None and not ctx.is_fork
    assert ctx.checkout_sha == ctx.head_sha and not _warned(ctx)


def _own_pull_requests(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """This test's own reading: entries whose base repository has this repository's id."""
    entries = payload["workflow_run"]["pull_requests"]
    return [e for e in entries if e["base"]["repo"]["id"] == payload["repository"]["id"]]


def _workflow_run(ctx: CIContext, payload: dict[str, Any]) -> None:
    run = payload["workflow_run"]
    assert ctx.head_sha == run["head_sha"]
    assert ctx.branch == run["head_branch"]
    assert ctx.triggering_run_id == str(run["id"])
    assert ctx.triggering_run_attempt == run["run_attempt"]
    assert ctx.triggering_event == run["event"]
    assert ctx.head_repository == run["head_repository"]["full_name"]
    ours = _own_pull_requests(payload)
    assert ctx.pr_number == (ours[0]["number"] if ours else None)
    assert ctx.base_branch == (
        ours[0]["base"]["ref"] if ours else payload["repository"]["default_branch"]
    )
    assert not ctx.is_pull_request and ctx.nothing_to_gate is None
    assert ctx.on_base_branch == (run["event"] == "push" and ctx.branch == ctx.base_branch)
    # The default checkout is the default branch's tip, not the run's commit.
    assert ctx.checkout_sha == DEFAULT_TIP
    assert ctx.notes[0].startswith(f"WARNING: the checkout is {DEFAULT_TIP[:12]}, not the")
    assert "github.event.workflow_run.head_sha" in ctx.notes[0]


def _merge_group(ctx: CIContext, payload: dict[str, Any]) -> None:
    group = payload["merge_group"]
    assert ctx.head_sha == group["head_sha"]
    assert ctx.branch == _branch(group["head_ref"])
    assert ctx.base_branch == _branch(group["base_ref"])
    assert ctx.base_sha == group["base_sha"]
    assert ctx.pr_number is None and not ctx.on_base_branch and ctx.nothing_to_gate is None
    assert ctx.checkout_sha == ctx.head_sha and not _warned(ctx)


def _workflow_dispatch(ctx: CIContext, payload: dict[str, Any]) -> None:
    assert ctx.head_sha == DISPATCH_TIP  # the payload names no commit: GITHUB_SHA
    assert ctx.branch == _branch(payload["ref"])
    assert ctx.on_base_branch == (ctx.branch == payload["repository"]["default_branch"])
    assert ctx.pr_number is None and ctx.nothing_to_gate is None
    assert not _warned(ctx)


# ------------------------------------------------------------- what the examples taught us


def test_the_examples_cover_every_event_driven_and_say_which_they_lack() -> None:
    index = _index()
    counts = {event: len(index.get(event, [])) for event in SUPPORTED_EVENTS}
    assert all(counts[event] > 0 for event in DRIVEN), counts
    # Should a release add these, drive them too (see DRIVEN).
    assert counts["pull_request_target"] == 0 and counts["schedule"] == 0, counts
    pushes = index["push"]
    assert any(p["deleted"] for p in pushes)
    assert any(p["created"] and p["ref"].startswith("refs/heads/") for p in pushes)
    assert any(p["ref"].startswith("refs/tags/") and not p["deleted"] for p in pushes)
    assert {p["action"] for p in index["pull_request"]} >= {"opened", "synchronize", "closed"}


def test_a_real_workflow_run_listing_another_repositorys_pull_request_has_none() -> None:
    # GitHub's own example: octo-org/octo-repo's run lists Codertocat/Hello-World's PR #2,
    # whose repositories carry only id, url and name. Taken as ours until issue 10.
    (foreign,) = [
        p
        for p in _index()["workflow_run"]
        if p["workflow_run"]["pull_requests"] and not _own_pull_requests(p)
    ]
    assert "full_name" not in foreign["workflow_run"]["pull_requests"][0]["base"]["repo"]
    env = documented_env("workflow_run", foreign, Path("/github/workflow/event.json"))
    ctx = from_github_event(env, foreign)
    assert ctx.pr_number is None
    assert ctx.base_branch == foreign["repository"]["default_branch"]
    assert any("other repositories" in note for note in ctx.notes)


def test_a_real_deleting_push_is_recognised_whatever_ref_the_environment_names() -> None:
    for payload in (p for p in _index()["push"] if p["deleted"]):
        env = documented_env("push", payload, Path("/github/workflow/event.json"))
        for ref in (env["GITHUB_REF"], payload["ref"]):
            ctx = from_github_event({**env, "GITHUB_REF": ref}, payload, FakeGit(head=DEFAULT_TIP))
            assert ctx.nothing_to_gate is not None and not ctx.on_base_branch


# ------------------------------------------------------------------ damage to real payloads


ODD_VALUES: list[Any] = [None, 0, 7, "", "x", [], {}, True, NULL]
_CLEAR = re.compile(r"`[\w.]+`|GITHUB_[A-Z_]+|event")


def _paths(data: Any, path: tuple[Any, ...] = (), depth: int = 3) -> Iterator[tuple[Any, ...]]:
    if depth == 0:
        return
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = list(enumerate(data))[:2]
    else:
        return
    for key, value in items:
        yield (*path, key)
        yield from _paths(value, (*path, key), depth - 1)


def _damaged(payload: dict[str, Any]) -> Iterator[None]:
    """Each key down to three levels removed, then replaced by each odd value; the payload is
    changed in place and restored after each yield (deep copies of every variant would take
    minutes)."""
    for path in list(_paths(payload)):
        parent: Any = payload
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        original = parent[key]
        if isinstance(parent, dict):
            del parent[key]
            yield None
        for value in ODD_VALUES:
            parent[key] = value
            yield None
        parent[key] = original


@pytest.mark.parametrize("event", [*DRIVEN, "pull_request_target"])
def test_damaged_real_payloads_give_a_context_or_a_clear_context_error(event: str) -> None:
    outcomes = {"context": 0, "error": 0}
    examples = _index()["pull_request" if event == "pull_request_target" else event]
    # Examples of one event differ in their action and a few keys; one of each shape is
    # enough, and keeps this at seconds.
    shapes: dict[str, dict[str, Any]] = {}
    for example in examples:
        shapes.setdefault(json.dumps(sorted(_paths(example))), example)
    for example in shapes.values():
        payload = json.loads(json.dumps(example))
        env = documented_env(event, payload, Path("/github/workflow/event.json"))
        for _ in _damaged(payload):
            try:
                ctx = from_github_event(env, payload, FakeGit(head=env["GITHUB_SHA"], shallow=True))
            except ContextError as exc:
                message = str(exc)
                assert "\n" not in message and len(message) < 400, message
                assert _CLEAR.search(message), message
                outcomes["error"] += 1
            else:
                outcomes["context"] += 1
                # A context names a real commit and a real PR, or says it has nothing to gate.
                assert ctx.nothing_to_gate is not None or ctx.head_sha != NULL
                assert ctx.pr_number is None or ctx.pr_number > 0
        assert payload == example  # restored: the next shape starts from GitHub's example
    assert outcomes["context"] > 0, outcomes
    if event not in ("push", "workflow_dispatch"):
        # The commit comes from the payload there (GITHUB_SHA elsewhere): damage must show.
        assert outcomes["error"] > 0, outcomes


def test_real_payloads_of_events_driftgate_does_not_run_on_are_refused_by_name() -> None:
    for name, examples in _index().items():
        if name in SUPPORTED_EVENTS or not examples:
            continue
        env = {"GITHUB_EVENT_NAME": name, "GITHUB_RUN_ID": "1", "GITHUB_ACTIONS": "true"}
        with pytest.raises(ContextError, match=f"the '{name}' event is not supported"):
            from_github_event(env, examples[0])
