"""The `driftgate` command: parses arguments, builds a request, calls the session (or the
store's server, the Action, the demo), prints. No gate logic here."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from driftgate import __version__
from driftgate.errors import DriftgateError, UsageError
from driftgate.result import EXIT_OK, FAIL_ON, exit_code

if TYPE_CHECKING:
    from driftgate.session import StoreChoice

DEFAULT_DB = Path(".driftgate") / "store.db"
DEFAULT_REPORT_DIR = Path(".driftgate") / "report"


_LOCAL_FIX = "pass --local for the embedded store"


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
    serve.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
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

    def backend_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--local",
            action="store_true",
            help=f"use the embedded store in {DEFAULT_DB} (default: Datadog, or "
            "DD_LLMOBS_OVERRIDE_ORIGIN, as ddtrace chooses)",
        )
        p.add_argument("--db", help="use the embedded store in this SQLite file (implies --local)")
        p.add_argument(
            "--config", help="gate configuration file (default: driftgate.toml or pyproject.toml)"
        )

    compare = sub.add_parser(
        "compare",
        help="compare two experiment runs and apply the gate",
        description="Compare a candidate experiment with its baseline record by record. An id "
        "may name one run of a multi-run experiment: ID@3 is its run 3.",
    )
    compare.add_argument("--candidate", required=True, metavar="ID", help="the experiment to gate")
    compare.add_argument(
        "--baseline",
        metavar="ID",
        help="the experiment to compare with (default: resolved from the base branch)",
    )
    compare.add_argument("--format", choices=("markdown", "json"), default="markdown")
    compare.add_argument("--base-branch", help="base branch for baseline resolution")
    compare.add_argument("--pipeline", help="pipeline name, for per-run experiment names")
    backend_options(compare)

    run = sub.add_parser(
        "run",
        help="run an experiment command, then gate what it recorded against the baseline",
        description="Run COMMAND with the commit, branch and pipeline in its environment, find "
        "the experiments it recorded, resolve each one's baseline, compare and report. A "
        "single quoted COMMAND is run by the shell.",
    )
    run.add_argument(
        "--pipeline", default="default", help="logical pipeline name (default: %(default)s)"
    )
    run.add_argument("--baseline", metavar="ID", help="compare with this experiment (ID or ID@RUN)")
    run.add_argument("--base-branch", help="the branch baselines come from (default: the repo's)")
    run.add_argument(
        "--report-dir",
        default=str(DEFAULT_REPORT_DIR),
        help="where report.md and report.json go (default: %(default)s)",
    )
    run.add_argument(
        "--timeout", type=float, default=60.0, metavar="MIN", help="command timeout (default: 60)"
    )
    run.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="MIN",
        help="how long to wait for experiments to finish (default: 10)",
    )
    run.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="regression",
        help="exit 1 on a failing gate (regression), also on warnings, or never",
    )
    backend_options(run)
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")

    sub.add_parser(
        "action",
        help="the GitHub Action's entrypoint (reads INPUT_* and GITHUB_* from the environment)",
    )
    publish = sub.add_parser(
        "publish",
        help="post the report a read-only (fork) pull request run left as an artifact",
        description="Run from a workflow_run workflow after downloading the pull request "
        "run's artifact: posts its comment and check with this workflow's token. The token "
        "comes from INPUT_GITHUB-TOKEN or GITHUB_TOKEN.",
    )
    publish.add_argument(
        "--artifact", default=".driftgate/artifact", help="the downloaded artifact folder"
    )
    publish.add_argument(
        "--api-url", help="GitHub's API (default: $GITHUB_API_URL, else https://api.github.com)"
    )

    demo = sub.add_parser(
        "demo",
        help="a pull request gated end to end on the bundled example, offline",
        description="In a temporary git repository: record the bundled example on main, change "
        "it on a branch so that an evaluator regresses, and gate the branch like a PR.",
    )
    demo.add_argument("--keep", metavar="DIR", help="build the demo repository here and keep it")
    return parser


# -- the terminal as the session's log -----------------------------------------------------


def _progress(message: str) -> None:
    print(f"driftgate: {message}", file=sys.stderr, flush=True)


class TerminalLog:
    """The command's output on stdout, the gate's words on stderr."""

    def line(self, text: str) -> None:
        print(text, flush=True)

    def progress(self, message: str) -> None:
        _progress(message)

    def notice(self, message: str) -> None:
        _progress(message)

    def error(self, message: str, title: str) -> None:
        _progress(f"{title.removeprefix('driftgate: ')}: {message}")

    def section(self, title: str) -> AbstractContextManager[object]:
        return nullcontext()


def _store(args: argparse.Namespace) -> tuple[StoreChoice, Path]:
    """`--local` or `--db`: the embedded store; else where ddtrace would record."""
    db = Path(args.db or DEFAULT_DB)
    return ("embedded" if args.local or args.db else "datadog"), db


# -- commands -----------------------------------------------------------------------------------


# -- commands -----------------------------------------------------------------------------------


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


def _compare(args: argparse.Namespace) -> int:
    from driftgate.report import render_terminal
    from driftgate.session import CompareRequest, compare_experiments

    store, db = _store(args)
    request = CompareRequest(
        candidate=args.candidate,
        baseline=args.baseline,
        directory=Path.cwd(),
        db=db,
        store=store,
        config=args.config,
        pipeline=args.pipeline,
        base_branch=args.base_branch,
        backend_fix=_LOCAL_FIX,
    )
    result, rctx = compare_experiments(request, os.environ, TerminalLog())
    if args.format == "json":
        print(json.dumps(result.reports[0].model_dump(mode="json"), indent=2))
    else:
        print(render_terminal(result, rctx))
    return exit_code(result.verdict, "regression")


def _command(parts: Sequence[str]) -> list[str] | str:
    parts = list(parts)
    if parts and parts[0] == "--":
        parts = parts[1:]
    if not parts:
        raise UsageError("no command to run: driftgate run [OPTIONS] -- COMMAND [ARGS...]")
    if len(parts) == 1 and any(c in parts[0] for c in " \t|&;<>()$`'\"*?"):
        return parts[0]  # one quoted string: a shell command line
    return parts


def _run(args: argparse.Namespace) -> int:
    from driftgate.session import RunRequest, run_gate

    store, db = _store(args)
    workspace = Path.cwd()
    request = RunRequest(
        command=_command(args.cmd),
        pipeline=args.pipeline,
        workspace=workspace,
        workdir=workspace,
        report_dir=Path(args.report_dir),
        timeout_s=args.timeout * 60,
        wait_s=args.wait * 60,
        store=store,
        db=db,
        config=args.config,
        base_branch=args.base_branch,
        baseline=args.baseline,
        secrets=[os.environ.get(k, "") for k in ("DD_API_KEY", "DD_APP_KEY")],
        backend_fix=_LOCAL_FIX,
    )
    outcome = run_gate(request, os.environ, TerminalLog())
    print("\n" + outcome.terminal)
    _progress(f"verdict {outcome.result.verdict}; reports in {request.report_dir}")
    return exit_code(outcome.result.verdict, args.fail_on)


def _action(args: argparse.Namespace) -> int:
    from driftgate.action.main import Edges, action_main

    return action_main(Edges(os.environ, sys.stdout))


def _publish(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from driftgate.action.main import Edges, publish_main

    token = os.environ.get("INPUT_GITHUB-TOKEN") or os.environ.get("GITHUB_TOKEN")
    return publish_main(
        Edges(os.environ, sys.stdout),
        args.artifact,
        SecretStr(token) if token else None,
        args.api_url,
    )


def _demo(args: argparse.Namespace) -> int:
    from driftgate.demo import run_demo

    return run_demo(args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "serve": _serve,
        "compare": _compare,
        "run": _run,
        "action": _action,
        "publish": _publish,
        "demo": _demo,
    }
    try:
        return commands[args.command](args)
    except DriftgateError as exc:
        print(f"driftgate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
