from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from driftgate.store.clients import client_env
from driftgate.store.server import BackgroundStore
from tests import references

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).parent / "scripts"

# Generated tests (hypothesis): few examples and no deadline (the machine is shared), no
# example database in the tree. "ci" (chosen when CI is set, as on GitHub's runners) draws
# the same examples on every run; "thorough" is for hunting, by hand, with many more.
settings.register_profile("dev", max_examples=25, deadline=None, database=None)
settings.register_profile("ci", settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.register_profile("thorough", settings.get_profile("dev"), max_examples=3000)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = references.ensure_installed()
    if problem:
        print(f"\ndriftgate tests: {problem}", file=sys.stderr)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BackgroundStore]:
    with BackgroundStore(str(tmp_path / "store.db")) as running:
        yield running


def ddtrace_env(url: str, **extra: str) -> dict[str, str]:
    """What a ddtrace script needs to record into the store at `url`, offline: the same
    environment driftgate gives a command, over a parent without DD_*/DRIFTGATE_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DRIFTGATE_"))}
    return {**client_env(url, base), **extra}


def run_script(script: Path, *args: str, env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr
