"""The `driftgate` command: parses arguments, builds the objects, calls them. No logic here."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from driftgate import __version__
from driftgate.outcome import (
    EXIT_BACKEND,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    exit_code,
)

if TYPE_CHECKING:
    from driftgate.config import GateConfig
    from driftgate.experiments.client import ExperimentsClient

DEFAULT_DB = Path(".driftgate") / "store.db"
DEFAULT_REPORT_DIR = Path(".driftgate") / "report"


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

    demo = sub.add_parser(
        "demo",
        help="a pull request gated end to end on the bundled example, offline",
        description="In a temporary git repository: record the bundled example on main, change "
        "it on a branch so that an evaluator regresses, and gate the branch like a PR.",
    )
    demo.add_argument("--keep", metavar="DIR", help="build the demo repository here and keep it")
    return parser


# -- shared wiring ------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(f"driftgate: {message}", file=sys.stderr, flush=True)


def _echo(line: str) -> None:
    print(line, flush=True)


def _config(args: argparse.Namespace) -> GateConfig:
    from driftgate.config import load_config

    return load_config(args.config, directory=Path.cwd())


@contextmanager
def _backend(
    args: argparse.Namespace, env: Mapping[str, str]
) -> Iterator[tuple[ExperimentsClient, str | None]]:
    """The experiments client, and the embedded store's URL when one was started here."""
    from driftgate.experiments.client import ExperimentsClient, backend_from_env
    from driftgate.session import embedded_backend

    db = args.db or (str(DEFAULT_DB) if args.local else None)
    if db is None:
        backend = backend_from_env(env)
        if backend.is_datadog and backend.api_key is None:
            raise UsageError(
                "no experiments backend: set DD_API_KEY and DD_APP_KEY (and DD_SITE) for "
                "Datadog, DD_LLMOBS_OVERRIDE_ORIGIN for a running driftgate store, or pass "
                "--local for the embedded store"
            )
        with ExperimentsClient(backend) as client:
            yield client, None
        return
    with embedded_backend(Path(db)) as (client, url):
        yield client, url


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
    from driftgate.session import EMBEDDED, Gate, GateResult, compare_refs, report_context

    config = _config(args)
    with _backend(args, os.environ) as (client, store_url):
        backend_name = EMBEDDED if store_url else client.backend.describe()
        gate = Gate(client, config, _progress, client.backend.experiment_url)
        report = compare_refs(
            gate,
            args.candidate,
            args.baseline,
            base_branch=args.base_branch,
            pipeline=args.pipeline,
        )
    if args.format == "json":
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        pipeline = args.pipeline or "default"
        print(render_terminal(GateResult([report]), report_context(None, pipeline, backend_name)))
    return exit_code(report.verdict, "regression")


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
    from driftgate.ci.context import build_context, command_env
    from driftgate.ci.git import GitRepo
    from driftgate.ci.runner import display
    from driftgate.experiments.discover import WaitPolicy
    from driftgate.report import render_terminal
    from driftgate.session import (
        EMBEDDED,
        Gate,
        RunPlan,
        local_ancestors,
        report_context,
        run_and_gate,
    )
    from driftgate.store.clients import client_env

    command = _command(args.cmd)
    config = _config(args)
    workspace = Path.cwd()
    git = GitRepo(workspace)
    ctx = build_context(
        os.environ,
        git,
        workspace=str(workspace),
        now=datetime.now(UTC),
        base_branch=args.base_branch,
    )
    for note in ctx.notes:
        _progress(note)
    with _backend(args, os.environ) as (client, store_url):
        env = {**os.environ, **command_env(ctx, args.pipeline)}
        if store_url:
            env = client_env(store_url, env)
        secrets = [os.environ.get(k, "") for k in ("DD_API_KEY", "DD_APP_KEY")]
        plan = RunPlan(
            command=command,
            cwd=workspace,
            env=env,
            pipeline=args.pipeline,
            timeout_s=args.timeout * 60,
            wait=WaitPolicy(timeout_s=args.wait * 60),
            explicit_baseline=args.baseline,
            secrets=secrets,
        )
        gate = Gate(client, config, _progress, client.backend.experiment_url)
        _progress(f"running {display(command)} at {ctx.head_sha[:12]} ({ctx.branch or 'detached'})")
        result = run_and_gate(gate, ctx, plan, local_ancestors(git), _echo)
        backend_name = EMBEDDED if store_url else client.backend.describe()
    text = render_terminal(result, report_context(ctx, args.pipeline, backend_name))
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.md").write_text(text)
    (report_dir / "report.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    print("\n" + text)
    _progress(f"verdict {result.verdict}; reports in {report_dir}")
    return exit_code(result.verdict, args.fail_on)


def _action(args: argparse.Namespace) -> int:
    from driftgate.action.main import Edges, action_main

    return action_main(Edges(os.environ, sys.stdout))


def _publish(args: argparse.Namespace) -> int:
    from driftgate.action.main import Edges, action_main

    env = dict(os.environ)
    env["INPUT_MODE"] = "publish"
    env.setdefault("INPUT_ARTIFACT", args.artifact)
    if not env.get("INPUT_GITHUB-TOKEN") and env.get("GITHUB_TOKEN"):
        env["INPUT_GITHUB-TOKEN"] = env["GITHUB_TOKEN"]
    return action_main(Edges(env, sys.stdout))


def _demo(args: argparse.Namespace) -> int:
    from driftgate.demo import run_demo

    return run_demo(args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    from driftgate.ci.context import ContextError
    from driftgate.ci.git import GitError
    from driftgate.config import ConfigError
    from driftgate.experiments.baseline import RefError
    from driftgate.experiments.client import BackendError

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
    except (UsageError, ConfigError, ContextError, GitError, RefError) as exc:
        print(f"driftgate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BackendError as exc:
        print(f"driftgate: error: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
