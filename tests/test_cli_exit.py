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
