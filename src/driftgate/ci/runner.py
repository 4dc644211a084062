"""Running the user's experiment command: its output streamed live, a timeout that ends the
whole process group, and what the report needs kept (exit status, the output's tail, the
experiment URLs it printed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from driftgate.result import CommandResult

EXPERIMENT_URL = re.compile(
    r"/llm/experiments/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
TAIL_LINES = 60
TERMINATE_GRACE_S = 10.0


def display(command: Sequence[str] | str) -> str:
    return command if isinstance(command, str) else " ".join(_quote(a) for a in command)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def run_command(
    command: Sequence[str] | str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float | None,
    echo: Callable[[str], None],
    secrets: Sequence[str] = (),
    tail_lines: int = TAIL_LINES,
) -> CommandResult:
    """Run `command` (an argv list, or a string for the shell) to the end or the timeout.

    stdout and stderr are merged, echoed line by line as they come (secrets masked), and the
    last `tail_lines` lines are kept. On timeout the process group gets SIGTERM, then
    SIGKILL after a grace period, so that children of a shell script end too.
    """
    shown = display(command)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            shell=isinstance(command, str),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout stops all of it
        )
    except OSError as exc:
        return CommandResult(
            command=shown,
            exit_code=None,
            timed_out=False,
            started_at=started_at,
            duration_s=0.0,
            tail="",
            failed_to_start=f"`{shown}` could not start: {exc.strerror or exc} (in {cwd})",
        )
    tail: deque[str] = deque(maxlen=tail_lines)
    ids: dict[str, None] = {}

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"), secrets)
            echo(line)
            tail.append(line)
            for found in EXPERIMENT_URL.findall(line):
                ids[found] = None

    reader = threading.Thread(target=pump, name="driftgate-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop_group(proc)
    except BaseException:
        _stop_group(proc)
        raise
    reader.join(5)
    return CommandResult(
        command=shown,
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        started_at=started_at,
        duration_s=time.monotonic() - clock,
        tail="\n".join(tail),
        experiment_ids=list(ids),
    )


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, TERMINATE_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
