"""The embedded store in a process of its own (`store/process.py`): it serves the file it
is given and nothing before, says why when it cannot, ignores a terminal's Ctrl-C (the gate
decides), and never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from driftgate.store.errors import CannotOpen
from driftgate.store.process import StoreProcess
from tests.storeapi import Api


def _gone(pid: int, within_s: float = 30.0) -> bool:
    """Whether process `pid` has exited (or is a zombie nobody reaped) within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_it_serves_the_file_it_is_given_and_keeps_what_it_stored(tmp_path: Path) -> None:
    db = tmp_path / "state" / "store.db"
    with StoreProcess() as store:
        store.open(db)
        api = Api(store.url())
        pid = api.project("kept")
    with StoreProcess() as again:
        again.open(db)
        assert Api(again.url()).project("kept") == pid
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM projects").fetchall() == [("kept",)]
    conn.close()


def test_a_store_never_told_what_to_serve_touches_nothing(tmp_path: Path) -> None:
    store = StoreProcess()
    store.stop()
    assert list(tmp_path.iterdir()) == []
    assert store._proc.returncode == 0


def test_a_file_it_cannot_open_is_an_error_in_its_own_words(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.write_text("not a database, " * 100)
    with StoreProcess() as store:
        store.open(db)
        with pytest.raises(CannotOpen, match=r"cannot open .*store\.db"):
            store.url()


def test_ctrl_c_is_the_gate_s_to_handle(tmp_path: Path) -> None:
    with StoreProcess() as store:
        store.open(tmp_path / "store.db")
        url = store.url()
        os.kill(store._proc.pid, signal.SIGINT)
        assert httpx.get(url + "/", timeout=10).status_code == 200


def test_it_never_outlives_the_gate(tmp_path: Path) -> None:
    """A gate killed outright (SIGKILL: no cleanup runs) still ends its store."""
    gate = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from driftgate.store.process import StoreProcess\n"
            "s = StoreProcess(); s.open(Path(sys.argv[1])); s.url()\n"
            "print(s._proc.pid, flush=True); time.sleep(600)",
            str(tmp_path / "store.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert gate.stdout is not None
    child = int(gate.stdout.readline())
    gate.kill()
    gate.wait()
    assert _gone(child)
