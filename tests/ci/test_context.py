"""The CI context from recorded-style GitHub event payloads (tests/fixtures/events) and from a
fake git reader; one test with a real repository checks that `GitRepo` fits the protocol."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from driftgate.ci.context import (
    SUPPORTED_EVENTS,
    CIContext,
    ContextError,
    build_context,
    command_env,
    experiment_name,
    from_github_event,
    from_local_git,
    local_run_id,
    read_event_payload,
    tags,
)
from driftgate.ci.git import DubiousOwnership, GitRepo, NoCommits
from tests.ci.fakegit import FakeGit

EVENTS = Path(__file__).parents[1] / "fixtures" / "events"

REPO = "acme-ai/support-bot"
RUN_ID = "11990001234"
MAIN_TIP = "ae892699b97c793cb231ec1bcd44e69122111b53"
PR128_HEAD = "0d8a9158de78b4e4463172bc214f7503190ff54a"
PR128_MERGE = "ea3c9cba6f84d2cb58205445e0ff3e5302c330af"
PR131_HEAD = "89ac145ec04d637d2ed94523f4d2cd919cc1c92b"
PR131_HEAD2 = "022246286823d9d238453b327cf3e9dbefa4709c"
PR133_HEAD = "09068051835ffa987e7659ff03e27f0fa8b16449"
PUSH_MAIN_HEAD = "d31aae17b190409bbad9e02a2f545f48e557a086"
PUSH_BRANCH_HEAD = "43ad02d8e80908de14e7f923ba5913e7b1d9377a"
MERGE_GROUP_HEAD = "af15ed77ee031140c537457e2f520b6c16baec1d"
FORK_POINT = "5f1c3e0d2b4a69788796a5b4c3d2e1f0a9b8c7d6"
NOW = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def actions_env(event: str, **extra: str) -> dict[str, str]:
    """What the runner gives a container job, per GitHub's docs (no secrets)."""
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_REPOSITORY_OWNER": "acme-ai",
        "GITHUB_RUN_ID": RUN_ID,
        "GITHUB_RUN_NUMBER": "311",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_WORKFLOW": "evals",
        "GITHUB_JOB": "gate",
        "GITHUB_ACTOR": "alice-ml",
        "GITHUB_SHA": MAIN_TIP,
        "GITHUB_REF": "refs/heads/main",
        "HOME": "/github/home",
    }
    env.update(extra)
    return env


def pr_env(event: str, number: int, head_ref: str, merge_sha: str, **extra: str) -> dict[str, str]:
    return actions_env(
        event,
        GITHUB_SHA=merge_sha,
        GITHUB_REF=f"refs/pull/{number}/merge",
        GITHUB_HEAD_REF=head_ref,
        GITHUB_BASE_REF="main",
        **extra,
    )


# ---------------------------------------------------------------------------- pull requests


def test_pull_request_gates_the_head_commit_not_the_merge_commit() -> None:
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"))
    assert ctx.head_sha == PR128_HEAD
    assert ctx.head_sha != env["GITHUB_SHA"]
    assert ctx.event_name == "pull_request"
    assert ctx.is_pull_request and ctx.in_actions
    assert ctx.branch == "prompt/refund-policy"
    assert ctx.base_branch == "main"
    assert ctx.base_sha == MAIN_TIP
    assert ctx.default_branch == "main"
    assert ctx.pr_number == 128
    assert not ctx.is_fork and not ctx.read_only and ctx.read_only_reason is None
    assert ctx.head_repository == REPO
    assert ctx.run_id == RUN_ID and ctx.run_attempt == 1
    assert ctx.repository == REPO
    assert ctx.repository_url == "https://github.com/acme-ai/support-bot"
    assert ctx.server_url == "https://github.com"
    assert ctx.api_url == "https://api.github.com"
    assert ctx.workspace == "/github/workspace"
    assert ctx.actor == "alice-ml"
    assert not ctx.on_base_branch
    assert ctx.triggering_run_id is None
    # No checkout given: the payload has no merge-base, and the context says so.
    assert ctx.merge_base is None
    assert any("merge-base unknown" in note for note in ctx.notes)


def test_fork_pull_request_is_read_only_even_when_its_branch_is_called_main() -> None:
    env = pr_env("pull_request", 131, "main", "1" * 40, GITHUB_ACTOR="octo-contrib")
    ctx = from_github_event(env, payload("pull_request.fork.json"))
    assert ctx.head_sha == PR131_HEAD
    assert ctx.is_fork
    assert ctx.read_only
    assert ctx.read_only_reason is not None and "fork" in ctx.read_only_reason
    assert ctx.head_repository == "octo-contrib/support-bot"
    assert ctx.repository == REPO
    assert ctx.branch == "main"  # the fork's main ...
    assert not ctx.on_base_branch  # ... is not our base branch
    assert ctx.pr_number == 131


