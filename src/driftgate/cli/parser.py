"""The `driftgate` command's arguments: every command, option and help text, in one place."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from driftgate import __version__
from driftgate.store.sockets import DEFAULT_HOST, DEFAULT_PORT
from driftgate.verdict import COMMENT_MODES, FAIL_ON, NO_BASELINE

# Relative to the repository's root (the current directory outside one), wherever the
# command runs from: a store per subdirectory would find no baseline.
DEFAULT_DB = Path(".driftgate") / "store.db"
DEFAULT_REPORT_DIR = Path(".driftgate") / "report"


def build_parser() -> argparse.ArgumentParser:
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
    serve.add_argument("--host", default=DEFAULT_HOST, help="address (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, or 0 for a free one (default: %(default)s)",
    )
    serve.add_argument(
        "--db",
        help="SQLite file, created if missing; ':memory:' keeps nothing (default: "
        f"{DEFAULT_DB} at the repository's root)",
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
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests addressed to this host name (repeatable; '*' any); by "
        "default only loopback names and the --host address are, against DNS rebinding",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept requests from web pages of this origin, e.g. http://localhost:3000 "
        "(repeatable; '*' any); by default any request with a browser's Origin is refused",
    )
    serve.add_argument(
        "--max-body",
        type=int,
        default=64 * 1024 * 1024,
        help="largest request body in bytes (default: %(default)s)",
    )

    def where_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--where",
            metavar="Q",
            help="compare only the records matching this query, on both sides (the syntax of "
            "records --query, e.g. difficulty:hard; docs/query.md); default: the "
            "configuration's where, which an empty Q lifts",
        )

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--local",
            action="store_true",
            help=f"use the embedded store in {DEFAULT_DB} at the repository's root (default: "
            "Datadog, or DD_LLMOBS_OVERRIDE_ORIGIN, as ddtrace chooses)",
        )
        p.add_argument("--db", help="use the embedded store in this SQLite file (implies --local)")

    def backend_options(p: argparse.ArgumentParser) -> None:
        store_options(p)
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
    where_option(compare)
    backend_options(compare)

    records = sub.add_parser(
        "records",
        help="list an experiment's records that match a query (Datadog's search syntax)",
        description="List the records of an experiment (ID, or ID@RUN for one run of it) with "
        "their runs' outputs, evaluations, tokens and duration. --query takes Datadog's "
        "experiment-records search: terms such as @evaluations.custom.NAME:>0.5, "
        "@trace.total_tokens:>1000, difficulty:hard or run_iteration:1, joined by AND; "
        "@multi_run_avg. and @multi_run_mode. before a column match records over their runs "
        "(docs/query.md).",
    )
    records.add_argument("ref", metavar="ID[@RUN]", help="the experiment (its id or name)")
    records.add_argument(
        "--query", "-q", default="", metavar="Q", help="what the records must match (default: all)"
    )
    records.add_argument("--format", choices=("table", "json"), default="table")
    records.add_argument(
        "--limit",
        type=int,
        default=50,
        metavar="N",
        help="show at most N lines, 0 for all (default: %(default)s)",
    )
    backend_options(records)

    history = sub.add_parser(
        "history",
        help="list a pipeline's recorded runs, or export and import them as compact files",
        description="The runs a pipeline recorded on a branch (the embedded store's, or "
        "Datadog's): list them with their headline figures, export them as compact files "
        "(one per run, the driftgate-data branch's layout), or import such files into "
        "another backend, to move from the embedded store to Datadog or back "
        "(docs/history.md).",
    )
    history_sub = history.add_subparsers(
        dest="history_command", required=True, metavar="SUBCOMMAND"
    )

    def which_runs(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--pipeline",
            metavar="P",
            help="the pipeline (its ci.pipeline tag, or the experiment's name); default: all",
        )
        p.add_argument(
            "--branch",
            metavar="B",
            help="the branch the runs were recorded on (default: the repository's default branch)",
        )
        p.add_argument("--all-branches", action="store_true", help="runs of every branch")
        p.add_argument(
            "--limit",
            type=int,
            default=20,
            metavar="N",
            help="the newest N runs (default: %(default)s, at most 1000)",
        )

    history_list = history_sub.add_parser(
        "list",
        help="the newest runs, with each evaluator's pass rate or mean and the error rate",
        description="The newest runs of a pipeline on a branch, newest first (by when they "
        "were recorded), with their commit, runs, records, error rate and each evaluator's "
        "pass rate (or mean, or most frequent category).",
    )
    which_runs(history_list)
    history_list.add_argument("--format", choices=("table", "json"), default="table")
    store_options(history_list)
    history_export = history_sub.add_parser(
        "export",
        help="write one compact file per run under DIR",
        description="Write each finished run listed as a compact file under DIR, at "
        "runs/<pipeline>/<created>-<commit>-<id>.jsonl (the driftgate-data branch's layout).",
    )
    which_runs(history_export)
    history_export.add_argument("--out", required=True, metavar="DIR", help="the folder")
    store_options(history_export)
    history_import = history_sub.add_parser(
        "import",
        help="create the runs of compact files as experiments in the backend",
        description="Create each run of the files (a folder: every .jsonl under it) as an "
        "experiment in the backend, with its project, dataset records, task spans and "
        "evaluations. A run already there (the same id, imported before, or the same name "
        "at the same commit) is skipped.",
    )
    history_import.add_argument(
        "paths", nargs="+", metavar="DIR|FILE", help="run files, or folders of them"
    )
    store_options(history_import)

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
        help="where report.md and report.json go, relative to the current directory "
        f"(default: {DEFAULT_REPORT_DIR} at the repository's root)",
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
    run.add_argument(
        "--no-baseline",
        choices=NO_BASELINE,
        default="neutral",
        help="what a run without a baseline concludes off the base branch: neutral (exit 0), "
        "fail (exit 1) or pass; on the base branch it records and never fails "
        "(default: %(default)s)",
    )
    where_option(run)
    run.add_argument(
        "--history-branch",
        metavar="BRANCH",
        default=None,
        help="with the embedded store, keep the base branch's runs in BRANCH of the origin "
        "remote (e.g. driftgate-data; docs/history.md): pushed by runs on the base branch, "
        "read when the store lacks baselines (default: none; the Action's default is "
        "driftgate-data)",
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
        "run's artifact: posts its comment and check with this workflow's token, under the "
        "policy given here (never the artifact's). The token comes from INPUT_GITHUB-TOKEN "
        "or GITHUB_TOKEN.",
    )
    publish.add_argument(
        "--artifact", default=".driftgate/artifact", help="the downloaded artifact folder"
    )
    publish.add_argument(
        "--api-url", help="GitHub's API (default: $GITHUB_API_URL, else https://api.github.com)"
    )
    publish.add_argument(
        "--pipeline", default="default", help="the gate's pipeline (default: %(default)s)"
    )
    publish.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="regression",
        help="which verdicts fail the check: regression, also warning, or never",
    )
    publish.add_argument(
        "--no-baseline",
        choices=NO_BASELINE,
        default="neutral",
        help="what the check concludes for a pull request without a baseline: neutral, fail "
        "or pass (default: %(default)s)",
    )
    publish.add_argument(
        "--comment",
        choices=COMMENT_MODES,
        default="always",
        help="the sticky comment: always, on-change, on-regression, off",
    )
    publish.add_argument("--no-check", dest="check", action="store_false", help="post no check run")
    publish.add_argument(
        "--dd-site",
        help="Datadog site whose UI links are kept (default: $DD_SITE, else datadoghq.com)",
    )

    init = sub.add_parser(
        "init",
        help="set up the gate in a repository: the workflow, a commented driftgate.toml and "
        "the .gitignore line",
        description="Finds the ddtrace experiment script, the experiment's name (the "
        "pipeline) and the default branch, then writes .github/workflows/evals.yml, a "
        "driftgate.toml with every setting commented out at its default, and .driftgate/ in "
        ".gitignore. Existing files are never overwritten without --force.",
    )
    init.add_argument(
        "path",
        nargs="?",
        default=".",
        metavar="PATH",
        help="the project's folder, in a repository or a part of one (default: the current "
        "directory); the workflows go to the repository's root",
    )
    init.add_argument(
        "--pipeline",
        metavar="NAME",
        help="the pipeline, which names the check (default: the experiment's name in the "
        "script, else the folder's)",
    )
    init.add_argument(
        "--script",
        metavar="PATH",
        help="the experiment script, from the current directory (default: the file that calls "
        "LLMObs.experiment, nearest to the project's root)",
    )
    init.add_argument(
        "--branch",
        metavar="NAME",
        help="the default branch, where baselines are recorded (default: origin/HEAD, else "
        "what git's settings and branches say)",
    )
    init.add_argument(
        "--fork-publish",
        action="store_true",
        help="also write evals-publish.yml, which posts the reports of fork pull requests",
    )
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument(
        "--dry-run", action="store_true", help="print what would be written; write nothing"
    )

    demo = sub.add_parser(
        "demo",
        help="a pull request gated end to end on the bundled example, offline",
        description="In a temporary git repository: record the bundled example on main, change "
        "it on a branch so that an evaluator regresses, and gate the branch like a PR.",
    )
    demo.add_argument("--keep", metavar="DIR", help="build the demo repository here and keep it")
    return parser
