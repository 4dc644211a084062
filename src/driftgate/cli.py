"""The `driftgate` command: parses arguments, builds the objects, calls them. No logic here."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from driftgate import __version__

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_BACKEND = 0, 1, 2, 3
DEFAULT_DB = Path(".driftgate") / "store.db"


class UsageError(Exception):
    """A mistake of the user's (exit 2); the message says what to change."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftgate",
        description="The regression gate for LLM experiments.",
    )
    parser.add_argument("--version", action="version", version=f"driftgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the embedded experiment store (Datadog's experiments API on SQLite)",
        description="Serve Datadog's LLM Observability experiments API from a SQLite file. "
        "Point ddtrace at it with DD_LLMOBS_OVERRIDE_ORIGIN=<the printed URL>.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8765, help="port, or 0 for a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--db",
        default=str(DEFAULT_DB),
        help="SQLite file, created if missing; ':memory:' keeps nothing (default: %(default)s)",
    )
    serve.add_argument(
        "--api-key",
        default=os.environ.get("DRIFTGATE_STORE_API_KEY"),
        help="require this DD-API-KEY (default: $DRIFTGATE_STORE_API_KEY; unset: any)",
    )
    serve.add_argument(
        "--app-key",
        default=os.environ.get("DRIFTGATE_STORE_APP_KEY"),
        help="require this DD-APPLICATION-KEY (default: $DRIFTGATE_STORE_APP_KEY; unset: any)",
    )
    serve.add_argument(
        "--max-body",
        type=int,
        default=64 * 1024 * 1024,
        help="largest request body in bytes (default: %(default)s)",
    )

    demo = sub.add_parser(
        "demo",
        help="run the bundled example experiment against a throwaway embedded store",
    )
    demo.add_argument(
        "--db",
        default=None,
        help="keep the store in this SQLite file (default: a temporary file)",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from driftgate.store.db import Store
    from driftgate.store.server import bind, serve_forever, url_of

    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pick another --port, "
            "or --port 0 for a free one"
        ) from exc
    store = Store(args.db)
    url = url_of(sock)

    def ready() -> None:
        print(url, flush=True)
        print(
            f"driftgate store serving {args.db} at {url}; point ddtrace at it with "
            f"DD_LLMOBS_OVERRIDE_ORIGIN={url}",
            file=sys.stderr,
            flush=True,
        )

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
    # handler it found: make that a clean exit, so that `docker stop` and Ctrl-C exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    try:
        serve_forever(store, sock, ready, args.api_key, args.app_key, args.max_body)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from driftgate.demo import run_demo

    return run_demo(args.db)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "demo":
            return _demo(args)
    except UsageError as exc:
        print(f"driftgate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