def test_dependabot_pull_request_is_not_read_only_by_actor() -> None:
    # A workflow's `permissions:` can grant Dependabot's runs write access: only a refused
    # write (action/main.py) says the token cannot write, never who opened the PR.
    env = pr_env(
        "pull_request",
        133,
        "dependabot/pip/openai-1.55.3",
        "2" * 40,
        GITHUB_ACTOR="dependabot[bot]",
    )
    ctx = from_github_event(env, payload("pull_request.dependabot.json"))
    assert ctx.head_sha == PR133_HEAD
    assert ctx.actor == "dependabot[bot]"
    assert not ctx.is_fork
    assert not ctx.read_only and ctx.read_only_reason is None
    assert ctx.pr_number == 133


def test_pull_request_target_from_a_fork_has_a_write_token() -> None:
    # On pull_request_target GITHUB_SHA is the base branch tip: still not the commit to gate.
    env = actions_env("pull_request_target", GITHUB_SHA=MAIN_TIP, GITHUB_HEAD_REF="main")
    ctx = from_github_event(env, payload("pull_request_target.fork.json"))
    assert ctx.head_sha == PR131_HEAD2
    assert ctx.is_fork
    assert not ctx.read_only
    assert ctx.is_pull_request
    assert ctx.base_branch == "main" and ctx.base_sha == MAIN_TIP


def test_pull_request_with_deleted_head_repository_is_treated_as_a_fork() -> None:
    data = payload("pull_request.fork.json")
    data["pull_request"]["head"]["repo"] = None
    ctx = from_github_event(pr_env("pull_request", 131, "main", "1" * 40), data)
    assert ctx.is_fork and ctx.read_only
    assert ctx.head_repository is None
    assert any("deleted fork" in note for note in ctx.notes)


def test_pull_request_falls_back_to_head_and_base_ref_variables() -> None:
    data = payload("pull_request.same_repo.json")
    del data["pull_request"]["head"]["ref"]
    del data["pull_request"]["base"]["ref"]
    ctx = from_github_event(pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE), data)
    assert ctx.branch == "prompt/refund-policy"
    assert ctx.base_branch == "main"


# ---------------------------------------------------------------------------- merge group


def test_merge_group() -> None:
    head_ref = f"refs/heads/gh-readonly-queue/main/pr-128-{MAIN_TIP}"
    env = actions_env("merge_group", GITHUB_SHA=MERGE_GROUP_HEAD, GITHUB_REF=head_ref)
    ctx = from_github_event(env, payload("merge_group.json"))
    assert ctx.head_sha == MERGE_GROUP_HEAD
    assert ctx.branch == f"gh-readonly-queue/main/pr-128-{MAIN_TIP}"
    assert ctx.base_branch == "main"
    assert ctx.base_sha == MAIN_TIP
    assert ctx.pr_number is None
    assert not ctx.is_fork and not ctx.read_only and not ctx.on_base_branch


# ---------------------------------------------------------------------------- workflow_run


def test_workflow_run_for_a_pull_request() -> None:
    env = actions_env("workflow_run", GITHUB_RUN_ID="11990009999")
    ctx = from_github_event(env, payload("workflow_run.pull_request.json"))
    assert ctx.head_sha == PR128_HEAD
    assert ctx.head_sha != env["GITHUB_SHA"]
    assert ctx.pr_number == 128
    assert ctx.branch == "prompt/refund-policy"
    assert ctx.base_branch == "main" and ctx.base_sha == MAIN_TIP
    assert ctx.run_id == "11990009999"  # this (publishing) run
    assert ctx.triggering_run_id == "11987654321"  # the PR's run, whose artifact we publish
    assert ctx.triggering_run_attempt == 2
    assert ctx.triggering_event == "pull_request"
    assert not ctx.is_fork and not ctx.read_only and not ctx.on_base_branch
    assert not ctx.is_pull_request


def test_workflow_run_for_a_fork_pull_request_has_no_pr_number() -> None:
    ctx = from_github_event(actions_env("workflow_run"), payload("workflow_run.fork.json"))
    assert ctx.head_sha == PR131_HEAD
    assert ctx.pr_number is None
    assert ctx.is_fork
    assert not ctx.read_only  # workflow_run runs in the base repository, with its token
    assert ctx.head_repository == "octo-contrib/support-bot"
    assert ctx.base_branch == "main"  # fallback: the default branch
    assert ctx.base_sha is None
    note = next(note for note in ctx.notes if "pull_requests" in note)
    assert "octo-contrib/support-bot:main" in note
    assert "driftgate publish" in note


def test_workflow_run_after_a_push_to_main_is_on_the_base_branch() -> None:
    ctx = from_github_event(actions_env("workflow_run"), payload("workflow_run.push.json"))
    assert ctx.head_sha == PUSH_MAIN_HEAD
    assert ctx.triggering_event == "push"
    assert ctx.on_base_branch
    assert not any("pull_requests" in note for note in ctx.notes)


