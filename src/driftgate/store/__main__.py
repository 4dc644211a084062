"""`python -m driftgate.store`: the embedded store for one session, as `process.py` starts
it. Imports what serving takes, reads the database's path from its standard input, prints
the URL once it serves (or `error: <why>` and exits 3), serves until its standard input
ends, then closes the database and exits."""

from __future__ import annotations

import os
import signal
import sys

from driftgate.store.errors import CannotOpen
from driftgate.store.process import ERROR_PREFIX
from driftgate.store.server import BackgroundStore


def main() -> int:
    # Ctrl-C reaches the whole terminal group: the gate decides what to stop, and asks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Told to stop by another: stop as when the gate asks, database closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    line = sys.stdin.buffer.readline()
    if not line.endswith(b"\n"):
        return 0  # the gate ended, or had nothing to serve
    db = os.fsdecode(line[:-1])
    try:
        store = BackgroundStore(db).start()
    except (CannotOpen, OSError, RuntimeError) as exc:
        print(f"{ERROR_PREFIX}{exc}", flush=True)
        return 3
    try:
        print(store.url, flush=True)
        sys.stdin.buffer.read()  # until the gate closes it, or ends
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as stopped:  # SIGTERM, once the store is stopped
        code = stopped.code if isinstance(stopped.code, int) else 0
    sys.stdout.flush()
    # Nothing left to tear down that the process's end does not: skip Python's teardown.
    os._exit(code)
