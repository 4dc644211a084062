"""The `driftgate` command line: `main` parses the arguments (`parser.py`), runs the command
(`commands.py`), and turns every error a user can act on into its message and exit code."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from driftgate.ci.cancel import Cancelled
from driftgate.cli import commands
from driftgate.cli.parser import build_parser
from driftgate.errors import DriftgateError

__all__ = ["entry", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`driftgate records ... | head`): what is left to print has
        # nowhere to go, which is not an error of driftgate's. Python's exit would try to
        # flush stdout again and say so: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    run = {
        "serve": commands.serve,
        "compare": commands.compare,
        "records": commands.records,
        "history": commands.history,
        "run": commands.run,
        "action": commands.action,
        "publish": commands.publish,
        "demo": commands.demo,
        "init": commands.init,
    }
    try:
        return run[args.command](args)
    except DriftgateError as exc:
        print(f"driftgate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Cancelled as exc:
        # `run` was told to stop before its command ran, or after its report was written.
        print(f"driftgate: {exc}", file=sys.stderr)
        return exc.exit_code


def entry() -> NoReturn:
    """The `driftgate` command: `main`, then the process ends without tearing down every
    module it imported. Python's own exit collects numpy's, pydantic's and the HTTP stack's
    objects one by one, a tenth of a second that a process about to end does not need. What
    has to happen at exit still does: other threads are waited for, `atexit` handlers run
    (logging's flush among them), and the standard streams are flushed. An exception `main`
    does not handle takes Python's usual way out, with its traceback."""
    # The cyclic collector, every 700 new objects by default, passes over everything a
    # start-up imports again and again (a tenth of their CPU, measured) and over every answer
    # read; every 50,000 is enough for what driftgate makes, and for the store it serves.
    gc.set_threshold(50_000, 50, 100)
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing to flush
            stream.flush()
    os._exit(code)