def _with_pull_requests(*entries: dict[str, Any]) -> dict[str, Any]:
    data = payload("workflow_run.pull_request.json")
    data["workflow_run"]["pull_requests"] = list(entries)
    return data


def _listed_pr(number: int, head: str, repo_id: int, repo_url: str | None) -> dict[str, Any]:
    """An entry of `workflow_run.pull_requests` as GitHub writes it: repositories by id, API
    URL and name only."""
    repo: dict[str, Any] = {"id": repo_id, "name": repo_url.rsplit("/", 1)[1] if repo_url else ""}
    if repo_url:
        repo["url"] = repo_url
    return {
        "url": f"{repo_url}/pulls/{number}",
        "id": 2100000000 + number,
        "number": number,
        "head": {"ref": "prompt/refund-policy", "sha": head, "repo": repo},
        "base": {"ref": "release", "sha": FORK_POINT, "repo": repo},
    }


OUR_ID, OUR_URL = 801234567, "https://api.github.com/repos/acme-ai/support-bot"
UPSTREAM_ID, UPSTREAM_URL = 700000001, "https://api.github.com/repos/upstream-org/support-bot"


def test_workflow_run_ignores_pull_requests_of_other_repositories() -> None:
    # Our branch is also the head of a PR into another repository: that PR is not ours.
    data = _with_pull_requests(_listed_pr(9, PR128_HEAD, UPSTREAM_ID, UPSTREAM_URL))
    ctx = from_github_event(actions_env("workflow_run"), data)
    assert ctx.pr_number is None
    assert ctx.base_branch == "main"  # the default branch, not the other repository's base
    assert ctx.base_sha is None
    assert any("1 pull request of other repositories" in note for note in ctx.notes)


def test_workflow_run_picks_this_repositorys_pull_request_among_others() -> None:
    data = _with_pull_requests(
        _listed_pr(9, PR128_HEAD, UPSTREAM_ID, UPSTREAM_URL),
        _listed_pr(128, PR128_HEAD, OUR_ID, OUR_URL),
    )
    ctx = from_github_event(actions_env("workflow_run"), data)
    assert ctx.pr_number == 128
    assert ctx.base_branch == "release" and ctx.base_sha == FORK_POINT
    assert not any("other repositories" in note for note in ctx.notes)


def test_workflow_run_matches_this_repository_by_api_url_without_ids() -> None:
    ours = _listed_pr(128, PR128_HEAD, OUR_ID, OUR_URL.upper())
    theirs = _listed_pr(9, PR128_HEAD, UPSTREAM_ID, UPSTREAM_URL)
    for entry in (ours, theirs):
        del entry["base"]["repo"]["id"]
    data = _with_pull_requests(theirs, ours)
    del data["repository"]["id"]
    assert from_github_event(actions_env("workflow_run"), data).pr_number == 128
    # No `url` in the payload's repository either: GITHUB_REPOSITORY under GITHUB_API_URL.
    del data["repository"]["url"]
    assert from_github_event(actions_env("workflow_run"), data).pr_number == 128
    data["workflow_run"]["pull_requests"] = [theirs]
    assert from_github_event(actions_env("workflow_run"), data).pr_number is None


def test_workflow_run_prefers_the_pull_request_at_the_runs_commit() -> None:
    data = _with_pull_requests(
        _listed_pr(127, PR131_HEAD, OUR_ID, OUR_URL),
        _listed_pr(128, PR128_HEAD, OUR_ID, OUR_URL),
    )
    assert from_github_event(actions_env("workflow_run"), data).pr_number == 128


# ---------------------------------------------------------------------------- branch events


def test_push_to_main_records_on_the_base_branch() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD)
    ctx = from_github_event(env, payload("push.main.json"))
    assert ctx.head_sha == PUSH_MAIN_HEAD
    assert ctx.branch == "main" and ctx.base_branch == "main"
    assert ctx.on_base_branch
    assert ctx.base_sha == MAIN_TIP  # the previous tip, `before`
    assert ctx.pr_number is None and not ctx.read_only


def test_push_creating_a_branch() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_BRANCH_HEAD, GITHUB_REF="refs/heads/exp/small-model")
    ctx = from_github_event(env, payload("push.new_branch.json"))
    assert ctx.head_sha == PUSH_BRANCH_HEAD
    assert ctx.branch == "exp/small-model"
    assert ctx.base_branch == "main"
    assert not ctx.on_base_branch
    assert ctx.base_sha is None


def test_push_of_a_tag_has_no_branch() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD, GITHUB_REF="refs/tags/v1.2.0")
    ctx = from_github_event(env, payload("push.main.json"))
    assert ctx.branch is None and not ctx.on_base_branch
    assert any("refs/tags/v1.2.0" in note for note in ctx.notes)


