"""The `driftgate` commands: each turns its arguments into a request, calls the session (or
the store's server, the Action, the demo) and prints. No gate logic here."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from driftgate.cli.parser import DEFAULT_DB, DEFAULT_REPORT_DIR
from driftgate.errors import UsageError
from driftgate.verdict import EXIT_OK, decided_by_no_baseline, exit_code

if TYPE_CHECKING:
    from driftgate.compare.schema import ExperimentRef
    from driftgate.session import StoreChoice

_LOCAL_FIX = "pass --local for the embedded store"


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


def _root() -> Path:
    """Where `.driftgate/` lives: the repository's root, whatever the working directory
    (`git rev-parse --show-toplevel`); the current directory outside a repository."""
    from driftgate.ci.git import toplevel

    cwd = Path.cwd()
    return toplevel(cwd) or cwd


def _store(args: argparse.Namespace, root: Path | None = None) -> tuple[StoreChoice, Path]:
    """`--local` or `--db`: the embedded store; else where ddtrace would record. An explicit
    `--db` is relative to the current directory, like any path typed; the default is at
    the repository's root (`root`, else looked up: only when the store is used)."""
    if not (args.local or args.db):
        return "datadog", DEFAULT_DB
    db = Path(args.db) if args.db else (root or _root()) / DEFAULT_DB
    _progress(f"the embedded store: {db}")
    return "embedded", db


# -- commands -----------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    from driftgate.store.app import check_keys
    from driftgate.store.db import Store
    from driftgate.store.server import serve_forever
    from driftgate.store.sockets import bind, url_of

    try:
        check_keys(args.api_key, args.app_key)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    allow_hosts = list(args.allow_host)
    if not _is_wildcard(args.host):  # a named address is one clients may use
        allow_hosts.append(args.host.strip("[]"))
    if args.db is None:
        args.db = str(_root() / DEFAULT_DB)
    if args.db != ":memory:":
        try:
            Path(args.db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create the folder of --db {args.db} ({exc.strerror}); point --db "
                "at a writable place"
            ) from exc
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
            f"DD_LLMOBS_OVERRIDE_ORIGIN={url}; its experiments' pages: {url}/ui/experiments",
            file=sys.stderr,
            flush=True,
        )

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
    # handler it found: make that a clean exit, so that `docker stop` and Ctrl-C exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    try:
        serve_forever(
            store,
            sock,
            ready,
            args.api_key,
            args.app_key,
            args.max_body,
            allow_hosts=allow_hosts,
            allow_origins=args.allow_origin,
        )
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return EXIT_OK


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return not host


def compare(args: argparse.Namespace) -> int:
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
        where=args.where,
    )
    result, rctx = compare_experiments(request, os.environ, TerminalLog())
    if args.format == "json":
        print(json.dumps(result.reports[0].model_dump(mode="json"), indent=2))
    else:
        print(render_terminal(result, rctx))
    return exit_code(result.verdict, "regression")


def records(args: argparse.Namespace) -> int:
    from driftgate.query import QueryError
    from driftgate.report.records import listing, render_json, render_table
    from driftgate.session import RecordsRequest, find_records

    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of lines, or 0 for all")
    store, db = _store(args)
    request = RecordsRequest(
        ref=args.ref, query=args.query, db=db, store=store, backend_fix=_LOCAL_FIX
    )
    try:
        found = find_records(request, os.environ)
    except QueryError as exc:
        raise UsageError(f"--query: {exc.render()}") from None
    for note in found.notes:
        _progress(note)
    lines = listing(found.data, found.selection, args.limit or None)
    if args.format == "json":
        shown = render_json(found.data, found.query, found.selection, lines)
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        print(render_table(found.data, found.query, found.selection, lines))
    return EXIT_OK


def history(args: argparse.Namespace) -> int:
    import time

    from driftgate import archive
    from driftgate.report.history import render_json, render_table

    store, db = _store(args)
    request = archive.HistoryRequest(
        db=db,
        store=store,
        pipeline=getattr(args, "pipeline", None),
        branch=getattr(args, "branch", None),
        all_branches=getattr(args, "all_branches", False),
        limit=getattr(args, "limit", 20),
        directory=Path.cwd(),
        backend_fix=_LOCAL_FIX,
    )
    if args.history_command == "import":
        done, backend = archive.import_files(
            [Path(p) for p in args.paths], request, os.environ, _progress, time.time_ns
        )
        skipped = sum(1 for d in done if d.outcome.skipped)
        _progress(f"{len(done) - skipped} imported, {skipped} skipped, into {backend}")
        return EXIT_OK
    if args.history_command == "export":
        written, notes = archive.export_runs(request, Path(args.out), os.environ, _progress)
        for note in notes:
            _progress(note)
        _progress(f"{len(written)} run{'s' if len(written) != 1 else ''} written to {args.out}")
        return EXIT_OK
    listing = archive.list_runs(request, os.environ)
    for note in listing.notes:
        _progress(note)
    found = listing.lines
    where = listing.pipeline, listing.branch, listing.backend
    if args.format == "json":
        shown = render_json(found, pipeline=where[0], branch=where[1], backend=where[2])
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        print(render_table(found, pipeline=where[0], branch=where[1], backend=where[2]))
    return EXIT_OK


