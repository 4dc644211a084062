"""The `driftgate` command line: `main` parses the arguments (`parser.py`), runs the command
(`commands.py`), and turns every error a user can act on into its message and exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from driftgate.ci.cancel import Cancelled
from driftgate.cli import commands
from driftgate.cli.parser import build_parser
from driftgate.errors import DriftgateError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = {
        "serve": commands.serve,
        "compare": commands.compare,
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
