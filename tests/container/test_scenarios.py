"""The Action's container through a pull request's life, run the way GitHub's runner runs it:
a push to main records the baseline, a pull request with no change passes, a push that makes
it worse fails with the comment and the failing check on its head commit, and a fork's pull
request writes nothing and leaves its artifact. The GitHub fake and the workspace's embedded
store are reached from the container over the host's network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.action.github import comment_marker
from tests.container.harness import Result, git, run_action
from tests.events import pull_request_event, push_event
from tests.fakes.github import FakeGitHub

pytestmark = pytest.mark.container

REPO = "acme/arith"
PIPELINE = "arith"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "arith_experiment.py"


def set_model(workspace: Path, model: str) -> None:
    path = workspace / "experiment.py"
    path.write_text(re.sub(r'^MODEL = ".*"$', f'MODEL = "{model}"', path.read_text(), flags=re.M))


def commit(workspace: Path, fake: FakeGitHub, message: str) -> str:
    git(workspace, "commit", "-q", "--all", "--allow-empty", "-m", message)
    sha = git(workspace, "rev-parse", "HEAD")
    fake.add_commit(REPO, sha)
    return sha


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "experiment.py").write_text(SCRIPT.read_text())
    (folder / ".gitignore").write_text(".driftgate/\nseen-env.json\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.name", "ci")
    git(folder, "config", "user.email", "ci@driftgate.invalid")
    git(folder, "add", ".")
    return folder


def act(
    image: str, workspace: Path, fake: FakeGitHub, event: dict[str, object], token: str = "write"
) -> Result:
    inputs = {
        "command": "python experiment.py",
        "pipeline": PIPELINE,
        "github-token": fake.token(token),
        "api-url": fake.api_url,
        "fail-on": "regression",
    }
    return run_action(workspace, event, inputs, {"GITHUB_API_URL": fake.api_url}, image=image)


def comments(fake: FakeGitHub, number: int) -> list[str]:
    marker = comment_marker(REPO, PIPELINE)
    return [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]


def test_a_pull_request_from_baseline_to_regression(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    first = commit(workspace, fake, "the arithmetic experiment")
    main = commit(workspace, fake, "main, again")

    recorded = act(action_image, workspace, fake, push_event(REPO, main, first))
    assert recorded.exit_code == 0, recorded.output
    assert recorded.outputs["verdict"] == "no_baseline"
    assert [c.conclusion for c in fake.check_runs(REPO, main)] == ["neutral"]
    assert comments(fake, 5) == []
    assert recorded.root_owned == []
    assert (workspace / ".driftgate" / "store.db").exists()

    git(workspace, "checkout", "-q", "-b", "feature")
    same = commit(workspace, fake, "a refactoring that changes nothing")
    fake.add_pull(REPO, 5, head_sha=same, base_sha=main, head_ref="feature")
    passed = act(action_image, workspace, fake, pull_request_event(REPO, 5, same, main))
    assert passed.exit_code == 0, passed.output
    assert passed.outputs["verdict"] == "pass"
    assert [c.conclusion for c in fake.check_runs(REPO, same)] == ["success"]
    assert len(comments(fake, 5)) == 1

    set_model(workspace, "calc-1-lite")
    worse = commit(workspace, fake, "a cheaper model")
    fake.push(REPO, 5, worse)
    failed = act(action_image, workspace, fake, pull_request_event(REPO, 5, worse, main))
    assert failed.exit_code == 1, failed.output
    assert failed.outputs["verdict"] == "fail"
    assert failed.outputs["experiment-id"]
    assert failed.outputs["baseline-id"]
    assert failed.outputs["comment-url"]
    assert failed.outputs["report-json"] == ".driftgate/report/report.json"
    (body,) = comments(fake, 5)  # the same comment, now saying it failed
    assert "exact" in body
    assert "regressed" in body
    (check,) = fake.check_runs(REPO, worse)
    assert check.conclusion == "failure"
    assert "exact" in failed.summary
    assert (workspace / ".driftgate" / "report" / "report.json").exists()
    assert failed.root_owned == []
    assert not fake.called("GET", r"^/user$")


def test_a_fork_pull_request_writes_nothing_and_leaves_its_artifact(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    first = commit(workspace, fake, "the arithmetic experiment")
    main = commit(workspace, fake, "main, again")
    act(action_image, workspace, fake, push_event(REPO, main, first))
    git(workspace, "checkout", "-q", "-b", "from-a-fork")
    head = commit(workspace, fake, "a contribution")
    fake.add_pull(REPO, 8, head_sha=head, base_sha=main, head_repo="stranger/arith")
    fake.clear_calls()
    forked = act(
        action_image, workspace, fake, pull_request_event(REPO, 8, head, main, fork=True), "fork"
    )
    assert forked.exit_code == 0, forked.output
    assert fake.writes() == []
    artifact = workspace / ".driftgate" / "artifact"
    assert (artifact / "report.json").exists()
    assert (artifact / "meta.json").exists()
    assert forked.root_owned == []
    assert "workflow_run" in forked.output


def test_a_cancelled_workflow_stops_the_command_and_posts_a_neutral_check(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    """driftgate is PID 1 in the container, where no signal has a default action: the runner's
    SIGTERM on cancellation must still stop the command (here one that ignores SIGTERM), write
    the cancelled report, post the check and end the step within seconds."""
    first = commit(workspace, fake, "the arithmetic experiment")
    head = commit(workspace, fake, "a change")
    started = workspace / "started"
    command = "touch started; trap '' TERM; sleep 300"
    inputs = {
        "command": command,
        "pipeline": PIPELINE,
        "github-token": fake.token("write"),
        "api-url": fake.api_url,
    }
    cancelled = run_action(
        workspace,
        push_event(REPO, head, first),
        inputs,
        {"GITHUB_API_URL": fake.api_url},
        image=action_image,
        timeout=120,
        signal_when=started.exists,
    )
    assert cancelled.exit_code == 143, cancelled.output
    assert cancelled.signalled_after is not None and cancelled.signalled_after < 10
    assert "cancelled by SIGTERM" in cancelled.summary
    assert cancelled.outputs["verdict"] == "error"
    assert [c.conclusion for c in fake.check_runs(REPO, head)] == ["neutral"]
    report = (workspace / ".driftgate" / "report" / "report.json").read_text()
    assert "cancelled by SIGTERM" in report
    assert cancelled.root_owned == []
