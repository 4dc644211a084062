"""`driftgate init`'s workflow run through the Action's image, the way GitHub's runner runs it.

A repository with a real ddtrace script (the bundled capitals example, in evals/, with its
requirements.txt) is set up by `driftgate init --fork-publish`. Its evals.yml is read the way
the runner reads it (workflow_inputs.py: the driftgate step's `with:`, action.yml's defaults
for the rest, the expressions evaluated), and those inputs are given to the container: on a
push to the branch the workflow's `on.push` names (the baseline is recorded), on a pull
request whose change makes the experiment worse (the gate fails it, on the check and the
comment named after the pipeline init chose), and on a fork's pull request (nothing is
written to GitHub; the report is left where the workflow's upload step picks it up).

The workflow's other steps are what the workspace already is: checked out with its history
(`fetch-depth: 0`), and `.driftgate/` kept between runs, as the cache step restores it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.action.github import comment_marker
from driftgate.demo import BRANCH_MODEL, EXAMPLE_MODEL, bundled_example
from tests.container.harness import Result, git, run_action
from tests.container.workflow_inputs import (
    GateWorkflow,
    literal_branch,
    read_gate_workflow,
    runner_inputs,
)
from tests.events import pull_request_event, push_event
from tests.fakes.github import FakeGitHub

pytestmark = pytest.mark.container

REPO = "acme/geo"
PIPELINE = "capitals"  # the example's experiment name: what init must choose


def commit(workspace: Path, fake: FakeGitHub, message: str) -> str:
    git(workspace, "add", "--all")
    git(workspace, "commit", "-q", "--allow-empty", "-m", message)
    sha = git(workspace, "rev-parse", "HEAD")
    fake.add_commit(REPO, sha)
    return sha


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


def set_up(workspace: Path, fake: FakeGitHub) -> tuple[str, str, GateWorkflow]:
    """The project committed, `driftgate init` run and committed: both commits and the
    workflow init wrote."""
    source = bundled_example().read_text()
    assert EXAMPLE_MODEL in source
    (workspace / "evals").mkdir(parents=True)
    (workspace / "evals" / "experiment.py").write_text(source)
    # ddtrace is in the image: pip finds it installed and needs no network.
    (workspace / "evals" / "requirements.txt").write_text("ddtrace>=4.14\n")
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "config", "user.name", "ci")
    git(workspace, "config", "user.email", "ci@driftgate.invalid")
    first = commit(workspace, fake, "the capitals experiment")
    init = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "init", "--fork-publish"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    initialised = commit(workspace, fake, "driftgate init")
    text = (workspace / ".github" / "workflows" / "evals.yml").read_text()
    return first, initialised, read_gate_workflow(text)


def act(
    image: str,
    workspace: Path,
    fake: FakeGitHub,
    step: dict[str, object],
    event: dict[str, object],
    token: str,
) -> Result:
    expressions = {"github.token": fake.token(token), "github.api_url": fake.api_url}
    inputs = runner_inputs(step, expressions)
    return run_action(workspace, event, inputs, {"GITHUB_API_URL": fake.api_url}, image=image)


def test_the_generated_workflow_records_gates_and_leaves_a_forks_report(
    action_image: str, tmp_path: Path, fake: FakeGitHub
) -> None:
    workspace = tmp_path / "workspace"
    first, main, workflow = set_up(workspace, fake)
    assert workflow.on_pull_request
    (pattern,) = workflow.push_branches
    branch = literal_branch(pattern)
    assert branch == "main"
    with_ = workflow.gate["with"]
    assert (with_["pipeline"], with_["setup"]) == (
        PIPELINE,
        "pip install -r evals/requirements.txt",
    )

    # The push to the default branch records the baseline.
    recorded = act(
        action_image, workspace, fake, workflow.gate, push_event(REPO, main, first, branch), "write"
    )
    assert recorded.exit_code == 0, recorded.output
    assert recorded.outputs["verdict"] == "no_baseline"
    assert "setup: pip install -r evals/requirements.txt" in recorded.output
    # `pip` in the image is uv's (the run environment's shim): ddtrace is already there.
    assert re.search(r"environment at: /opt/venv\nChecked 1 package", recorded.output)
    (check,) = fake.check_runs(REPO, main)
    assert (check.name, check.conclusion) == (f"driftgate / {PIPELINE}", "neutral")
    assert recorded.root_owned == []
    assert (workspace / ".driftgate" / "store.db").exists()

    # A pull request that switches to a weaker model: compared with the baseline, failed.
    git(workspace, "checkout", "-q", "-b", "smaller-model")
    script = workspace / "evals" / "experiment.py"
    script.write_text(script.read_text().replace(EXAMPLE_MODEL, BRANCH_MODEL))
    worse = commit(workspace, fake, "a smaller model")
    fake.add_pull(REPO, 7, head_sha=worse, base_sha=main, head_ref="smaller-model")
    failed = act(
        action_image,
        workspace,
        fake,
        workflow.gate,
        pull_request_event(REPO, 7, worse, main, head_ref="smaller-model"),
        "write",
    )
    assert failed.exit_code == 1, failed.output
    assert failed.outputs["verdict"] == "fail"
    assert failed.outputs["baseline-id"]
    (check,) = fake.check_runs(REPO, worse)
    assert (check.name, check.conclusion) == (f"driftgate / {PIPELINE}", "failure")
    marker = comment_marker(REPO, PIPELINE)
    (body,) = [c.body for c in fake.comments(REPO, 7) if c.body.startswith(marker)]
    assert "exact_match" in body and "regressed" in body
    assert failed.root_owned == []

    # A fork's pull request: read-only, nothing written; the report waits where the upload
    # step of the same workflow picks it up.
    (upload,) = [s for s in workflow.others if str(s["uses"]).startswith("actions/upload-artifact")]
    artifact = workspace / str(upload["with"]["path"])
    git(workspace, "checkout", "-q", "-b", "from-a-fork", main)
    contribution = commit(workspace, fake, "a contribution")
    fake.add_pull(REPO, 8, head_sha=contribution, base_sha=main, head_repo="stranger/geo")
    fake.clear_calls()
    forked = act(
        action_image,
        workspace,
        fake,
        workflow.gate,
        pull_request_event(REPO, 8, contribution, main, fork=True),
        "fork",
    )
    assert forked.exit_code == 0, forked.output
    assert fake.writes() == []
    assert (artifact / "report.json").is_file()
    assert (artifact / "meta.json").is_file()
    assert forked.root_owned == []
