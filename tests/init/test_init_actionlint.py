"""Every workflow `driftgate init` writes, for every layout of tests/init/repos.py, with and
without --fork-publish, passes actionlint with this checkout's action.yml (the way the
README's workflows are linted): expressions, contexts, the inputs of the actions used, ours
included. One node run lints them all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.init.repos import LAYOUTS, isolate_git, run_init
from tests.references import actionlint

WORKFLOWS = Path(".github/workflows")


@dataclass
class Linted:
    files: dict[str, str]  # linted name -> text
    findings: list[dict[str, Any]]


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> Linted:
    files: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        isolate_git(patch, tmp_path_factory.mktemp("git-home"))
        for layout in LAYOUTS:
            for publish in (False, True):
                variant = f"{layout.name}{'-publish' if publish else ''}"
                root = layout.build(tmp_path_factory.mktemp(variant))
                args = [a for a in layout.args if a != "--fork-publish"]
                ran = run_init(*args, *(["--fork-publish"] if publish else []), cwd=root)
                assert ran.code == 0, f"{variant}: {ran.err}"
                for path in sorted((root / WORKFLOWS).iterdir()):
                    files[f"{variant}-{path.name}"] = path.read_text()
        # A control: the same workflow with an input our action.yml does not declare.
        files["control-typo.yml"] = files["evals-dir-evals.yml"].replace("pipeline:", "pipline:", 1)
    project = tmp_path_factory.mktemp("lint-project")
    return Linted(files, actionlint(files, project))


def test_every_generated_workflow_passes_actionlint(linted: Linted) -> None:
    found = [f for f in linted.findings if f["file"] != "control-typo.yml"]
    assert not found, "\n".join(f"{f['file']}:{f['line']}: {f['message']}" for f in found)
    # A floor, so that nothing can pass by linting nothing: each layout's gate workflow, and
    # its publish workflow when asked for.
    assert len([name for name in linted.files if name.endswith("-evals.yml")]) == 2 * len(LAYOUTS)
    assert len([name for name in linted.files if name.endswith("evals-publish.yml")]) == len(
        LAYOUTS
    )


def test_actionlint_reads_our_action_in_them(linted: Linted) -> None:
    """The control: a misspelt input of ours is found, so the workflows above were checked
    against our action.yml."""
    (finding,) = [f for f in linted.findings if f["file"] == "control-typo.yml"]
    assert 'input "pipline" is not defined in action "driftgate"' in finding["message"]