def test_push_by_dependabot_is_not_read_only() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD, GITHUB_ACTOR="dependabot[bot]")
    ctx = from_github_event(env, payload("push.main.json"))
    assert not ctx.read_only and ctx.on_base_branch


@pytest.mark.parametrize("ref", ["refs/heads/exp/small-model", "refs/tags/v1.2.0"])
def test_a_push_that_deleted_its_ref_has_nothing_to_gate(ref: str) -> None:
    data = payload("push.new_branch.json")
    data.update(ref=ref, before=PUSH_BRANCH_HEAD, after="0" * 40, deleted=True, created=False)
    data.update(head_commit=None, commits=[])
    # GitHub's documented environment: GITHUB_SHA and GITHUB_REF revert to the default branch.
    env = actions_env("push", GITHUB_SHA=MAIN_TIP, GITHUB_REF="refs/heads/main")
    git = FakeGit(head=MAIN_TIP)
    ctx = from_github_event(env, data, git)
    assert ctx.nothing_to_gate is not None
    assert f"deleted {ref}" in ctx.nothing_to_gate
    assert "github.event.deleted" in ctx.nothing_to_gate
    # Above all, not a run of the default branch that would record a baseline.
    assert not ctx.on_base_branch
    assert ctx.branch == _branch_or_none(ref)
    assert ctx.base_branch == "main"
    assert ctx.merge_base is None and git.asked == []
    # `after` alone (000…) says it too, and the environment may name the deleted ref.
    del data["deleted"]
    env["GITHUB_REF"] = ref
    assert from_github_event(env, data).nothing_to_gate is not None


def _branch_or_none(ref: str) -> str | None:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def test_only_a_deleting_push_has_nothing_to_gate() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD)
    assert from_github_event(env, payload("push.main.json")).nothing_to_gate is None
    created = payload("push.new_branch.json")
    assert created["before"] == "0" * 40 and created["created"] is True
    env = actions_env("push", GITHUB_SHA=PUSH_BRANCH_HEAD, GITHUB_REF="refs/heads/exp/small-model")
    assert from_github_event(env, created).nothing_to_gate is None
    for event in ("pull_request", "workflow_run", "merge_group"):
        fixture = {
            "pull_request": "pull_request.same_repo.json",
            "workflow_run": "workflow_run.push.json",
            "merge_group": "merge_group.json",
        }[event]
        data = payload(fixture) | {"deleted": True, "after": "0" * 40}
        ctx = from_github_event(pr_env(event, 128, "prompt/refund-policy", PR128_MERGE), data)
        assert ctx.nothing_to_gate is None


# ------------------------------------------------------------------- the commit checked out


def test_pull_request_checkout_of_the_merge_commit_or_the_head_is_the_prs_code() -> None:
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    for head in (PR128_MERGE, PR128_HEAD):
        ctx = from_github_event(env, payload("pull_request.same_repo.json"), FakeGit(head=head))
        assert ctx.checkout_sha == head
        assert not any("WARNING" in note for note in ctx.notes)


def test_pull_request_target_default_checkout_is_the_base_and_says_so_loudly() -> None:
    # GitHub's environment for pull_request_target: GITHUB_SHA is the base branch's tip, and
    # actions/checkout checks that out unless given a ref.
    env = actions_env("pull_request_target", GITHUB_SHA=MAIN_TIP, GITHUB_HEAD_REF="main")
    ctx = from_github_event(env, payload("pull_request_target.fork.json"), FakeGit(head=MAIN_TIP))
    assert ctx.checkout_sha == MAIN_TIP
    assert ctx.head_sha == PR131_HEAD2  # still recorded and reported for the PR head ...
    warning = ctx.notes[0]  # ... and the first thing the log and the report say
    assert warning.startswith("WARNING: the checkout is ae892699b97c, not the pull request's head")
    assert "ref: ${{ github.event.pull_request.head.sha }}" in warning
    assert "token that can write" in warning and "secrets" in warning
    # Checked out as the warning says: quiet.
    fixed = from_github_event(
        env, payload("pull_request_target.fork.json"), FakeGit(head=PR131_HEAD2)
    )
    assert fixed.checkout_sha == PR131_HEAD2
    assert not any("WARNING" in note for note in fixed.notes)


def test_workflow_run_default_checkout_is_the_default_branch_and_says_so_loudly() -> None:
    env = actions_env("workflow_run", GITHUB_SHA=MAIN_TIP)
    ctx = from_github_event(env, payload("workflow_run.pull_request.json"), FakeGit(head=MAIN_TIP))
    assert ctx.checkout_sha == MAIN_TIP and ctx.head_sha == PR128_HEAD
    assert ctx.notes[0].startswith("WARNING: the checkout is ae892699b97c, not the pull request's")
    assert "ref: ${{ github.event.workflow_run.head_sha }}" in ctx.notes[0]
    assert "token that can write" in ctx.notes[0]
    pushed = from_github_event(env, payload("workflow_run.push.json"), FakeGit(head=MAIN_TIP))
    assert "not the triggering run's commit" in pushed.notes[0]
    quiet = from_github_event(env, payload("workflow_run.push.json"), FakeGit(head=PUSH_MAIN_HEAD))
    assert not any("WARNING" in note for note in quiet.notes)


