"""Being told to stop: SIGINT and SIGTERM (a cancelled workflow signals the container, where
driftgate is PID 1) raised as `Cancelled` while `cancel_on_signals` is in force.

Apart from the runner, which raises it out of `run_command`, so that the command line can
catch it without importing the runner (and, through the result, the statistics)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftgate.result import CommandResult


class Cancelled(BaseException):
    """Driftgate was told to stop (SIGINT, SIGTERM) while `cancel_on_signals` was in force.
    A BaseException, as KeyboardInterrupt is: no `except Exception` on the way swallows it.
    Raised out of `run_command` once the command is stopped, with what it did (`command`)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.command: CommandResult | None = None
        super().__init__(f"cancelled by {self.name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal, as a shell reports a process the signal ended: 130, 143."""
        return 128 + self.signum


@contextmanager
def cancel_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise `Cancelled` in the main thread, once:
    a second signal is ignored, so that the report and the check can still be written.

    Installed explicitly for both: as PID 1 in a container (the Action's), the kernel
    applies no default action to SIGTERM, so without a handler `docker stop` and a
    cancelled workflow would only end driftgate by SIGKILL. Outside the main thread (no
    handler can be installed there), the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        if _held:
            _held.append(signum)  # raised when the held block ends (`held`)
            return
        raise Cancelled(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# While a `held` block runs: [None], then the signal that came meanwhile, if one did.
_held: list[int | None] = []


@contextmanager
def held() -> Iterator[None]:
    """A block that a signal must not cut: `Cancelled` is raised when it ends rather than
    inside it. Starting the command and taking charge of it (its output reader) is one: a
    signal between the two, when this process's other threads keep the main one waiting
    for the interpreter's lock, left the command running after driftgate had exited."""
    if _held:  # already held: the outer block raises
        yield
        return
    _held.append(None)
    try:
        yield
    except BaseException as exc:
        came = _held[1:]
        _held.clear()
        if came and came[0] is not None:
            raise Cancelled(came[0]) from exc
        raise
    came = _held[1:]
    _held.clear()
    if came and came[0] is not None:
        raise Cancelled(came[0])
