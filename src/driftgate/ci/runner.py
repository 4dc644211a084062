"""Running the user's experiment command: its output streamed live with the secrets masked, a
timeout that ends the whole process group (and what left it), nothing of it left running (or
writing) once it has exited, bounded memory whatever it prints, a stop on SIGINT/SIGTERM to
driftgate itself (`Cancelled`, from `ci/cancel.py`), and what the report needs kept (exit
status, the output's tail, the experiment URLs it printed)."""

from __future__ import annotations

import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from driftgate.ci.cancel import Cancelled, held
from driftgate.redact import Redactor
from driftgate.result import CommandResult

EXPERIMENT_URL = re.compile(
    r"/llm/experiments/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
TAIL_LINES = 60
TAIL_CHARS = 32 * 1024
"""The tail's size in characters, whatever its lines' lengths: report.json and the artifact
carry it."""
CHUNK = 64 * 1024
MAX_LINE = 64 * 1024
"""A line longer than this (bytes; output without line breaks) is cut and marked: memory
stays bounded whatever the command prints."""
CUT_MARK = " [driftgate: line cut at {n} bytes; the rest of it is not shown]"
TERMINATE_GRACE_S = 10.0
"""A command that timed out: from SIGTERM to SIGKILL, time to flush what it recorded."""
LEFTOVER_GRACE_S = 2.0
"""What a command left running when it exited (a background job): the same, sooner."""
CANCEL_GRACE_S = 2.0
"""Driftgate itself was told to stop (SIGINT/SIGTERM): the command gets this long after
SIGTERM, so that the whole stop (command, report, check) takes a few seconds."""
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
    become_subreaper()
    # Our children before the command: any other child later is an orphan of the command's.
    before = _children(os.getpid())
    timed_out = False
    cancelled: Cancelled | None = None
    grace = grace_s
    proc: subprocess.Popen[bytes] | None = None
    output: _Output | None = None
    try:
        # Not cut by a signal between starting the command and taking charge of it: one
        # raised there would leave it running (`held` raises it once both are done).
        with held():
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
            assert proc.stdout is not None
            output = _Output(proc.stdout, echo, redact, tail_lines)
        _wait(proc, timeout_s)
    except OSError as exc:
        if proc is not None:
            raise
        return CommandResult(
            command=shown,
            exit_code=None,
            timed_out=False,
            started_at=started_at,
            duration_s=0.0,
            tail="",
            failed_to_start=redact(f"`{shown}` could not start: {exc.strerror or exc} (in {cwd})"),
        )
    except subprocess.TimeoutExpired:
        timed_out = True
    except Cancelled as exc:
        cancelled, grace = exc, min(grace_s, CANCEL_GRACE_S)
    finally:
        # Still running (a timeout, an interrupt): the command itself. Exited: what it left.
        if proc is not None and proc.returncode is not None:
            grace = leftover_grace_s
        while proc is not None:
            try:
                _stop_group(proc, grace, before)
                if output is not None:
                    output.close(DRAIN_S)
                break
            except Cancelled as exc:
                # Told to stop while stopping: stop anyway, sooner, and say it was cancelled.
                cancelled, grace = exc, min(grace, CANCEL_GRACE_S)
    if proc is None or output is None:
        assert cancelled is not None  # nothing else leaves the block without either
        raise cancelled
    code = proc.returncode
    if cancelled is not None and code is None:
        code = -cancelled.signum  # still there after SIGKILL (uninterruptible): as stopped
    result = CommandResult(
        command=shown,
        exit_code=None if timed_out else code,
        timed_out=timed_out,
        started_at=started_at,
        duration_s=time.monotonic() - clock,
        tail=output.tail(),
        experiment_ids=list(output.experiment_ids),
    )
    if cancelled is not None:
        cancelled.command = result
        raise cancelled
    return result


def _wait(proc: subprocess.Popen[bytes], timeout_s: float | None) -> None:
    """Wait for the command to exit, for at most `timeout_s`; returns as it exits. `Popen.wait`
    with a timeout polls, up to 50 ms apart; a pidfd (Linux 5.3+) is told at once."""
    if timeout_s is None:
        proc.wait()
        return
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel
        proc.wait(timeout=timeout_s)
        return
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout_s)
    proc.wait()  # it has exited: reaps it at once


# ------------------------------------------------------------------------------ cancellation