def test_a_push_whose_checkout_is_another_commit_says_so() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD)
    ctx = from_github_event(env, payload("push.main.json"), FakeGit(head=MAIN_TIP))
    assert ctx.notes[0].startswith(
        "WARNING: the checkout is ae892699b97c, not the commit this run is for d31aae17b190"
    )
    # A pull_request run whose job checked out something else than the PR is caught too.
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), FakeGit(head=MAIN_TIP))
    assert "WARNING" in ctx.notes[0]
    # Without a readable checkout there is nothing to compare: no claim either way.
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), FakeGit(repo=False))
    assert ctx.checkout_sha is None and not any("WARNING" in note for note in ctx.notes)


def test_workflow_dispatch_uses_github_sha_and_ref() -> None:
    env = actions_env("workflow_dispatch", GITHUB_SHA=PUSH_MAIN_HEAD, GITHUB_RUN_ATTEMPT="2")
    ctx = from_github_event(env, payload("workflow_dispatch.json"))
    assert ctx.head_sha == PUSH_MAIN_HEAD
    assert ctx.branch == "main" and ctx.on_base_branch
    assert ctx.run_attempt == 2


def test_schedule_runs_on_the_default_branch() -> None:
    ctx = from_github_event(actions_env("schedule"), payload("schedule.json"))
    assert ctx.head_sha == MAIN_TIP
    assert ctx.default_branch == "main" and ctx.on_base_branch
    assert ctx.repository == REPO


def test_push_with_a_bare_payload_falls_back_to_the_environment_and_git() -> None:
    env = actions_env("push", GITHUB_SHA=PUSH_MAIN_HEAD)
    git = FakeGit(
        head=PUSH_MAIN_HEAD,
        default="main",
        merge_bases={(PUSH_MAIN_HEAD, "origin/main"): PUSH_MAIN_HEAD},
    )
    ctx = from_github_event(env, {}, git)
    assert ctx.head_sha == PUSH_MAIN_HEAD
    assert ctx.on_base_branch
    assert ctx.merge_base == PUSH_MAIN_HEAD
    assert any("local git says main" in note for note in ctx.notes)


def test_enterprise_server_urls() -> None:
    env = actions_env(
        "push", GITHUB_SHA=PUSH_MAIN_HEAD, GITHUB_SERVER_URL="https://ghe.example.com/"
    )
    del env["GITHUB_API_URL"]
    ctx = from_github_event(env, payload("push.main.json"))
    assert ctx.server_url == "https://ghe.example.com"
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.repository_url == "https://ghe.example.com/acme-ai/support-bot"


# ---------------------------------------------------------------------------- merge-base


def test_merge_base_comes_from_local_git_when_the_history_is_there() -> None:
    git = FakeGit(merge_bases={(PR128_HEAD, MAIN_TIP): FORK_POINT})
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), git)
    assert ctx.merge_base == FORK_POINT
    assert git.asked[0] == (PR128_HEAD, MAIN_TIP)
    assert not any("merge-base" in note for note in ctx.notes)


def test_merge_base_falls_back_to_the_base_branch_ref() -> None:
    git = FakeGit(merge_bases={(PR128_HEAD, "origin/main"): FORK_POINT})
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), git)
    assert ctx.merge_base == FORK_POINT


def test_shallow_checkout_leaves_merge_base_unknown_with_the_fix() -> None:
    git = FakeGit(shallow=True)
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), git)
    assert ctx.merge_base is None
    note = next(note for note in ctx.notes if "merge-base unknown" in note)
    assert "shallow" in note and "fetch-depth: 0" in note
    # The context only says why; what is done instead (and whether it worked) is said by
    # the history (ci/ancestry.py), never claimed here.
    assert "API" not in note


def test_unusable_checkout_is_a_note_in_actions() -> None:
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    data = payload("pull_request.same_repo.json")
    ctx = from_github_event(env, data, FakeGit(repo=False))
    assert any("not a git checkout" in note for note in ctx.notes)
    dubious = DubiousOwnership(
        "git refuses the repository at /github/workspace ... Allow it with: "
        "git config --global --add safe.directory /github/workspace",
        ("git",),
        "/github/workspace",
        "/github/workspace",
    )
    ctx = from_github_event(env, data, FakeGit(fail=dubious))
    assert any("safe.directory /github/workspace" in note for note in ctx.notes)


def test_configured_baseline_branch_overrides_the_payload_base() -> None:
    git = FakeGit(merge_bases={(PR128_HEAD, "origin/release"): FORK_POINT})
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    ctx = from_github_event(env, payload("pull_request.same_repo.json"), git, base_branch="release")
    assert ctx.base_branch == "release"
    assert ctx.base_sha is None  # the payload's base sha is main's
    assert ctx.merge_base == FORK_POINT
    assert any("release (configured) instead of main" in note for note in ctx.notes)


