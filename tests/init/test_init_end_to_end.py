"""What `driftgate init` wrote, run: the generated workflow's driftgate inputs (command,
pipeline, working directory, the configuration it left) given to `driftgate run --local` as
separate processes, on the default branch and then on a pull request's branch. The pull
request finds the baseline the default branch recorded: the pipeline init chose and the
experiment's name agree. (tests/container/test_init_workflow.py runs the same inputs through
the Action's image.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from driftgate.demo import BRANCH_MODEL, EXAMPLE_MODEL
from tests.container.workflow_inputs import literal_branch, read_gate_workflow, runner_inputs
from tests.init.repos import EXAMPLE, git, new_repo, run_init

pytestmark = pytest.mark.slow


def gate(root: Path, line: str) -> tuple[int, dict[str, Any], str]:
    """The command init printed to try the gate, typed into a shell at the root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-c", line],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads((root / ".driftgate" / "report" / "report.json").read_text())
    return proc.returncode, report, proc.stdout + proc.stderr


def test_the_generated_inputs_gate_a_pull_request_against_the_recorded_baseline(
    tmp_path: Path,
) -> None:
    source = EXAMPLE.read_text()
    assert EXAMPLE_MODEL in source
    root = new_repo(
        tmp_path / "platform",
        {"services/geo/evals/experiment.py": source, "services/geo/README.md": "geo\n"},
        branch="trunk",
    )
    ran = run_init("services/geo", cwd=root)
    assert ran.code == 0, ran.err
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "driftgate init")
    workflow = read_gate_workflow((root / ".github" / "workflows" / "evals.yml").read_text())
    (branch,) = (literal_branch(b) for b in workflow.push_branches)
    assert branch == "trunk"
    inputs = runner_inputs(workflow.gate, {"github.token": "", "github.api_url": ""})
    assert inputs["pipeline"] == "capitals"
    assert inputs["working-directory"] == "services/geo"
    # What init said to run here is the workflow's step: its directory, pipeline and command.
    line = ran.out.split("try it here first:\n", 1)[1].splitlines()[0].strip()
    assert line == (
        f"cd {inputs['working-directory']} && driftgate run --local --base-branch {branch} "
        f"--pipeline {inputs['pipeline']} -- {inputs['command']}"
    )

    code, report, output = gate(root, line)
    assert (code, report["verdict"]) == (0, "no_baseline"), output
    # The configuration init left is the one the gate used.
    assert report["config_source"] == str(root / "services" / "geo" / "driftgate.toml")

    git(root, "checkout", "--quiet", "-b", "smaller-model")
    script = root / "services" / "geo" / "evals" / "experiment.py"
    script.write_text(source.replace(EXAMPLE_MODEL, BRANCH_MODEL))
    git(root, "commit", "--quiet", "-am", "a smaller model")
    code, report, output = gate(root, line)
    assert report["baseline"] is not None, output
    assert report["baseline"]["experiment"] == "capitals"
    assert "trunk" in report["baseline_reason"]
    assert (code, report["verdict"]) == (1, "fail"), output
