"""The `driftgate` process ends without Python's module teardown (`cli.entry`): its exit code,
everything it printed (into a pipe, so buffered) and its `atexit` handlers are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# `entry` as the console script and `python -m driftgate.cli` call it, after a module that
# prints much without flushing and registers an exit handler.
_PROGRAM = """
import atexit, sys
from driftgate import cli

def main(argv=None):
    sys.stdout.write("x" * 1_000_000 + "\\nlast line\\n")
    print("on stderr", file=sys.stderr)
    atexit.register(lambda: open(sys.argv[1], "w").write("ran"))
    return 3

cli.main = main
cli.entry()
"""


def test_the_exit_code_what_was_printed_and_exit_handlers_survive(tmp_path: Path) -> None:
    marker = tmp_path / "atexit"
    proc = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stdout.endswith("x" * 1000 + "\nlast line\n")
    assert len(proc.stdout) == 1_000_000 + len("\nlast line\n")
    assert proc.stderr == "on stderr\n"
    assert marker.read_text() == "ran"


def test_a_usage_error_exits_2_with_its_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "run", "--local"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "no command to run" in proc.stderr


def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """`driftgate ... | head`: the pipe closes before driftgate prints. No traceback; the
    exit code a shell gives a process killed by SIGPIPE (141)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftgate.cli", "history", "list", "--db", str(tmp_path / "s.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before the interpreter has even started driftgate
    code = proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr, stderr
    assert "BrokenPipeError" not in stderr, stderr
    assert code == 141, stderr
