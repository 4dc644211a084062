"""Running the user's experiment command: its output streamed live with the secrets masked, a
timeout that ends the whole process group, nothing of it left running (or writing) once it
has exited, and what the report needs kept (exit status, the output's tail, the experiment
URLs it printed)."""

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
from typing import IO

from driftgate.redact import Redactor
from driftgate.result import CommandResult

EXPERIMENT_URL = re.compile(
    r"/llm/experiments/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
TAIL_LINES = 60
TERMINATE_GRACE_S = 10.0
"""A command that timed out: from SIGTERM to SIGKILL, time to flush what it recorded."""
LEFTOVER_GRACE_S = 2.0
"""What a command left running when it exited (a background job): the same, sooner."""
KILL_WAIT_S = 5.0
DRAIN_S = 5.0
"""Reading the output once the group is stopped: it ends at once, unless a process that left
the group still holds it; what comes later is dropped, never echoed late."""
_POLL_S = 0.02


def display(command: Sequence[str] | str) -> str:
    return command if isinstance(command, str) else " ".join(_quote(a) for a in command)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def run_command(
    command: Sequence[str] | str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float | None,
    echo: Callable[[str], None],
    secrets: Redactor | Sequence[str] = (),
    tail_lines: int = TAIL_LINES,
    grace_s: float = TERMINATE_GRACE_S,
    leftover_grace_s: float = LEFTOVER_GRACE_S,
) -> CommandResult:
    """Run `command` (an argv list, or a string for the shell) to the end or the timeout.

    stdout and stderr are merged, echoed line by line as they come, and the last
    `tail_lines` lines are kept; the secrets (`secrets`, every form `Redactor` knows) are
    masked in the echo and in everything returned (the command line, the tail, the failure).

    The command runs in its own process group. On timeout the group gets SIGTERM, then
    SIGKILL after `grace_s`. When the command exits, what it left running (a background job)
    is stopped the same way after `leftover_grace_s`, and its output is read to the end:
    once this returns, nothing the command started can write to `echo`, so a caller that
    suspended workflow commands around it may resume them.
    """
    redact = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    shown = redact(display(command))
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
            start_new_session=True,  # its own process group, so that all of it can be stopped
        )
    except OSError as exc:
        return CommandResult(
            command=shown,
            exit_code=None,
            timed_out=False,
            started_at=started_at,
            duration_s=0.0,
            tail="",
            failed_to_start=redact(f"`{shown}` could not start: {exc.strerror or exc} (in {cwd})"),
        )
    assert proc.stdout is not None
    output = _Output(proc.stdout, echo, redact, tail_lines)
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Still running (a timeout, an interrupt): the command itself. Exited: what it left.
        _stop_group(proc, grace_s if proc.returncode is None else leftover_grace_s)
        output.close(DRAIN_S)
    return CommandResult(
        command=shown,
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        started_at=started_at,
        duration_s=time.monotonic() - clock,
        tail=output.tail(),
        experiment_ids=list(output.experiment_ids),
    )


class _Output:
    """The command's merged output, read line by line on a thread: each line echoed
    (redacted) as it comes, the last ones kept for the report. After `close`, nothing more
    is echoed or kept, whoever still writes."""

    def __init__(
        self,
        stream: IO[bytes],
        echo: Callable[[str], None],
        redact: Redactor,
        tail_lines: int,
    ) -> None:
        self._echo, self._redact, self._tail_lines = echo, redact, tail_lines
        # One line more than the tail: the start of a secret split across the tail's first
        # line break is in it.
        self._lines: deque[str] = deque(maxlen=tail_lines + 1)
        self.experiment_ids: dict[str, None] = {}
        self._lock = threading.Lock()
        self._open = True
        self._reader = threading.Thread(
            target=self._pump, args=(stream,), name="driftgate-output", daemon=True
        )
        self._reader.start()

    def _pump(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._lock:
                    if not self._open:
                        # Closing the pipe: a writer left behind gets EPIPE, not a full pipe.
                        return
                    self._echo(self._redact.line(line))
                    self._lines.append(line)
                    for found in EXPERIMENT_URL.findall(line):
                        self.experiment_ids[found] = None

    def close(self, timeout: float) -> None:
        """Read to the end of the output (it ends with the last process that holds it), for
        at most `timeout` seconds; then stop echoing."""
        self._reader.join(timeout)
        with self._lock:
            self._open = False

    def tail(self) -> str:
        """The last lines, redacted together, so that a secret split across their line
        breaks is found."""
        with self._lock:
            lines = list(self._lines)
        kept = self._redact("\n".join(lines)).split("\n")  # redaction keeps the line breaks
        if len(lines) > self._tail_lines:
            kept = kept[1:]
            if kept:
                kept[0] = self._redact.line(kept[0])
        return "\n".join(kept)


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the command's process group, SIGKILL to what is left of it after `grace_s`;
    returns when none of it runs (at once when nothing does)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, KILL_WAIT_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _group_runs(proc):
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        else:
            break
    proc.poll()


def _group_runs(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reaps the leader once it has exited: a zombie leader still holds the group
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return _live_member(proc.pid)


def _live_member(pgid: int) -> bool:
    """Whether a process of group `pgid` runs. Zombies do not count: they write nothing
    more, and reaping them is their new parent's business (init's). Without /proc (not
    Linux), any member counts."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False
