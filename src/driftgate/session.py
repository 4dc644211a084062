"""The gate session: everything between an entry point's inputs and its surfaces.

`driftgate run`, `driftgate compare` and the Action's gate all run through here. Given a
request (what to run and gate, and where) and a `Log` (where the command's output and the
gate's progress go), a session builds the CI context, opens the one experiments backend,
runs the setup and the experiment command with the commit and branch in their environment,
finds what the command recorded, waits for it to finish, resolves each baseline, compares,
and writes report.json and report.md. The adapters (`cli/`, `action/main.py`) parse their
arguments or inputs, call in here, and put the result on their own surfaces.

Every known secret (the request's, and the environment's keys and tokens: `redact.py`) is
redacted here from what the session logs, returns and writes; the adapters redact again
where their surfaces leave.

Errors a user can act on are `errors.UsageError` (exit 2) or `errors.BackendError` (exit 3),
raised to the adapter, which prints the message.
"""

from __future__ import annotations

import importlib
import shlex
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from driftgate import compare as comparison
from driftgate.ci.ancestry import Ancestry, baseline_ancestry
from driftgate.ci.cancel import Cancelled
from driftgate.ci.context import (
    LOCAL_EVENT,
    CIContext,
    ContextError,
    build_context,
    command_env,
    from_local_git,
)
from driftgate.ci.git import GitError, GitRepo, toplevel
from driftgate.ci.runner import display, run_command
from driftgate.compare import completeness
from driftgate.compare.schema import ExperimentRef, Report
from driftgate.config import GateConfig, load_config, unmatched_rules, where_error
from driftgate.errors import UsageError
from driftgate.experiments import baseline as baselines
from driftgate.experiments.backend import Backend as BackendAddress
from driftgate.experiments.backend import backend_from_env
from driftgate.experiments.discover import (
    CLOCK_SKEW,
    WaitPolicy,
    find_experiments,
    for_commit,
    wait_until_finished,
)
from driftgate.experiments.models import ExperimentInfo
from driftgate.redact import NO_SECRETS, Redactor
from driftgate.result import CommandResult, GateResult, ReportContext

if TYPE_CHECKING:
    from driftgate.experiments.client import ExperimentsClient
    from driftgate.experiments.models import ExperimentData
    from driftgate.history import HistoryBranch
    from driftgate.query import Query, Selection

__all__ = [
    "CACHE_DIR",
    "EMBEDDED",
    "STATE_DIR",
    "STORES",
    "Backend",
    "CompareRequest",
    "Log",
    "NoBackend",
    "NothingToGate",
    "RunOutcome",
    "RunRequest",
    "StoreChoice",
    "compare_experiments",
    "open_backend",
    "run_gate",
]

StoreChoice = Literal["auto", "datadog", "embedded"]
STORES: tuple[StoreChoice, ...] = get_args(StoreChoice)

STATE_DIR = ".driftgate"
"""Under the checkout's root: the embedded store's file and the reports."""
CACHE_DIR = f"{STATE_DIR}/cache"
"""What runs may keep for the next (compiled templates; the Action's download caches): the
one folder the README's actions/cache step saves."""
EMBEDDED = "the embedded store"
ANCESTOR_LIMIT = 200
DIRTY_TAG = "git.dirty:true"
MAX_FILES_NAMED = 3
_OVERRIDE = "DD_LLMOBS_OVERRIDE_ORIGIN"


class Log(Protocol):
    """Where a session says what happens. The CLI prints; the Action writes workflow
    commands (notices, errors, folded groups)."""

    def line(self, text: str) -> None:
        """A line of the user's command's own output."""

    def progress(self, message: str) -> None:
        """What the gate is doing."""

    def notice(self, message: str) -> None:
        """A fallback taken or a degraded state: worth a reader's attention."""

    def error(self, message: str, title: str) -> None:
        """Something failed; the report says it too."""

    def section(self, title: str) -> AbstractContextManager[object]:
        """The output of one command (setup, the experiment), as a unit."""


# ------------------------------------------------------------------------------ the backend


class NoBackend(UsageError):
    """Datadog was chosen (or ddtrace would choose it) but no key is given."""