# ---------------------------------------------------------------------------- bad input


def test_event_payload_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="GITHUB_EVENT_PATH is not set"):
        read_event_payload(None)
    with pytest.raises(ContextError, match=r"does not exist.*local git"):
        read_event_payload(tmp_path / "missing.json")
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"pull_request": {"head": ')
    with pytest.raises(ContextError, match="is not JSON"):
        read_event_payload(garbled)
    garbled.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ContextError, match="cannot read"):
        read_event_payload(garbled)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ContextError, match="JSON list, not an object"):
        read_event_payload(listed)
    good = tmp_path / "event.json"
    good.write_text((EVENTS / "push.main.json").read_text())
    assert read_event_payload(str(good))["after"] == PUSH_MAIN_HEAD


def test_build_context_reads_the_event_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text((EVENTS / "pull_request.same_repo.json").read_text())
    env = pr_env(
        "pull_request",
        128,
        "prompt/refund-policy",
        PR128_MERGE,
        GITHUB_EVENT_PATH=str(event),
    )
    ctx = build_context(env, None, workspace="/elsewhere", now=NOW)
    assert ctx.head_sha == PR128_HEAD
    env["GITHUB_EVENT_PATH"] = str(tmp_path / "gone.json")
    with pytest.raises(ContextError, match=r"gone\.json .* does not exist"):
        build_context(env, None, workspace="/elsewhere", now=NOW)


def test_pull_request_payload_without_pull_request_never_falls_back_to_github_sha() -> None:
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    with pytest.raises(ContextError, match=r"no `pull_request`.*GITHUB_SHA is a temporary merge"):
        from_github_event(env, {"action": "opened", "number": 128})


@pytest.mark.parametrize(
    ("fixture", "event", "path", "message"),
    [
        (
            "pull_request.same_repo.json",
            "pull_request",
            ("pull_request", "head", "sha"),
            "head.sha",
        ),
        (
            "pull_request.same_repo.json",
            "pull_request",
            ("pull_request", "base", "ref"),
            "base.ref",
        ),
        ("merge_group.json", "merge_group", ("merge_group",), "merge_group"),
        ("merge_group.json", "merge_group", ("merge_group", "head_sha"), "head_sha"),
        ("merge_group.json", "merge_group", ("merge_group", "base_ref"), "base_ref"),
        ("workflow_run.fork.json", "workflow_run", ("workflow_run",), "workflow_run"),
        ("workflow_run.fork.json", "workflow_run", ("workflow_run", "head_sha"), "head_sha"),
    ],
)
def test_missing_keys_name_what_is_missing(
    fixture: str, event: str, path: tuple[str, ...], message: str
) -> None:
    data = payload(fixture)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    env = actions_env(event, GITHUB_HEAD_REF="", GITHUB_BASE_REF="")
    with pytest.raises(ContextError, match=message):
        from_github_event(env, data)


def test_pull_request_without_number() -> None:
    data = payload("pull_request.same_repo.json")
    del data["number"]
    del data["pull_request"]["number"]
    with pytest.raises(ContextError, match="no `number`"):
        from_github_event(pr_env("pull_request", 128, "b", PR128_MERGE), data)


def test_a_head_sha_that_is_not_a_sha() -> None:
    data = payload("pull_request.same_repo.json")
    data["pull_request"]["head"]["sha"] = "HEAD~1"
    with pytest.raises(ContextError, match="'HEAD~1', not a full commit sha"):
        from_github_event(pr_env("pull_request", 128, "b", PR128_MERGE), data)


def test_unknown_event() -> None:
    with pytest.raises(ContextError, match="'issue_comment' event is not supported") as raised:
        from_github_event(actions_env("issue_comment"), {"action": "created"})
    assert all(event in str(raised.value) for event in SUPPORTED_EVENTS)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GITHUB_EVENT_NAME", "", "GITHUB_EVENT_NAME is not set"),
        ("GITHUB_RUN_ID", "", "GITHUB_RUN_ID is not set"),
        ("GITHUB_RUN_ATTEMPT", "first", "GITHUB_RUN_ATTEMPT is 'first'"),
        ("GITHUB_RUN_ATTEMPT", "0", "GITHUB_RUN_ATTEMPT is '0'"),
        ("GITHUB_SHA", "", "GITHUB_SHA .* is missing"),
    ],
)
def test_bad_environment(variable: str, value: str, message: str) -> None:
    env = actions_env("workflow_dispatch", **{variable: value})
    data = payload("workflow_dispatch.json")
    with pytest.raises(ContextError, match=message):
        from_github_event(env, data)


def _mutations(data: Any, path: tuple[str, ...] = (), depth: int = 3) -> Iterator[tuple[str, ...]]:
    if depth == 0 or not isinstance(data, dict):
        return
    for key, value in data.items():
        yield (*path, key)
        yield from _mutations(value, (*path, key), depth - 1)


ODD_VALUES: list[Any] = [None, 7, "", "x", [], {}, True]


@pytest.mark.parametrize("fixture", sorted(p.name for p in EVENTS.glob("*.json")))
def test_any_damaged_payload_gives_a_context_or_a_context_error(fixture: str) -> None:
    """Remove or replace every key down to three levels: never another exception."""
    original = payload(fixture)
    event = fixture.split(".", maxsplit=1)[0]
    env = pr_env(event, 128, "prompt/refund-policy", PR128_MERGE)
    outcomes = {"ok": 0, "error": 0}
    for path in _mutations(original):
        for replacement in [..., *ODD_VALUES]:
            data = copy.deepcopy(original)
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if replacement is ...:
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            try:
                from_github_event(env, data, FakeGit(shallow=True))
            except ContextError:
                outcomes["error"] += 1
            else:
                outcomes["ok"] += 1
    assert outcomes["ok"] > 0


# ---------------------------------------------------------------------------- local git


def test_local_context_from_git() -> None:
    git = FakeGit(
        head=PUSH_BRANCH_HEAD,
        branch="exp/small-model",
        merge_bases={(PUSH_BRANCH_HEAD, "main"): FORK_POINT},
    )
    ctx = from_local_git(git, workspace="/home/dev/support-bot", now=NOW)
    assert ctx.event_name == "local" and not ctx.in_actions
    assert ctx.head_sha == PUSH_BRANCH_HEAD
    assert ctx.branch == "exp/small-model"
    assert ctx.base_branch == "main" and ctx.default_branch == "main"
    assert ctx.merge_base == FORK_POINT
    assert ctx.run_id == "local-20250102T030405.123456Z"
    assert ctx.run_attempt == 1
    assert ctx.repository == REPO
    assert ctx.repository_url == "https://github.com/acme-ai/support-bot"
    assert ctx.server_url == "https://github.com" and ctx.api_url == "https://api.github.com"
    assert ctx.workspace == "/home/dev/support-bot"
    assert not ctx.on_base_branch and not ctx.read_only and ctx.pr_number is None
    assert ctx.notes == ()


def test_local_run_on_main_with_origin_main_only() -> None:
    git = FakeGit(
        head=PUSH_MAIN_HEAD,
        branch="main",
        remote="https://ghe.example.com/acme-ai/support-bot",
        merge_bases={(PUSH_MAIN_HEAD, "origin/main"): PUSH_MAIN_HEAD},
    )
    ctx = from_local_git(git, workspace=".", now=NOW, base_branch=None)
    assert ctx.on_base_branch
    assert ctx.merge_base == PUSH_MAIN_HEAD
    assert ctx.api_url == "https://ghe.example.com/api/v3"


def test_local_detached_without_remote_or_default_branch() -> None:
    git = FakeGit(head=PUSH_MAIN_HEAD, branch=None, default=None, remote=None)
    ctx = from_local_git(git, workspace=".", now=NOW)
    assert ctx.branch is None and ctx.base_branch is None and ctx.merge_base is None
    assert ctx.repository is None and ctx.repository_url is None
    assert any("detached" in note for note in ctx.notes)
    assert any("no base branch" in note for note in ctx.notes)
    env = command_env(ctx, "triage")
    assert "DD_GIT_REPOSITORY_URL" not in env
    assert set(json.loads(env["DRIFTGATE_TAGS"])) == {
        "ci.pipeline",
        "ci.run_id",
        "ci.run_attempt",
        "ci.event",
    }


def test_local_errors_are_context_errors() -> None:
    with pytest.raises(ContextError, match="not inside a git repository"):
        from_local_git(FakeGit(repo=False), workspace="/srv/x", now=NOW)

    class Empty(FakeGit):
        def head_sha(self) -> str:
            raise NoCommits("the repository at /w has no commits yet: commit something first")

    with pytest.raises(ContextError, match="no commits yet"):
        from_local_git(Empty(), workspace="/w", now=NOW)
    dubious = DubiousOwnership(
        "Allow it with: git config --global --add safe.directory /w", ("git",), "/w", "/w"
    )
    with pytest.raises(ContextError, match=r"safe\.directory /w"):
        from_local_git(FakeGit(fail=dubious), workspace="/w", now=NOW)
    with pytest.raises(ContextError, match="no git checkout"):
        build_context({}, None, workspace="/w", now=NOW)


def test_build_context_outside_actions_uses_git() -> None:
    ctx = build_context({"CI": "true"}, FakeGit(), workspace="/w", now=NOW)
    assert ctx.event_name == "local"


