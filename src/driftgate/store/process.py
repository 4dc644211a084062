"""The embedded store in a process of its own, for `driftgate run --local` and the other
entry points that serve it for one session (`session.open_backend`).

A process rather than a thread of driftgate's: it starts up (its HTTP stack, its database)
on another CPU while driftgate builds its context, and when both experiments are read it
prepares one answer while driftgate parses the other; a thread shares one interpreter lock
with the gate and does neither. This module is the parent's side and imports nothing of the
server; `python -m driftgate.store` (`__main__.py`) is the child's.

The child first imports what serving takes, then waits for the database's path on its
standard input: it is started as soon as driftgate knows it will serve the store, and
touches no file before driftgate knows which (a run with nothing to gate touches none). It
prints its URL once it accepts connections (or `error: <why>` and exits 3), and stops when
its standard input ends: when the parent closes it, or when the parent dies, however it
dies, so that it never outlives the gate.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from driftgate.store.errors import CannotOpen

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
ERROR_PREFIX = "error: "


class StoreProcess:
    """A child process ready to serve the store, from the moment this is made; `open(db)`
    has it serve `db`, `url()` waits until it accepts connections."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "driftgate.store"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.db: Path | None = None
        self._url: str | None = None

    def open(self, db: Path) -> None:
        """Serve the store on `db` (made, with its folder, when missing)."""
        if self.db is not None:
            return
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotOpen(
                f"cannot create the folder of the store's database {db} ({exc.strerror}); "
                "point --db at a writable place"
            ) from exc
        self.db = db
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(os.fsencode(db) + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # it has exited: `url()` says so

    def url(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """The store's address, once it serves (after `open`); CannotOpen, with the store's
        own words, if it could not start."""
        assert self.db is not None, "open() first"
        if self._url is None:
            line = self._first_line(timeout_s)
            if not line.startswith("http"):
                self.stop()
                why = line.removeprefix(ERROR_PREFIX) or (
                    f"the embedded store exited (status {self._proc.returncode}) before it "
                    "served; its error is above"
                )
                raise CannotOpen(why)
            self._url = line
        return self._url

    def _first_line(self, timeout_s: float) -> str:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        read = b""
        while not read.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return f"the embedded store did not start within {timeout_s:.0f} s"
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # it exited
            read += chunk
        return read.decode("utf-8", errors="replace").strip()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """End of input: the store finishes the answers it is sending, closes its database
        and exits; killed if it has not after `timeout_s`. Idempotent."""
        proc = self._proc
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