class Backend:
    """The experiments backend of one session. Its HTTP client is made when first used:
    for the embedded store, after the user's command has started (`open_backend`)."""

    def __init__(
        self,
        address: BackendAddress,
        command_env: dict[str, str],
        name: str,
        *,
        embedded: bool,
        ready: Callable[[], None] = lambda: None,
        mark_dirty: Callable[[ExperimentInfo], ExperimentInfo] | None = None,
        pages: str | None = None,
    ) -> None:
        self.address = address
        self.command_env = command_env
        """What the user's command needs, merged over the parent's environment, to record
        into the same backend: for the embedded store, the parent's environment with the
        store's address and placeholder keys (`store.clients.client_env`); empty for
        Datadog, which the parent's variables already name."""
        self.name = name
        """For the report: "Datadog (datadoghq.com)", "the embedded store", ..."""
        self.embedded = embedded
        self.mark_dirty = mark_dirty
        """Tags a run `git.dirty:true` after the fact, where the backend allows it (the
        embedded store; Datadog's API changes only a run's status)."""
        self.pages = pages
        """Where `driftgate serve` shows the embedded store's experiments once it runs
        (`http://127.0.0.1:8765`): their links in the report of a local run. None elsewhere:
        the store served during a gate is gone once it ends, and a CI runner's is out of a
        reader's reach."""
        self._ready = ready
        self._client: ExperimentsClient | None = None

    @property
    def client(self) -> ExperimentsClient:
        if self._client is None:
            self._ready()  # the embedded store serves (or says why it cannot)
            # httpx and the client: imported when the backend is first asked something.
            from driftgate.experiments.client import ExperimentsClient

            self._client = ExperimentsClient(self.address)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def experiment_url(self, experiment_id: str) -> str | None:
        if self.pages is not None:
            from driftgate.store.pages import experiment_path

            return self.pages + experiment_path(experiment_id)
        return self.address.experiment_url(experiment_id)


@contextmanager
def open_backend(
    choice: StoreChoice, env: Mapping[str, str], db: Path, *, fix: str, pages: bool = False
) -> Iterator[Backend]:
    """The one place the backend is chosen, for every entry point.

    `embedded`: the store on `db`, served in this process while the block runs (served from
    a thread that starts with the user's command: `store/deferred.py`). `datadog`: where
    ddtrace would record (`DD_LLMOBS_OVERRIDE_ORIGIN` wins, as it does for ddtrace; else
    Datadog, which needs `DD_API_KEY`). `auto`: Datadog or the override when either is
    configured, else the embedded store. `fix` ends the error when keys are missing: how
    this entry point chooses the embedded store instead. `pages`: link the embedded store's
    experiments to `driftgate serve`'s pages at its default address (`Backend.pages`).
    """
    override = env.get(_OVERRIDE, "").strip()
    embedded = choice == "embedded" or (
        choice == "auto" and not override and not env.get("DD_API_KEY")
    )
    if not embedded:
        address = backend_from_env(env)
        if address.is_datadog and address.api_key is None:
            raise NoBackend(
                "no experiments backend: set DD_API_KEY and DD_APP_KEY (and DD_SITE) for "
                f"Datadog, DD_LLMOBS_OVERRIDE_ORIGIN for a running driftgate store, or {fix}"
            )
        remote = Backend(address, {}, address.describe(), embedded=False)
        try:
            yield remote
        finally:
            remote.close()
        return
    # Imported here: a gate that reads Datadog never needs the store.
    from driftgate.store.clients import client_env
    from driftgate.store.deferred import DeferredStore
    from driftgate.store.sockets import DEFAULT_HOST, DEFAULT_PORT

    db.parent.mkdir(parents=True, exist_ok=True)
    with DeferredStore(str(db)) as store:

        def mark_dirty(info: ExperimentInfo) -> ExperimentInfo:
            metadata = dict(info.metadata or {})
            metadata["tags"] = [*info.tags, DIRTY_TAG]
            store.store.experiments.patch(info.id, {"metadata": metadata})
            return info.model_copy(update={"metadata": metadata})

        local = Backend(
            backend_from_env({_OVERRIDE: store.url}),
            client_env(store.url, env),
            EMBEDDED,
            embedded=True,
            ready=store.wait,
            mark_dirty=mark_dirty,
            pages=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}" if pages else None,
        )
        try:
            yield local
        finally:
            local.close()


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class RunRequest:
    """`driftgate run` and the Action's gate: run a command, then gate what it recorded."""

    command: Sequence[str] | str
    pipeline: str
    workspace: Path
    """The checkout's root: the context's workspace, and where the embedded store lives."""
    workdir: Path
    """Where the commands run and the configuration is looked for."""
    report_dir: Path
    timeout_s: float | None
    wait_s: float
    store: StoreChoice = "auto"
    db: Path | None = None
    """The embedded store's file; default `<workspace>/.driftgate/store.db`."""
    config: str | None = None
    base_branch: str | None = None
    baseline: str | None = None
    """An explicit baseline (`ID` or `ID@RUN`)."""
    baseline_input: str = "--baseline"
    """How the user gave `baseline`, for the message when it names nothing."""
    setup: str | None = None
    secrets: Sequence[str] = ()
    """Secrets besides the environment's keys and tokens (which are found by their names):
    redacted from the log, the result and the report files."""
    backend_fix: str = "use the embedded store"
    run_url: str | None = None
    github_token: str | None = field(default=None, repr=False)
    """Reads the commit history from GitHub's API when the checkout lacks it (shallow)."""
    github_api_url: str | None = None
    """Default: the context's (`GITHUB_API_URL`, or the remote's host)."""
    where: str | None = None
    """A query (docs/query.md) every comparison is restricted to; None: the configuration's
    `where`, if any. An empty one restricts nothing, whatever the configuration says."""
    history_branch: str | None = None
    """The branch of the repository that keeps the base branch's runs (docs/history.md),
    read when the embedded store lacks baselines and written on the base branch; None: off."""
    where_input: str = "--where"
    """How the user gave `where`, for its errors and the report's note."""

    @property
    def store_db(self) -> Path:
        return self.db or self.workspace / STATE_DIR / "store.db"


