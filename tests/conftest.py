from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.store.clients import client_env
from driftgate.store.server import BackgroundStore

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).parent / "scripts"


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