def test_local_run_ids_are_utc_and_sort_in_time_order() -> None:
    earlier = datetime(2025, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)
    later = earlier + timedelta(microseconds=1)
    assert local_run_id(earlier) < local_run_id(later)
    assert local_run_id(datetime(2025, 1, 2, 3, 4, 5)) == "local-20250102T030405.000000Z"
    paris = timezone(timedelta(hours=1))
    assert local_run_id(datetime(2025, 1, 2, 4, 4, 5, tzinfo=paris)) == (
        "local-20250102T030405.000000Z"
    )


def test_local_context_with_a_real_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "repo"
    repo.mkdir()

    def sh(*args: str) -> str:
        identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
        done = subprocess.run(
            ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    sh("init", "--quiet", "--initial-branch=main")
    sh("commit", "--quiet", "--allow-empty", "-m", "base")
    base = sh("rev-parse", "HEAD")
    sh("checkout", "--quiet", "-b", "feature")
    sh("commit", "--quiet", "--allow-empty", "-m", "change")
    sh("remote", "add", "origin", "https://bot:ghp_s3cret@github.com/acme-ai/support-bot.git")
    ctx = build_context({}, GitRepo(repo), workspace=str(repo), now=NOW)
    assert ctx.head_sha == sh("rev-parse", "HEAD")
    assert ctx.branch == "feature" and ctx.base_branch == "main"
    assert ctx.merge_base == base
    assert ctx.repository_url == "https://github.com/acme-ai/support-bot"
    assert "ghp_s3cret" not in ctx.model_dump_json()


# ---------------------------------------------------------------------------- injected env


def _pr_context(**changes: Any) -> CIContext:
    env = pr_env("pull_request", 128, "prompt/refund-policy", PR128_MERGE)
    return from_github_event(env, payload("pull_request.same_repo.json")).model_copy(update=changes)


def test_command_env_for_a_pull_request() -> None:
    env = command_env(_pr_context(), "triage")
    assert env["DD_GIT_COMMIT_SHA"] == PR128_HEAD
    assert env["DD_GIT_REPOSITORY_URL"] == "https://github.com/acme-ai/support-bot"
    assert env["DRIFTGATE_PIPELINE"] == "triage"
    assert env["DRIFTGATE_EXPERIMENT_NAME"] == f"triage-{RUN_ID}"
    assert json.loads(env["DRIFTGATE_METADATA"]) == {
        "commit": PR128_HEAD,
        "branch": "prompt/refund-policy",
        "base_branch": "main",
        "pr": 128,
        "run_id": RUN_ID,
        "run_attempt": 1,
        "repository": REPO,
        "pipeline": "triage",
        "dirty": False,
    }
    assert json.loads(env["DRIFTGATE_TAGS"]) == {
        "git.branch": "prompt/refund-policy",
        "git.base_branch": "main",
        "ci.pipeline": "triage",
        "ci.run_id": RUN_ID,
        "ci.run_attempt": "1",
        "ci.pr": "128",
        "ci.event": "pull_request",
    }
    assert all(isinstance(value, str) for value in env.values())


def test_experiment_name_carries_the_attempt_on_reruns() -> None:
    assert experiment_name(_pr_context(run_attempt=1), "triage") == f"triage-{RUN_ID}"
    assert experiment_name(_pr_context(run_attempt=3), "triage") == f"triage-{RUN_ID}-3"
    assert tags(_pr_context(run_attempt=3), "triage")["ci.run_attempt"] == "3"


def test_command_env_needs_a_pipeline() -> None:
    with pytest.raises(ValueError, match="pipeline"):
        command_env(_pr_context(), "")


def test_context_is_immutable() -> None:
    ctx = _pr_context()
    with pytest.raises(ValueError, match="frozen"):
        ctx.head_sha = PR128_MERGE  # type: ignore[misc]


def test_a_fork_branch_is_recorded_with_its_owner() -> None:
    # A fork's `main` must never look like a base-branch run when baselines match by branch.
    env = pr_env("pull_request", 131, "main", "1" * 40)
    data = payload("pull_request.fork.json")
    injected = command_env(from_github_event(env, data), "triage")
    assert json.loads(injected["DRIFTGATE_METADATA"])["branch"] == "octo-contrib:main"
    assert json.loads(injected["DRIFTGATE_TAGS"])["git.branch"] == "octo-contrib:main"
    data["pull_request"]["head"]["repo"] = None
    injected = command_env(from_github_event(env, data), "triage")
    assert json.loads(injected["DRIFTGATE_TAGS"])["git.branch"] == "fork:main"


def test_a_dirty_checkout_is_tagged_and_said_in_the_metadata() -> None:
    env = command_env(_pr_context(dirty=True), "triage")
    assert json.loads(env["DRIFTGATE_TAGS"])["git.dirty"] == "true"
    assert json.loads(env["DRIFTGATE_METADATA"])["dirty"] is True
    assert "git.dirty" not in json.loads(command_env(_pr_context(), "triage")["DRIFTGATE_TAGS"])
