"""The image, built from the Dockerfile and started the way GitHub's runner starts a Docker
action: it runs the demo offline, inputs with hyphens reach Python, git accepts a workspace
owned by another user, and the harness reads back what the container wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from driftgate import __version__
from tests.container.harness import run_action

pytestmark = pytest.mark.container

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def pull_request_event() -> dict[str, object]:
    event: dict[str, object] = json.loads(
        (EVENTS / "pull_request.same_repo.json").read_text(encoding="utf-8")
    )
    return event


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


def test_the_demo_runs_offline_in_the_container(action_image: str, workspace: Path) -> None:
    result = run_action(
        workspace,
        pull_request_event(),
        {"fail-on": "regression"},
        image=action_image,
        entrypoint="driftgate",
        args=["demo"],
        timeout=300,
    )

    # The demo gates a pull request end to end inside the container (git, ddtrace, the embedded
    # store, the comparison) and shows the report.
    assert "## driftgate: " in result.stdout, result.output
    # The example's simulated model is seeded: the regression is the same on every machine.
    assert result.exit_code == 0, result.output
    assert "this pull request would be blocked" in result.stdout
    assert result.root_owned == []  # the demo keeps its store in the container's /tmp


# What a step sees: its environment, working directory and event; it writes outputs (one line
# and one multi-line block), the summary, and a file in the workspace.
PROBE = """
import json, os
seen = {k: v for k, v in os.environ.items() if k.startswith(("INPUT_", "GITHUB_", "RUNNER_"))}
seen |= {"HOME": os.environ["HOME"], "CI": os.environ["CI"], "cwd": os.getcwd()}
with open(os.environ["GITHUB_EVENT_PATH"], encoding="utf-8") as f:
    seen["pr_number"] = json.load(f)["pull_request"]["number"]
print(json.dumps(seen))
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
    f.write("verdict=pass\\nreport<<EOF_7f3a\\nline one\\nline=two\\nEOF_7f3a\\n")
with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
    f.write("## driftgate\\n")
with open("written-by-container.txt", "w", encoding="utf-8") as f:
    f.write("hello\\n")
"""


def test_inputs_and_the_runner_files_reach_python(action_image: str, workspace: Path) -> None:
    result = run_action(
        workspace,
        pull_request_event(),
        {
            "fail-on": "regression",
            "baseline-branch": "main",
            "command": "python experiments/run.py\n  --runs 3",
            "comment": "",
        },
        {"GITHUB_API_URL": "http://127.0.0.1:9"},
        image=action_image,
        entrypoint="python3",
        args=["-c", PROBE],
    )

    assert result.exit_code == 0, result.output
    seen = json.loads(result.stdout)
    # Hyphens kept, multi-line and empty values intact: the exec-form entrypoint drops nothing.
    assert seen["INPUT_FAIL-ON"] == "regression"
    assert seen["INPUT_BASELINE-BRANCH"] == "main"
    assert seen["INPUT_COMMAND"] == "python experiments/run.py\n  --runs 3"
    assert seen["INPUT_COMMENT"] == ""
    assert seen["cwd"] == "/github/workspace"
    assert seen["HOME"] == "/github/home"
    assert seen["CI"] == "true"
    assert seen["pr_number"] == 128
    assert seen["GITHUB_EVENT_NAME"] == "pull_request"
    assert seen["GITHUB_REPOSITORY"] == "acme-ai/support-bot"
    assert seen["GITHUB_REF"] == "refs/pull/128/merge"
    assert seen["GITHUB_HEAD_REF"] == "prompt/refund-policy"
    assert seen["GITHUB_BASE_REF"] == "main"
    assert seen["GITHUB_API_URL"] == "http://127.0.0.1:9"
    assert seen["GITHUB_OUTPUT"].startswith("/github/file_commands/set_output_")

    assert result.outputs == {"verdict": "pass", "report": "line one\nline=two"}
    assert result.summary == "## driftgate\n"
    # The container runs as root: what it writes into the workspace is root's, and the harness
    # says so (an action must hand such files back; see docs/container.md).
    assert result.root_owned == ["written-by-container.txt"]
    assert (workspace / "written-by-container.txt").read_text() == "hello\n"


def test_git_accepts_a_workspace_owned_by_another_user(action_image: str, workspace: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(workspace), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "--quiet", "--initial-branch=main")
    (workspace / "prompt.txt").write_text("Answer with the capital only.\n")
    git("add", "prompt.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "c1")
    head = git("rev-parse", "HEAD")

    # The harness hands the checkout to the runner's uid; git in the container runs as root,
    # which without safe.directory is "dubious ownership" and exit 128.
    result = run_action(
        workspace,
        pull_request_event(),
        {},
        image=action_image,
        entrypoint="git",
        args=["log", "-1", "--format=%H %s"],
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{head} c1"

    # The control: the same command with the image's safe.directory emptied is refused.
    refused = run_action(
        workspace,
        pull_request_event(),
        {},
        image=action_image,
        entrypoint="git",
        args=["-c", "safe.directory=", "log", "-1"],
    )
    assert refused.exit_code == 128
    assert "dubious ownership" in refused.stderr


def test_the_image_is_configured_as_an_action_needs(action_image: str) -> None:
    config = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config}}", action_image],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert config["Entrypoint"] == ["/opt/driftgate/bin/driftgate", "action"]
    assert not config.get("User")
    assert not config.get("WorkingDir")
    env = dict(v.split("=", 1) for v in config["Env"])
    # The user's command finds the run environment first, and driftgate's own not at all.
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert "/opt/driftgate" not in env["PATH"]
    assert env["VIRTUAL_ENV"] == "/opt/venv"
    # Bytecode goes outside the workspace, never into the user's checkout.
    assert env["PYTHONPYCACHEPREFIX"] == "/opt/pycache"

    version = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "driftgate", action_image, "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert version == f"driftgate {__version__}"