def _history_branch(name: str | None) -> str | None:
    from driftgate.ci.databranch import valid_branch

    if name and not valid_branch(name):
        raise UsageError(
            f"--history-branch {name!r} is not a branch name driftgate writes: use letters, "
            "digits, '.', '_', '-' and '/', such as driftgate-data"
        )
    return name or None


def _command(parts: Sequence[str]) -> list[str] | str:
    parts = list(parts)
    if parts and parts[0] == "--":
        parts = parts[1:]
    if not parts:
        raise UsageError("no command to run: driftgate run [OPTIONS] -- COMMAND [ARGS...]")
    if len(parts) == 1 and any(c in parts[0] for c in " \t|&;<>()$`'\"*?"):
        return parts[0]  # one quoted string: a shell command line
    return parts


def run(args: argparse.Namespace) -> int:
    from driftgate.ci.cancel import cancel_on_signals
    from driftgate.session import NothingToGate, RunRequest, run_gate

    root = _root()
    store, db = _store(args, root)
    request = RunRequest(
        command=_command(args.cmd),
        pipeline=args.pipeline,
        workspace=root,
        # The command runs, and the configuration is looked for, where the user is.
        workdir=Path.cwd(),
        report_dir=Path(args.report_dir) if args.report_dir else root / DEFAULT_REPORT_DIR,
        timeout_s=args.timeout * 60,
        wait_s=args.wait * 60,
        store=store,
        db=db,
        config=args.config,
        base_branch=args.base_branch,
        baseline=args.baseline,
        secrets=[os.environ.get(k, "") for k in ("DD_API_KEY", "DD_APP_KEY", "GITHUB_TOKEN")],
        backend_fix=_LOCAL_FIX,
        # In GitHub Actions (`env: GITHUB_TOKEN: ${{ github.token }}`): the history of a
        # shallow checkout is read from the API.
        github_token=os.environ.get("GITHUB_TOKEN") or None,
        where=args.where,
        history_branch=_history_branch(args.history_branch),
    )
    try:
        # Ctrl-C and SIGTERM stop the command and still write the report (then exit 130/143).
        with cancel_on_signals():
            outcome = run_gate(request, os.environ, TerminalLog())
    except NothingToGate as exc:
        _progress(str(exc))
        return EXIT_OK
    print("\n" + outcome.terminal)
    result, on_base = outcome.result, outcome.ctx.on_base_branch
    _progress(f"verdict {result.verdict}; reports in {request.report_dir}")
    _browse_hint(outcome.report.serve_command, [r.candidate for r in result.reports])
    if outcome.cancelled:
        return 128 + outcome.cancelled
    code = exit_code(result.verdicts, args.fail_on, args.no_baseline, on_base_branch=on_base)
    if decided_by_no_baseline(
        result.verdicts, args.fail_on, args.no_baseline, on_base_branch=on_base
    ):
        _progress(_no_baseline_exit(code, args.no_baseline, on_base))
    return code


def _browse_hint(serve: str | None, candidates: Sequence[ExperimentRef | None]) -> None:
    """How to open the embedded store's experiments in a browser: the store served during
    the run is gone, and its pages need `driftgate serve` (the report says it too)."""
    urls = [c.url for c in candidates if c is not None and c.url]
    if serve is None or not urls:
        return
    _progress(f"to browse the records: {serve}, then open {', '.join(urls)}")


def _no_baseline_exit(code: int, policy: str, on_base_branch: bool) -> str:
    """Why a run without a baseline exits as it does: the flag's effect, said once."""
    if on_base_branch:
        return (
            f"no baseline on the base branch: this run is recorded as one (exit {code}; "
            "--no-baseline applies to other branches)"
        )
    if policy == "fail":
        return (
            f"no baseline, and --no-baseline fail: exit {code}; record a run on the base "
            "branch first, or pass --baseline ID"
        )
    return f"no baseline: exit {code} (--no-baseline {policy}; fail makes it exit 1)"


def action(args: argparse.Namespace) -> int:
    from driftgate.action.main import Edges, action_main

    return action_main(Edges(os.environ, sys.stdout))


def publish(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from driftgate.action.main import Edges, publish_main
    from driftgate.action.publish import Policy

    token = os.environ.get("INPUT_GITHUB-TOKEN") or os.environ.get("GITHUB_TOKEN")
    return publish_main(
        Edges(os.environ, sys.stdout),
        args.artifact,
        SecretStr(token) if token else None,
        args.api_url,
        Policy(args.pipeline, args.comment, args.check, args.fail_on, args.no_baseline),
        args.dd_site,
    )


def init(args: argparse.Namespace) -> int:
    from driftgate.init import workspace
    from driftgate.init.infer import Options, plan
    from driftgate.init.render import render, summary

    root, facts = workspace.read_facts(Path(args.path), args.script, Path.cwd())
    the_plan = plan(facts, Options(args.pipeline, args.branch, args.fork_publish))
    outputs = render(the_plan, workspace.read_gitignore(root))
    if not args.force:
        workspace.refuse_overwrite(root, outputs)
    if not args.dry_run:
        workspace.write(root, outputs)
    print(summary(the_plan, outputs, dry_run=args.dry_run))
    return EXIT_OK


def demo(args: argparse.Namespace) -> int:
    from driftgate.demo import run_demo

    return run_demo(args.keep)