class _Output:
    """The command's merged output, read in chunks on a thread and split into lines at `\n`
    and `\r` (a progress bar's updates show as they come): each line echoed (redacted), the
    last ones kept for the report. A line longer than `MAX_LINE` bytes is cut and marked,
    so memory stays bounded whatever the command prints. After `close`, nothing more is
    echoed or kept, whoever still writes."""

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
        fd = stream.fileno()
        pending = b""
        cut = False  # the current line was cut: its rest is skipped up to the next break
        after_cr = False  # the last break was a `\r`: a `\n` right after it is the same break
        with stream:
            while chunk := os.read(fd, CHUNK):
                if after_cr and chunk.startswith(b"\n"):
                    chunk = chunk[1:]
                after_cr = chunk.endswith(b"\r")
                lines = _BREAK.split(chunk)
                for piece in lines[:-1]:
                    if cut:
                        cut = False
                    elif not self._line(pending + piece):
                        return
                    pending = b""
                rest = lines[-1]
                if cut:
                    continue
                pending += rest
                if len(pending) > MAX_LINE:
                    marked = pending[:MAX_LINE] + CUT_MARK.format(n=MAX_LINE).encode()
                    if not self._line(marked):
                        return
                    pending, cut = b"", True
            if pending and not cut:
                self._line(pending)

    def _line(self, raw: bytes) -> bool:
        """Echo and keep one line; False once closed."""
        line = raw.decode("utf-8", errors="replace")
        with self._lock:
            if not self._open:
                # Closing the pipe: a writer left behind gets EPIPE, not a full pipe.
                return False
            self._echo(self._redact.line(line))
            self._lines.append(line)
            for found in EXPERIMENT_URL.findall(line):
                self.experiment_ids[found] = None
        return True

    def close(self, timeout: float) -> None:
        """Read to the end of the output (it ends with the last process that holds it), for
        at most `timeout` seconds; then stop echoing."""
        self._reader.join(timeout)
        with self._lock:
            self._open = False

    def tail(self) -> str:
        """The last lines, redacted together, so that a secret split across their line
        breaks is found; at most `TAIL_CHARS` of them (cut after redacting, so that no cut
        leaves part of a secret)."""
        with self._lock:
            lines = list(self._lines)
        kept = self._redact("\n".join(lines)).split("\n")  # redaction keeps the line breaks
        if len(lines) > self._tail_lines:
            kept = kept[1:]
            if kept:
                kept[0] = self._redact.line(kept[0])
        text = "\n".join(kept)
        if len(text) > TAIL_CHARS:
            text = "[driftgate: earlier output cut]" + text[-TAIL_CHARS:]
        return text


_BREAK = re.compile(rb"\r\n|\r|\n")


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float, before: set[int]) -> None:
    """SIGTERM to the command's process group and to every descendant that left it, SIGKILL
    to what is left of them after `grace_s`, whatever the leader did; returns when none of
    them runs (at once when nothing does), their zombies reaped. `before`: driftgate's
    children before the command started (they are not the command's)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, KILL_WAIT_S)):
        strays = _strays(proc, before)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            if not strays:
                break
        for pid in strays:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _group_runs(proc) or _running(_strays(proc, before)):
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        else:
            break
    proc.poll()
    _reap(before, proc.pid)


def _group_runs(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reaps the leader once it has exited: a zombie leader still holds the group
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return _live_member(proc.pid)


def _live_member(pgid: int) -> bool:
    """Whether a process of group `pgid` runs. Zombies do not count: they write nothing
    more (ours are reaped by `_reap`, others by their parent). Without /proc (not Linux),
    any member counts."""
    table = _processes()
    if table is None:
        return True
    return any(p.pgrp == pgid and p.live for p in table.values())


# ------------------------------------------------------------------------------ descendants

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make driftgate a child subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`): a process
    the command started whose parent ended (a daemon, a `setsid` escape) is re-parented to
    driftgate rather than to init, so that it can be found, ended and reaped. Idempotent.
    A no-op elsewhere (macOS, BSD: no such call; there, only the group and the processes
    /proc shows descending from the command are ended). Returns whether it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class _Proc:
    __slots__ = ("live", "pgrp", "ppid")

    def __init__(self, ppid: int, pgrp: int, live: bool) -> None:
        self.ppid, self.pgrp, self.live = ppid, pgrp, live


def _processes() -> dict[int, _Proc] | None:
    """Every process /proc shows; None without /proc (not Linux)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    table = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
        state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        table[int(entry)] = _Proc(int(ppid), int(pgrp), state not in ("Z", "X"))
    return table


def _children(pid: int) -> set[int]:
    table = _processes() or {}
    return {p for p, info in table.items() if info.ppid == pid}


def _strays(proc: subprocess.Popen[bytes], before: set[int]) -> set[int]:
    """The command's descendants outside its process group: under the leader while it
    lives, re-parented to driftgate (the subreaper) once their parent ended."""
    table = _processes()
    if table is None:
        return set()
    me = os.getpid()
    roots = {proc.pid} | {
        p for p, info in table.items() if info.ppid == me and p not in before and p != proc.pid
    }
    under: dict[int, list[int]] = {}
    for pid, info in table.items():
        under.setdefault(info.ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for pid in under.get(todo.pop(), ()):
            if pid not in found:
                found.add(pid)
                todo.append(pid)
    found |= roots - {proc.pid}
    return {p for p in found if table.get(p) and table[p].pgrp != proc.pid}


def _running(pids: set[int]) -> bool:
    table = _processes() or {}
    return any(table[p].live for p in pids if p in table)


def _reap(before: set[int], leader: int) -> None:
    """Collect the command's orphans that ended as driftgate's children (the subreaper's,
    or PID 1's in a container: nobody else would). Only those: a child driftgate had before
    is someone else's to wait for, and the leader is `Popen`'s."""
    for pid in _children(os.getpid()) - before - {leader}:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
