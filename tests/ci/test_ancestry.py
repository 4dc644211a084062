"""Where the baseline's commits come from (ci/ancestry.py): a real repository with a merge,
cloned for real (`git clone --depth N`, as actions/checkout does), the context built from
GitHub-shaped payloads, and the GitHub fake holding the pushed history."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from driftgate.ci.ancestry import Ancestry, baseline_ancestry
from driftgate.ci.context import CIContext, from_github_event
from driftgate.ci.git import GitRepo
from driftgate.ci.github_ancestry import GitHubHistory, HistoryPolicy
from tests.events import pull_request_event, push_event
from tests.fakes.github import FakeGitHub

REPO = "acme/bot"


def git(cwd: Path, *args: str, date: int | None = None) -> str:
    env = dict(os.environ)
    if date is not None:
        # Fixed dates: the side branch is newer than main's commits, as it would be in life.
        env.update(GIT_AUTHOR_DATE=f"@{date} +0000", GIT_COMMITTER_DATE=f"@{date} +0000")
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@dataclass
class Origin:
    """main: a - b - M - c, M merging side (s1 - s2, forked from a, newer than b); feature
    forks from M with one commit f."""

    path: Path
    shas: dict[str, str]

    def clone(self, into: Path, branch: str, depth: int | None = 1) -> Path:
        args = ["clone", "-q", "--branch", branch]
        if depth is not None:
            args += ["--depth", str(depth)]
        git(into.parent, *args, self.path.as_uri(), str(into))
        return into


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    path = tmp_path_factory.mktemp("origin")
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "ci@example.invalid")
    git(path, "config", "user.name", "ci")
    shas: dict[str, str] = {}
    clock = iter(range(1_700_000_000, 1_700_100_000, 60))

    def commit(name: str) -> None:
        (path / f"{name}.txt").write_text(name)
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", name, date=next(clock))
        shas[name] = git(path, "rev-parse", "HEAD")

    commit("a")
    commit("b")
    git(path, "checkout", "-q", "-b", "side", shas["a"])
    commit("s1")
    commit("s2")
    git(path, "checkout", "-q", "main")
    git(path, "merge", "-q", "--no-ff", "-m", "M", "side", date=next(clock))
    shas["M"] = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "-q", "-b", "feature")
    commit("f")
    git(path, "checkout", "-q", "main")
    commit("c")
    return Origin(path, shas)


@pytest.fixture
def fake(origin: Origin) -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        running.add_git_history(REPO, origin.path)
        yield running


def env(fake: FakeGitHub, event: str, sha: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": fake.api_url,
        "GITHUB_SHA": sha,
        "GITHUB_REF": "refs/heads/main",
    }


def pr_context(fake: FakeGitHub, origin: Origin, checkout: Path) -> CIContext:
    s = origin.shas
    payload = pull_request_event(REPO, 5, s["f"], s["c"])
    return from_github_event(env(fake, "pull_request", "e" * 40), payload, GitRepo(checkout))


def push_context(fake: FakeGitHub, origin: Origin, checkout: Path) -> CIContext:
    s = origin.shas
    payload = push_event(REPO, s["c"], s["M"])
    return from_github_event(env(fake, "push", s["c"]), payload, GitRepo(checkout))


def ancestry(fake: FakeGitHub, ctx: CIContext, checkout: Path | None, **kw: object) -> Ancestry:
    def quick(api_url: str, token: str, repository: str) -> GitHubHistory:
        return GitHubHistory(
            api_url, token, repository, policy=HistoryPolicy(sleep=lambda _s: None)
        )

    options: dict[str, object] = {"token": fake.token("write"), "open_history": quick, **kw}
    return baseline_ancestry(
        ctx,
        GitRepo(checkout) if checkout else None,
        limit=200,
        **options,  # type: ignore[arg-type]
    )


def test_a_full_clone_needs_no_api(fake: FakeGitHub, origin: Origin, tmp_path: Path) -> None:
    checkout = origin.clone(tmp_path / "ws", "feature", depth=None)
    ctx = pr_context(fake, origin, checkout)
    assert ctx.merge_base == origin.shas["M"]
    found = ancestry(fake, ctx, checkout)
    s = origin.shas
    assert found == Ancestry((s["M"], s["b"], s["a"]))
    assert fake.calls == []


def test_a_shallow_pull_request_reads_the_merge_base_and_its_first_parents_from_github(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "feature")
    ctx = pr_context(fake, origin, checkout)
    assert ctx.merge_base is None  # one commit: local git cannot tell
    found = ancestry(fake, ctx, checkout)
    s = origin.shas
    # First parents: the merge M, then b; never s1 or s2, though newer than b.
    assert found.shas == (s["M"], s["b"], s["a"])
    (note,) = found.notes
    assert note == (
        f"the shallow clone cannot compute the merge-base: the merge-base {s['M'][:12]} and its 2 "
        f"first-parent ancestors were read from GitHub's API (compare {s['c'][:12]}..."
        f"{s['f'][:12]}, then the commits listing)"
    )
    (compare,) = fake.called("GET", rf"/repos/{REPO}/compare/.*")
    # The payload's base sha, exact, not the branch (which may have moved since).
    assert compare.path == f"/repos/{REPO}/compare/{s['c']}...{s['f']}"
    assert compare.token == "write"


def test_a_shallow_push_to_main_reads_the_heads_ancestors(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "main")
    ctx = push_context(fake, origin, checkout)
    assert ctx.on_base_branch
    found = ancestry(fake, ctx, checkout)
    s = origin.shas
    assert found.shas == (s["M"], s["b"], s["a"])  # the head is the candidate, not a baseline
    assert found.notes == (
        f"the shallow clone holds 1 commit of {s['c'][:12]}'s history: the head's 3 "
        "first-parent ancestors were read from GitHub's API (the commits listing)",
    )
    assert not fake.called("GET", r".*/compare/.*")


def test_a_deeper_clone_is_continued_from_where_it_is_cut(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "main", depth=2)
    ctx = push_context(fake, origin, checkout)
    found = ancestry(fake, ctx, checkout)
    s = origin.shas
    assert found.shas == (s["M"], s["b"], s["a"])
    # Local git gave c and M; GitHub's listing starts at M, the clone's boundary.
    (listing,) = fake.called("GET", rf"/repos/{REPO}/commits")
    assert listing.query["sha"] == s["M"]


def test_without_a_checkout_everything_comes_from_github(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    ctx = pr_context(fake, origin, tmp_path)  # not a repository
    found = ancestry(fake, ctx, tmp_path)
    assert found.shas == (origin.shas["M"], origin.shas["b"], origin.shas["a"])
    assert found.notes[0].startswith("the workspace is not a git checkout: the merge-base")


def test_without_a_token_the_fallback_is_said_with_its_fixes(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "feature")
    found = ancestry(fake, pr_context(fake, origin, checkout), checkout, token=None)
    assert found.shas == ()
    (note,) = found.notes
    assert note.startswith("the shallow clone cannot compute the merge-base, and no GitHub token")
    assert "baselines are matched by the newest run on main instead" in note
    assert "`fetch-depth: 0`" in note and "`contents: read`" in note
    assert fake.calls == []


def test_a_listing_that_fails_keeps_the_merge_base(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "feature")
    fake.server_error(5, status=503, path=r"/commits$")
    found = ancestry(fake, pr_context(fake, origin, checkout), checkout)
    assert found.shas == (origin.shas["M"],)
    (note,) = found.notes
    assert "GitHub's API could not list the ancestors: GitHub did not answer" in note
    assert f"only {origin.shas['M'][:12]} is searched, then baselines are matched" in note


def test_a_refused_comparison_falls_back_loudly(
    fake: FakeGitHub, origin: Origin, tmp_path: Path
) -> None:
    checkout = origin.clone(tmp_path / "ws", "feature")
    found = ancestry(
        fake, pr_context(fake, origin, checkout), checkout, token="ghs_revoked_long_ago"
    )
    assert found.shas == ()
    (note,) = found.notes
    assert "GitHub's API could not give the merge-base: GitHub refused the token" in note
    assert "401 Bad credentials" in note
    assert "newest run on main instead" in note
    assert "ghs_revoked_long_ago" not in note
