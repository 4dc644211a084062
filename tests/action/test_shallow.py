"""The Action on shallow checkouts, as actions/checkout leaves them by default: every run is a
fresh `git clone --depth 1` of a real repository, the embedded store is carried from run to
run the way actions/cache would, and GitHub (the fake, with the repository's real commit
graph) is the only place that knows the history. A pull request still gets the baseline of
its merge-base (or of the nearest first-parent ancestor with one), and when GitHub refuses,
the run says so and falls back to the newest run on main, without a traceback."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from driftgate.action.github import GitHubReporter, RetryPolicy, connect
from driftgate.action.main import Edges, action_main
from tests.events import pull_request_event, push_event
from tests.fakes.github import WRITE_ALL, FakeGitHub

REPO = "acme/bot"
RAW = Path(__file__).parents[1] / "scripts" / "raw_experiment.py"
STORE = Path(".driftgate") / "store.db"


def git(cwd: Path, *args: str, date: int | None = None) -> str:
    env = dict(os.environ)
    if date is not None:
        env.update(GIT_AUTHOR_DATE=f"@{date} +0000", GIT_COMMITTER_DATE=f"@{date} +0000")
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@dataclass
class Run:
    code: int
    stdout: str
    outputs: dict[str, str]
    report: dict[str, Any]

    def notices(self) -> list[str]:
        return [
            line.removeprefix("::notice::").replace("%0A", "\n").replace("%25", "%")
            for line in self.stdout.splitlines()
            if line.startswith("::notice::")
        ]


@dataclass
class Project:
    """The repository on "GitHub" (`origin`, a real git repository), the store that
    actions/cache carries between runs, and the runs so far."""

    tmp: Path
    origin: Path
    cache: Path
    shas: dict[str, str] = field(default_factory=dict)
    experiments: dict[str, str] = field(default_factory=dict)
    """Commit name -> the id of the experiment recorded there."""
    clock: Iterator[int] = field(
        default_factory=lambda: iter(range(1_700_000_000, 1_800_000_000, 60))
    )
    runs: int = 0

    def commit(self, name: str) -> str:
        (self.origin / f"{name}.txt").write_text(name)
        git(self.origin, "add", ".")
        git(self.origin, "commit", "-q", "-m", name, date=next(self.clock))
        self.shas[name] = git(self.origin, "rev-parse", "HEAD")
        return self.shas[name]

    def act(
        self,
        fake: FakeGitHub,
        event: str,
        payload: dict[str, Any],
        branch: str,
        token: str = "write",
    ) -> Run:
        """One job: a fresh depth-1 clone of `branch`, the cached store restored into it,
        the Action, and the store saved back."""
        fake.add_git_history(REPO, self.origin)
        self.runs += 1
        run_dir = self.tmp / f"run-{self.runs}"
        run_dir.mkdir()
        workspace = run_dir / "workspace"
        git(
            run_dir,
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            branch,
            self.origin.as_uri(),
            str(workspace),
        )
        assert git(workspace, "rev-parse", "--is-shallow-repository") == "true"
        if self.cache.exists():
            (workspace / STORE).parent.mkdir(parents=True)
            shutil.copy(self.cache, workspace / STORE)
        (run_dir / "event.json").write_text(json.dumps(payload))
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DD_", "GITHUB_", "INPUT_", "DRIFTGATE_"))
        }
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=event,
            GITHUB_EVENT_PATH=str(run_dir / "event.json"),
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_REPOSITORY=REPO,
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_API_URL=fake.api_url,
            GITHUB_RUN_ID=str(2000 + self.runs),
            GITHUB_RUN_ATTEMPT="1",
            GITHUB_SHA=git(workspace, "rev-parse", "HEAD"),
            GITHUB_REF=f"refs/heads/{branch}",
            GITHUB_OUTPUT=str(run_dir / "output"),
            # Runs tagged with their branch, so that the fallback has something to find.
            RAW_DRIFTGATE_TAGS="1",
            INPUT_COMMAND=f"{sys.executable} {RAW}",
            INPUT_PIPELINE="qa",
            **{"INPUT_GITHUB-TOKEN": fake.token(token), "INPUT_API-URL": fake.api_url},
        )

        def reporter(secret: str, api_url: str) -> GitHubReporter:
            client = connect(
                secret, api_url, seconds_between_requests=None, seconds_between_writes=None
            )
            return GitHubReporter(client, REPO, RetryPolicy(sleep=lambda _s: None))

        stdout = io.StringIO()
        code = action_main(Edges(env, stdout, github=reporter))
        shutil.copy(workspace / STORE, self.cache)
        outputs = dict(
            line.split("=", 1)
            for line in (run_dir / "output").read_text().splitlines()
            if "=" in line
        )
        report = json.loads((workspace / ".driftgate/report/report.json").read_text())
        return Run(code, stdout.getvalue(), outputs, report)

    def record(self, fake: FakeGitHub, name: str, before: str, branch: str = "main") -> Run:
        run = self.act(fake, "push", push_event(REPO, self.shas[name], before, branch), branch)
        assert run.code == 0, run.stdout
        self.experiments[name] = run.outputs["experiment-id"]
        return run

    def pull_request(self, fake: FakeGitHub, number: int, head: str, **kw: Any) -> Run:
        """Pull request `number` from branch `head` into main, as GitHub sends it."""
        sha, base = self.shas[head], git(self.origin, "rev-parse", "main")
        fake.add_git_history(REPO, self.origin)
        fake.add_pull(REPO, number, head_sha=sha, base_sha=base, head_ref=head)
        payload = pull_request_event(REPO, number, sha, base, head_ref=head)
        return self.act(fake, "pull_request", payload, head, **kw)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """main: m1 - m2 - M - m3, where M merges side (s1: forked from m2, newer than m2, with a
    run of its own) into main. Runs on m1, m2, s1 and m3, each on a depth-1 clone; M has no
    run. Branches f1 (from m2) and f2 (from M) are waiting to be gated."""
    tmp = tmp_path_factory.mktemp("shallow")
    origin = tmp / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "ci@example.invalid")
    git(origin, "config", "user.name", "ci")
    project = Project(tmp, origin, tmp / "cache.db")
    zero = "0" * 40
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        project.commit("m1")
        project.record(fake, "m1", zero)
        project.commit("m2")
        second = project.record(fake, "m2", project.shas["m1"])
        # A push to main on a depth-1 clone still compares with the previous commit's run.
        assert second.outputs["baseline-id"] == project.experiments["m1"]
        assert "the previous commit on main" in second.report["baseline_reason"]
        git(origin, "checkout", "-q", "-b", "side")
        project.commit("s1")
        project.record(fake, "s1", project.shas["m2"], branch="side")
        git(origin, "checkout", "-q", "main")
        git(origin, "merge", "-q", "--no-ff", "-m", "M", "side", date=next(project.clock))
        project.shas["M"] = git(origin, "rev-parse", "HEAD")
        project.commit("m3")
        third = project.record(fake, "m3", project.shas["M"])
        # M has no run: the one before it on main's first parents (m2), not s1's.
        assert third.outputs["baseline-id"] == project.experiments["m2"]
    for branch, start in (("f1", "m2"), ("f2", "M")):
        git(origin, "checkout", "-q", "-b", branch, project.shas[start])
        project.commit(branch)
    git(origin, "checkout", "-q", "main")
    return project


@pytest.fixture
def project(recorded: Project, tmp_path: Path) -> Project:
    """The recorded project, with a repository, a store and run folders of this test's
    own."""
    cache = tmp_path / "cache.db"
    shutil.copy(recorded.cache, cache)
    origin = tmp_path / "origin"
    shutil.copytree(recorded.origin, origin)
    return Project(tmp_path, origin, cache, dict(recorded.shas), dict(recorded.experiments))


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


def test_a_shallow_pull_request_gets_its_merge_bases_baseline_from_the_api(
    project: Project, fake: FakeGitHub
) -> None:
    run = project.pull_request(fake, 21, "f1")
    assert run.code == 0, run.stdout
    m2 = project.shas["m2"]
    # m3 is main's newest run: the fallback would have taken it.
    assert run.outputs["baseline-id"] == project.experiments["m2"]
    assert run.report["baseline_reason"] == f"the newest run at {m2[:12]}, the merge-base on main"
    notices = run.notices()
    assert any(n.startswith("merge-base unknown: ") and "shallow" in n for n in notices)
    (api,) = [n for n in notices if "GitHub's API" in n]
    assert (
        f"the merge-base {m2[:12]} and its 1 first-parent ancestor were read from GitHub's API"
        in api
    )
    assert api in run.report["notes"]
    assert len(fake.called("GET", rf"/repos/{REPO}/compare/.*")) == 1


def test_a_merge_base_without_a_run_gives_its_first_parents_run(
    project: Project, fake: FakeGitHub
) -> None:
    run = project.pull_request(fake, 22, "f2")
    assert run.code == 0, run.stdout
    # M has no run; first parents lead to m2, though s1 (M's second parent) is newer.
    assert run.outputs["baseline-id"] == project.experiments["m2"]
    assert run.report["baseline_reason"] == (
        f"the newest run at {project.shas['m2'][:12]}, 1 commit before the merge-base on main"
    )


def _fell_back(run: Run, project: Project, *said: str) -> str:
    assert run.code == 0, run.stdout  # the verdict decides, as on any other run
    assert "Traceback" not in run.stdout
    assert run.outputs["baseline-id"] == project.experiments["m3"], run.stdout
    assert run.report["baseline_reason"] == "the newest run recorded on main"
    (notice,) = [n for n in run.notices() if "GitHub's API" in n]
    for words in (
        *said,
        "baselines are matched by the newest run on main instead",
        "`fetch-depth: 0`",
        "`contents: read`",
    ):
        assert words in notice, notice
    assert notice in run.report["notes"]
    return notice


def test_a_token_without_contents_read_falls_back_loudly(
    project: Project, fake: FakeGitHub
) -> None:
    fake.add_repo(REPO, private=True)
    fake.add_token("no-contents", WRITE_ALL | {"contents": "none"})
    run = project.pull_request(fake, 23, "f1", token="no-contents")
    _fell_back(run, project, "403 Resource not accessible by integration")


def test_a_server_error_falls_back_loudly(project: Project, fake: FakeGitHub) -> None:
    fake.server_error(10, status=500, path="/compare/")
    run = project.pull_request(fake, 24, "f1")
    notice = _fell_back(run, project, "GitHub did not answer the comparison", "500")
    assert "could not give the merge-base" in notice
    assert len(fake.called("GET", rf"/repos/{REPO}/compare/.*")) == 3


def test_a_head_github_cannot_compare_falls_back_loudly(project: Project, fake: FakeGitHub) -> None:
    # A branch with no history in common with main: GitHub's compare answers 404.
    git(project.origin, "checkout", "-q", "--orphan", "lonely")
    project.commit("lonely")
    git(project.origin, "checkout", "-q", "-f", "main")
    run = project.pull_request(fake, 25, "lonely")
    _fell_back(run, project, "404 No common ancestor between")