@dataclass(frozen=True)
class RunOutcome:
    ctx: CIContext
    result: GateResult
    report: ReportContext
    terminal: str
    """The report as plain Markdown (report.md, the terminal)."""
    embedded: bool
    cancelled: int | None = None
    """The signal that stopped the gate (SIGINT, SIGTERM) when one did: the report says
    so, and the entry point exits 128 + it."""


@dataclass(frozen=True)
class CompareRequest:
    """`driftgate compare`: two experiment runs, refs `ID` or `ID@RUN`."""

    candidate: str
    baseline: str | None
    directory: Path
    """Where the configuration is looked for."""
    db: Path
    store: StoreChoice = "datadog"
    config: str | None = None
    pipeline: str | None = None
    base_branch: str | None = None
    backend_fix: str = "use the embedded store"
    where: str | None = None
    """As `RunRequest.where`."""


# ------------------------------------------------------------------------------ sessions


class NothingToGate(Exception):
    """This run has nothing to gate (a push that deleted its ref). Raised before anything
    runs; the entry point prints the message as a notice and exits 0."""


def run_gate(
    request: RunRequest,
    env: Mapping[str, str],
    log: Log,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunOutcome:
    """The whole gate: context, backend, setup, command, find, wait, baselines, compare,
    report files."""
    if request.where is not None:
        # A typo in --where is said first.
        restriction(request.where, GateConfig(), request.where_input)
    redact = Redactor.of(request.secrets, env)
    log = _RedactedLog(log, redact)
    git = GitRepo(request.workdir)
    ctx = build_context(
        env, git, workspace=str(request.workspace), now=now(), base_branch=request.base_branch
    )
    if ctx.nothing_to_gate:
        raise NothingToGate(ctx.nothing_to_gate)
    ctx = _with_dirty(ctx, git)
    config = load_config(
        request.config, directory=request.workdir, root=_repo_root(request.workdir)
    )
    # Read before the setup and the command run: a typo must cost nothing.
    where = restriction(request.where, config, request.where_input, request.workspace)
    for note in ctx.notes:
        log.notice(note)
    # A local run's report links its experiments to `driftgate serve`'s pages; in CI the
    # store is on the runner, and a link would lead nowhere.
    local = ctx.event_name == LOCAL_EVENT
    with open_backend(
        request.store, env, request.store_db, fix=request.backend_fix, pages=local
    ) as backend:
        run_env = {**env, **backend.command_env, **command_env(ctx, request.pipeline)}
        # The Action's inputs (tokens among them) are the Action's, not the command's.
        run_env = {k: v for k, v in run_env.items() if not k.startswith("INPUT_")}
        session = _Session(backend, config, log, redact, where)
        ancestry = partial(_ancestry, request, ctx, git)
        cancelled = None
        try:
            result = session.run(request, ctx, run_env, ancestry)
        except Cancelled as exc:
            # The command is stopped (`run_command`); what remains is to say so everywhere.
            cancelled, result = exc.signum, _cancelled(exc, ctx)
            log.error(result.reports[0].warnings[0], "driftgate: cancelled")
        result = _redacted(result, redact)
    rctx = report_context(
        ctx,
        request.pipeline,
        backend.name,
        request.run_url,
        serve=_serve_command(backend, request.store_db, request.workspace),
    )
    terminal = redact(_render_terminal(result, rctx, request.workspace / CACHE_DIR))
    request.report_dir.mkdir(parents=True, exist_ok=True)
    (request.report_dir / "report.json").write_text(redact(result.to_json()))
    (request.report_dir / "report.md").write_text(terminal)
    return RunOutcome(ctx, result, rctx, terminal, backend.embedded, cancelled)


def _hint(setup: CommandResult) -> str:
    """What a failed setup most likely needs, when its output says it."""
    if "No module named pip" in setup.tail:
        # `python -m pip` in an environment without pip: the Action's run environments have
        # only the `pip` command (a shim for `uv pip`).
        return (
            "; this Python has no pip module, so `python -m pip` cannot run: write "
            "`pip install ...` or `uv pip install ...` instead"
        )
    return ""


def _render_terminal(result: GateResult, rctx: ReportContext, cache: Path) -> str:
    # Jinja2 and the templates: imported at the end, when there is something to render
    # (or while the command ran: `_warm_up`).
    from driftgate.report import render

    render.keep_compiled_templates(cache / "templates")
    return render.render_terminal(result, rctx)


@contextmanager
def _warming_up(cache: Path) -> Iterator[None]:
    """While the block runs (the user's command, during which this process only waits),
    import what the gate needs after it and load the templates, on a thread of their own.
    Joined when the block ends, so that nothing is imported on two threads at once."""
    thread = threading.Thread(target=_warm_up, args=(cache,), name="driftgate-warm-up", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _warm_up(cache: Path) -> None:
    # numpy, msgspec and the columns; the statistics; Jinja2 and the compiled templates:
    # about 0.3 s that would otherwise come after the command. A failure here is the
    # failure of the import the gate makes later, where it is reported; never this thread's.
    with suppress(Exception):
        for module in _AFTER_COMMAND:
            importlib.import_module(module)
        from driftgate.report import render

        render.keep_compiled_templates(cache / "templates")
        render.load_templates()


# What the gate imports after the command (each imported where it is needed, too).
_AFTER_COMMAND = (
    "driftgate.experiments.client",
    "driftgate.experiments.events",
    "driftgate.compare.engine",
)


def _cancelled(exc: Cancelled, ctx: CIContext) -> GateResult:
    """The error report of a gate that driftgate was told to stop (a cancelled workflow,
    `docker stop`, Ctrl-C). The verdict is `error`, whose meaning (nothing trustworthy to
    gate) is this one's; the message says it was a cancellation, not a failure."""
    while_ = "while the command ran" if exc.command else "while gating"
    message = (
        f"cancelled by {exc.name}: driftgate was told to stop {while_} (a cancelled "
        "workflow, `docker stop`, Ctrl-C); the command's processes were stopped and "
        "nothing was compared"
    )
    return GateResult(
        reports=[comparison.error_report(message)], command=exc.command, notes=list(ctx.notes)
    )


def compare_experiments(
    request: CompareRequest, env: Mapping[str, str], log: Log
) -> tuple[GateResult, ReportContext]:
    """Compare two experiment runs; without an explicit baseline, resolve it from the base
    branch."""
    config = load_config(
        request.config, directory=request.directory, root=_repo_root(request.directory)
    )
    where = restriction(request.where, config, root=_repo_root(request.directory))
    local = env.get("GITHUB_ACTIONS") != "true"
    with open_backend(
        request.store, env, request.db, fix=request.backend_fix, pages=local
    ) as backend:
        session = _Session(backend, config, log, where=where)
        ancestry = partial(_candidate_lineage, request, env)
        report, notes = session.compare(request, ancestry)
        notes = (*notes, *session.config_notes([report]))
    root = _repo_root(request.directory)
    serve = _serve_command(backend, request.db, root)
    rctx = report_context(None, request.pipeline or "default", backend.name, serve=serve)
    return GateResult(reports=[report], notes=list(notes)), rctx


def _repo_root(directory: Path) -> Path | None:
    """Where the configuration is looked for last (the repository's root); None outside one,
    or when git cannot tell: the directory itself is then the only place looked."""
    try:
        return toplevel(directory)
    except GitError:
        return None


def report_context(
    ctx: CIContext | None,
    pipeline: str,
    backend: str,
    run_url: str | None = None,
    *,
    serve: str | None = None,
) -> ReportContext:
    """What the report says about where it ran; without a context (compare), only the
    pipeline and the backend. `serve`: the command that serves the embedded store's pages."""
    return ReportContext(
        repository=ctx.repository if ctx else None,
        pipeline=pipeline,
        head_sha=ctx.head_sha if ctx else None,
        base_branch=ctx.base_branch if ctx else None,
        pr_number=ctx.pr_number if ctx else None,
        run_url=run_url,
        backend=backend,
        serve_command=serve,
    )


def _serve_command(backend: Backend, db: Path, root: Path | None) -> str | None:
    """`driftgate serve` on the embedded store's file: without `--db` for the default one (at
    the repository's root, which `driftgate serve` finds from anywhere in it); None when
    the experiments are not in the embedded store."""
    if not backend.embedded:
        return None
    if root is not None and db.resolve() == (root / STATE_DIR / "store.db").resolve():
        return "driftgate serve"
    return f"driftgate serve --db {shlex.quote(str(db))}"


@dataclass
class _Session:
    """One session's backend, configuration and log."""

    backend: Backend
    config: GateConfig
    log: Log
    redact: Redactor = NO_SECRETS
    where: Restriction | None = None
    read: dict[str, ExperimentData] = field(default_factory=dict)
    """The candidates' runs as read for their comparison, whole (before any `where`), by
    experiment id: what a base-branch run keeps in the data branch."""

    def run(
        self,
        request: RunRequest,
        ctx: CIContext,
        run_env: Mapping[str, str],
        ancestors: Callable[[], Ancestry],
    ) -> GateResult:
        log, backend = self.log, self.backend
        notes = list(ctx.notes)
        if request.baseline:
            # Before the setup and the command: their run is the costly part.
            self._check_baseline(request.baseline, request.baseline_input)

        def run(command: Sequence[str] | str, section: str) -> CommandResult:
            with log.section(f"{section}: {display(command)}"):
                return run_command(
                    command,
                    cwd=request.workdir,
                    env=run_env,
                    timeout_s=request.timeout_s,
                    echo=log.line,
                    secrets=self.redact,
                )

        if request.setup:
            setup = run(request.setup, "setup")
            if not setup.ok:
                # Reported like a failed experiment command, on every surface.
                message = f"the setup command failed: {setup.describe_failure()}{_hint(setup)}"
                log.error(message, "driftgate: setup")
                return GateResult(
                    reports=[comparison.error_report(message)], command=setup, notes=notes
                )
        # What this commit already has (an earlier run of the same commit) is not this run's:
        # listed now from Datadog, whose clock may differ from this machine's. The embedded
        # store's clock is this process's, so "created since the command started" is exact
        # there, and the store need not be asked anything before the command runs.
        existing: set[str] = set()
        if ctx.head_sha and not backend.embedded:
            existing = set(for_commit(backend.client, ctx.head_sha))
        log.progress(
            f"running {display(request.command)} at {ctx.head_sha[:12]} "
            f"({ctx.branch or 'detached'})"
        )
        with _warming_up(request.workspace / CACHE_DIR):
            result = run(request.command, "experiment")
        if not result.ok:
            message = f"the experiment command failed: {result.describe_failure()}"
            return GateResult(
                reports=[comparison.error_report(message)], command=result, notes=notes
            )
        client = backend.client
        found, how = find_experiments(
            client,
            result.experiment_ids,
            ctx.head_sha,
            result.started_at,
            existing,
            skew=timedelta(0) if backend.embedded else CLOCK_SKEW,
        )
        if not found:
            message = (
                "the command finished but recorded no experiment that driftgate can find "
                f"({how}); print the experiment's URL (ddtrace's experiment.url) or let "
                "ddtrace tag the commit (DD_GIT_COMMIT_SHA is set for it)"
            )
            return GateResult(
                reports=[comparison.error_report(message)],
                command=result,
                found_how=how,
                notes=notes,
            )
        log.progress(f"found {len(found)} experiment{'s' if len(found) > 1 else ''} ({how})")

        def notice(message: str) -> None:
            log.notice(message)
            notes.append(message)

        finished = wait_until_finished(
            client, found, WaitPolicy(timeout_s=request.wait_s), log.progress, notice=notice
        )
        if ctx.dirty:
            finished, untagged = self._mark_dirty(finished)
            for note in untagged:
                log.notice(note)
            notes += untagged
        # Not needed, and not looked up, when the baseline is given.
        history = Ancestry() if request.baseline else ancestors()
        for note in history.notes:
            log.notice(note)
        notes += history.notes

        def resolve(candidate: ExperimentInfo) -> baselines.BaselineChoice:
            return baselines.resolve(
                client,
                candidate,
                explicit=request.baseline,
                ancestors=history.shas,
                base_branch=ctx.base_branch,
                pipeline=request.pipeline,
                exclude=[e.id for e in finished],
                on_base_branch=ctx.on_base_branch,
                pool=self.config.history.runs,
            )

        kept = self._history_branch(request)
        choices = [resolve(candidate) for candidate in finished]
        if kept is not None and not request.baseline and any(map(self._short, choices)):
            # The store lacks runs the baseline could pool (an evicted cache, a new runner):
            # the data branch has them, for good.
            for note in kept.restore(client, history.shas, self.config.history.runs):
                notice(note)
            choices = [resolve(candidate) for candidate in finished]
        reports = [
            self._gate_one(candidate, None, choice)
            for candidate, choice in zip(finished, choices, strict=True)
        ]
        if kept is not None and ctx.on_base_branch and not ctx.is_pull_request:
            if ctx.dirty:
                notice(
                    f"not kept in the {kept.name} branch: these runs are of uncommitted "
                    "changes, not of a commit of the base branch"
                )
            else:
                runs = [(c, self.read[c.id]) for c in finished if c.id in self.read]
                for note in kept.record(runs, commit=ctx.head_sha, branch=ctx.branch):
                    notice(note)
        notes += self.config_notes(reports)
        return GateResult(reports=reports, command=result, found_how=how, notes=notes)

    def _history_branch(self, request: RunRequest) -> HistoryBranch | None:
        """The data branch that keeps the base branch's runs, when the request names one and
        the runs are in the embedded store (Datadog keeps its own, for good)."""
        if not request.history_branch or not self.backend.embedded:
            return None
        from driftgate.ci.databranch import DataBranch
        from driftgate.history import HistoryBranch

        branch = DataBranch(request.workspace, branch=request.history_branch, redactor=self.redact)
        return HistoryBranch(branch, request.pipeline, keep=self.config.history.keep)

    def _short(self, choice: baselines.BaselineChoice) -> bool:
        """Whether `choice` has fewer runs than the configuration would pool."""
        if choice.experiment is None:
            return True
        return 1 + len(choice.older) < self.config.history.runs

    def config_notes(self, reports: Sequence[Report]) -> list[str]:
        """The configuration's rules that matched no evaluator of `reports`, each said in
        the log now and returned for the report's notes."""
        labels = [c.label for r in reports for c in r.evaluators]
        notes = unmatched_rules(self.config, labels)
        for note in notes:
            self.log.notice(note)
        return notes

    def _check_baseline(self, ref: str, given_as: str) -> None:
        try:
            baselines.check_explicit(self.backend.client, ref, self.backend.name)
        except baselines.RefError as exc:
            raise UsageError(f"{given_as}: {exc}") from None

    def compare(
        self, request: CompareRequest, ancestry: Callable[[ExperimentInfo], _Lineage]
    ) -> tuple[Report, tuple[str, ...]]:
        """The candidate and its baseline as `run` would resolve it: by the candidate's
        commit's ancestry in the checkout at `request.directory` (or GitHub's API)."""
        if request.baseline:
            self._check_baseline(request.baseline, "--baseline")
        candidate, cand_run = baselines.lookup(self.backend.client, request.candidate)
        lineage = _Lineage(Ancestry(), request.base_branch, False)
        if not request.baseline:
            lineage = ancestry(candidate)
            for note in lineage.history.notes:
                self.log.notice(note)
        choice = baselines.resolve(
            self.backend.client,
            candidate,
            explicit=request.baseline,
            ancestors=lineage.history.shas,
            base_branch=lineage.base_branch,
            pipeline=request.pipeline,
            on_base_branch=lineage.on_base_branch,
            pool=self.config.history.runs,
        )
        return self._gate_one(candidate, cand_run, choice), lineage.history.notes

    def _mark_dirty(
        self, runs: list[ExperimentInfo]
    ) -> tuple[list[ExperimentInfo], tuple[str, ...]]:
        """Runs from a dirty tree carry `git.dirty` when the script passed DRIFTGATE_TAGS;
        the others are tagged here where the backend allows it, and said otherwise."""
        marked, untagged = [], []
        for found in runs:
            tagged = found
            if not found.dirty and self.backend.mark_dirty is not None:
                tagged = self.backend.mark_dirty(found)
            elif not found.dirty:
                untagged.append(found.name or found.id)
            marked.append(tagged.model_copy(update={"metadata": _dirty_metadata(tagged)}))
        if not untagged:
            return marked, ()
        return marked, (
            f"{', '.join(untagged)} ran from uncommitted changes but is not tagged git.dirty: "
            "the script does not pass DRIFTGATE_TAGS to LLMObs.experiment(tags=...), and "
            f"{self.backend.name} cannot be told afterwards, so a later gate may take it as a "
            "baseline; pass tags=json.loads(os.environ['DRIFTGATE_TAGS']) in the script, or "
            "delete the run",
        )

    def _gate_one(
        self, candidate: ExperimentInfo, run: int | None, choice: baselines.BaselineChoice
    ) -> Report:
        client, url = self.backend.client, self.backend.experiment_url
        cand_url = url(candidate.id)
        if candidate.status == "interrupted":
            return comparison.error_report(
                f"the experiment {candidate.name or candidate.id} was interrupted before it "
                "finished: nothing trustworthy to compare",
                candidate=comparison.experiment_ref(candidate, url=cand_url),
                baseline_reason=choice.reason,
            )
        self.log.progress(f"reading {candidate.name or candidate.id}")
        if choice.experiment is None:
            cand_data = client.experiment_data(candidate.id, run)
            self.read[candidate.id] = cand_data
            cand_whole = None
            if self.where is not None:
                cand_whole = comparison.experiment_ref(candidate, cand_data)
                cand_data = self.where.apply(cand_data)[0]
            report = comparison.no_baseline_report(
                cand_data,
                self.config,
                baseline_reason=choice.reason,
                candidate_url=cand_url,
                considered=choice.considered,
            )
            return report if cand_whole is None else self._judged_whole(report, cand_whole, None)
        older = choice.older
        runs = f" and {len(older)} earlier base-branch run{'s' if len(older) > 1 else ''}"
        self.log.progress(
            f"reading the baseline {choice.experiment.name or choice.experiment.id}"
            + (runs if older else "")
        )
        # All at once: while one answer is parsed, the backend prepares the others.
        with ThreadPoolExecutor(2, thread_name_prefix="driftgate-baseline") as pool:
            reads = [pool.submit(client.experiment_data, choice.experiment.id, choice.run)]
            reads += [pool.submit(client.experiment_data, info.id) for info in older]
            cand_data = client.experiment_data(candidate.id, run)
            history = [read.result() for read in reads]
        self.read[candidate.id] = cand_data
        whole = None
        if self.where is not None:
            # Whether a run lost task spans is a fact about the whole run, judged before the
            # query leaves only some records (whose count the dataset's no longer describes).
            whole = (
                comparison.experiment_ref(candidate, cand_data),
                comparison.experiment_ref(choice.experiment, history[0]),
            )
            cand_data, history = self.where.apply(cand_data, *history)
        base_url = url(choice.experiment.id)
        if older:
            # numpy's: imported with the statistics, after the command.
            from driftgate.compare.pooled import PoolSettings

            wanted = self.config.history
            report = comparison.compare_pooled(
                history,
                cand_data,
                self.config,
                settings=PoolSettings(max_runs=wanted.runs, confirm=wanted.confirm),
                baseline_reason=choice.reason,
                baseline_url=base_url,
                candidate_url=cand_url,
            )
        else:
            report = comparison.compare(
                history[0],
                cand_data,
                self.config,
                baseline_reason=choice.reason,
                baseline_url=base_url,
                candidate_url=cand_url,
            )
        return report if whole is None else self._judged_whole(report, *whole)

    def _judged_whole(
        self, report: Report, candidate: ExperimentRef, baseline: ExperimentRef | None
    ) -> Report:
        """`report` of a restricted comparison, with its query, and the completeness of the
        whole runs (`candidate`, `baseline`) flagged and judged as an unrestricted one would
        be: the records the query left out are not lost, the ones a run lacks still are."""
        assert self.where is not None
        report = report.model_copy(update={"where": str(self.where.query)})
        level = self.config.incomplete
        flags = completeness.flags(candidate, baseline, level)
        if not flags:
            return report
        return report.model_copy(
            update={
                "verdict": completeness.judge(report.verdict, candidate, baseline, level),
                "warnings": [*flags, *report.warnings],
            }
        )


def _ancestry(request: RunRequest, ctx: CIContext, git: GitRepo) -> Ancestry:
    """The merge-base and its first-parent ancestors (on the base branch itself, the head's
    ancestors), from local git or GitHub's API (`ci/ancestry.py`). Read after the command
    ran, as before."""
    return baseline_ancestry(
        ctx,
        git,
        limit=ANCESTOR_LIMIT,
        token=request.github_token,
        api_url=request.github_api_url,
    )


@dataclass(frozen=True)
class _Lineage:
    """Where `compare` looks for a candidate's baseline."""

    history: Ancestry
    base_branch: str | None
    on_base_branch: bool


def _candidate_lineage(
    request: CompareRequest, env: Mapping[str, str], candidate: ExperimentInfo
) -> _Lineage:
    """The candidate's commit placed in the checkout's history, as `run` places its head: on
    the base branch (the commit is an ancestor of it), its earlier commits; else its
    merge-base with the base branch and that commit's ancestors."""
    commit = candidate.commit
    base = request.base_branch
    fallback = f"baselines are matched by the newest run on {base or 'the base branch'} instead"
    if not commit:
        note = f"the candidate {candidate.id} records no commit (tag git.commit.sha): {fallback}"
        return _Lineage(Ancestry((), (note,)), base, False)
    git = GitRepo(request.directory)
    try:
        local = from_local_git(
            git, workspace=str(request.directory), now=datetime.now(UTC), base_branch=base
        )
    except ContextError as exc:
        return _Lineage(Ancestry((), (f"{exc}; {fallback}",)), base, False)
    base = local.base_branch
    merge_base = None
    for target in (base, f"origin/{base}") if base else ():
        try:
            merge_base = git.merge_base(commit, target)
        except GitError:
            continue
        break
    on_base = merge_base is not None and merge_base.startswith(commit)
    ctx = local.model_copy(
        update={
            "head_sha": merge_base if on_base else commit,
            "branch": base if on_base else None,
            "merge_base": merge_base,
            "on_base_branch": on_base,
            "checkout_sha": None,
        }
    )
    history = baseline_ancestry(
        ctx, git, limit=ANCESTOR_LIMIT, token=env.get("GITHUB_TOKEN") or None
    )
    return _Lineage(history, base, on_base)


def _with_dirty(ctx: CIContext, git: GitRepo) -> CIContext:
    """`ctx` marked dirty, with a note, when tracked files have uncommitted changes."""
    try:
        changed = git.changed_files(ignore=(STATE_DIR,))
    except GitError:
        return ctx
    if not changed:
        return ctx
    named = ", ".join(changed[:MAX_FILES_NAMED])
    more = f" and {len(changed) - MAX_FILES_NAMED} more" if len(changed) > MAX_FILES_NAMED else ""
    note = (
        f"the working tree has uncommitted changes ({named}{more}): this run is not "
        f"{ctx.head_sha[:12]} as committed, so it is tagged git.dirty and will not be taken as "
        "a baseline; commit the changes to record one that can be"
    )
    return ctx.model_copy(update={"dirty": True, "notes": (*ctx.notes, note)})


def _dirty_metadata(info: ExperimentInfo) -> dict[str, object]:
    metadata = dict(info.metadata or {})
    if DIRTY_TAG not in info.tags:
        metadata["tags"] = [*info.tags, DIRTY_TAG]
    return metadata


class _RedactedLog:
    """A session's log with every known secret redacted (the command line is in section
    titles and progress, its failure in errors)."""

    def __init__(self, log: Log, redact: Redactor) -> None:
        self._log, self._redact = log, redact

    def line(self, text: str) -> None:
        self._log.line(self._redact(text))

    def progress(self, message: str) -> None:
        self._log.progress(self._redact(message))

    def notice(self, message: str) -> None:
        self._log.notice(self._redact(message))

    def error(self, message: str, title: str) -> None:
        self._log.error(self._redact(message), self._redact(title))

    def section(self, title: str) -> AbstractContextManager[object]:
        return self._log.section(self._redact(title))


def _redacted(result: GateResult, redact: Redactor) -> GateResult:
    """`result` without a secret anywhere in it (the command's tail, an experiment's data):
    checked on report.json's own text, and read back from it redacted when one is found."""
    text = result.to_json()
    if not redact.found(text):
        return result
    return GateResult.from_json(redact(text))


# ------------------------------------------------------------------------------ where


def restriction(
    flag: str | None, config: GateConfig, flag_name: str = "--where", root: Path | None = None
) -> Restriction | None:
    """The query comparisons are restricted to: `--where` (`flag`, given as `flag_name`)
    when given, even empty (which lifts the configuration's), else the configuration's
    `where`; None for none. Read before any backend opens. A query that cannot be read is a
    `UsageError` naming `flag_name`, or a `ConfigError` naming the file and the key, each
    with the column. The file is named relative to `root` (the checkout) when it is in it:
    the note reaches the pull request, where the runner's paths mean nothing."""
    from driftgate.query import QueryError, parse

    text, given_as = (flag, flag_name) if flag is not None else (config.where, "")
    if not text or not text.strip():
        return None
    try:
        query = parse(text)
    except QueryError as exc:
        if given_as:
            raise UsageError(f"{given_as}: {exc.render()}") from None
        raise where_error(config, exc.render()) from None
    return Restriction(query, given_as or f"{config.where_key} in {_relative(config.source, root)}")


def _relative(source: str, root: Path | None) -> str:
    path = Path(source)
    if root is None or not path.is_absolute():
        return source
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return source


@dataclass(frozen=True)
class Restriction:
    """A comparison restricted to the records a query matches, the same on both sides.

    A plain query selects rows on each side: `difficulty:hard`, `run_iteration:1`, or the
    runs whose tokens were over 1000, wherever they are. A multi-run query selects records
    by their aggregate over runs, and a record is kept, with all its rows on both sides,
    when it matches on either side: a rule that treats the two sides alike keeps an
    unchanged pair of runs unchanged, where choosing by the candidate alone would pick
    the records that happen to have done worse there (docs/query.md)."""

    query: Query
    given_as: str
    """`--where`, or the configuration's key and file: named in errors and the note."""

    def apply(
        self, candidate: ExperimentData, *baselines: ExperimentData
    ) -> tuple[ExperimentData, list[ExperimentData]]:
        """The candidate and each baseline run restricted; a multi-run query keeps a record
        that matches on any side (with a pooled baseline, any of its runs)."""
        from driftgate.query import QueryError, restrict, select

        sides = [candidate, *baselines]
        try:
            selections = [select(self.query, d, d.record_tags) for d in sides]
        except QueryError as exc:
            raise UsageError(f"{self.given_as}: {exc.render()}") from None
        if self.query.multi_run:
            keep = {k for s in selections for k in s.records}
            rows = [[i for i, k in enumerate(d.record_key) if k in keep] for d in sides]
        else:
            rows = [s.rows.tolist() for s in selections]
        restricted = [
            restrict(d, r, self._note(d, r, multi_run=self.query.multi_run))
            for d, r in zip(sides, rows, strict=True)
        ]
        return restricted[0], restricted[1:]

    def _note(self, data: ExperimentData, rows: Sequence[int], *, multi_run: bool) -> str:
        kept = len({data.record_key[i] for i in rows})
        total = len(set(data.record_key))
        how = "matching it on either side, all their runs" if multi_run else "the rows matching it"
        note = (
            f"restricted by {self.given_as} to `{self.query}`: {kept} of {total} records "
            f"({how}); completeness is judged on the whole run"
        )
        if self.query.tag_keys and data.record_tags is None:
            note += (
                f"; the dataset's records could not be read, so {', '.join(self.query.tag_keys)} "
                "matched no record"
            )
        return note


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class RecordsRequest:
    """`driftgate records`: the records of one experiment run (`ID` or `ID@RUN`) that a
    query (Datadog's experiment-records language, `query.py`) matches."""

    ref: str
    query: str
    db: Path
    store: StoreChoice = "datadog"
    backend_fix: str = "use the embedded store"


@dataclass(frozen=True)
class RecordsFound:
    data: ExperimentData
    query: Query
    selection: Selection
    notes: tuple[str, ...] = ()


def find_records(request: RecordsRequest, env: Mapping[str, str]) -> RecordsFound:
    """Read the experiment (or the run) `request.ref` names and select what the query
    matches. The query is read before the backend is opened, so that a typo costs nothing;
    `query.QueryError` (a `UsageError` that knows its column) when it cannot be read, or
    names what the experiment does not have."""
    from driftgate.query import parse, select

    query = parse(request.query)
    with open_backend(request.store, env, request.db, fix=request.backend_fix) as backend:
        try:
            info, run = baselines.check_explicit(backend.client, request.ref, backend.name)
        except baselines.RefError as exc:
            raise UsageError(str(exc)) from None
        data = backend.client.experiment_data(info.id, run)
    notes: tuple[str, ...] = ()
    if query.tag_keys and data.record_tags is None:
        # The records' tags come with the dataset's records, which could not be read (the
        # data's notes say why): said, not guessed.
        notes = (
            f"the dataset's records could not be read from {backend.name}, so "
            f"{', '.join(query.tag_keys)} match no record",
        )
    return RecordsFound(data, query, select(query, data, data.record_tags), notes)
