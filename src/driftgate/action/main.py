"""`driftgate action` and `driftgate publish`: the GitHub Action's composition root.

It reads the inputs once, builds the real edges (context, experiments backend, GitHub),
decides the activity in one place, and reports on every surface that applies: the job
summary and report files always, the sticky comment and the check run when the token may
write, the artifact folder when it may not (fork pull requests), the step outputs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from driftgate.action import workflow
from driftgate.action.github import (
    CannotWrite,
    CommentOutcome,
    GitHubError,
    GitHubReporter,
    RetryPolicy,
    connect,
)
from driftgate.action.workflow import Commands, InputError
from driftgate.ci.context import CIContext, ContextError, build_context, command_env
from driftgate.ci.git import GitError, GitRepo
from driftgate.ci.runner import run_command
from driftgate.compare import error_report
from driftgate.config import ConfigError, load_config
from driftgate.experiments.baseline import RefError, split_run
from driftgate.experiments.client import BackendError, ExperimentsClient, backend_from_env
from driftgate.experiments.discover import WaitPolicy
from driftgate.outcome import (
    EXIT_BACKEND,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    conclusion_for,
    exit_code,
)
from driftgate.report import (
    ReportContext,
    render_check,
    render_comment,
    render_summary,
    render_terminal,
    status_description,
)
from driftgate.session import (
    EMBEDDED,
    Gate,
    GateResult,
    RunPlan,
    embedded_backend,
    local_ancestors,
    report_context,
    result_from_json,
    run_and_gate,
)
from driftgate.store.clients import client_env

STATE_DIR = ".driftgate"
REPORT_DIR = f"{STATE_DIR}/report"
ARTIFACT_DIR = f"{STATE_DIR}/artifact"
COMMENT_MODES = ("always", "on-change", "on-regression", "off")
STORES = ("auto", "datadog", "embedded")
MODES = ("gate", "publish")

Activity = Literal["pull_request", "record", "read_only"]


class ActionInputs(BaseModel):
    """Every input of action.yml, parsed once; secrets never print."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["gate", "publish"]
    command: str | None
    pipeline: str
    setup: str | None
    working_directory: str
    config: str | None
    baseline_branch: str | None
    baseline_experiment_id: str | None
    fail_on: Literal["regression", "warning", "never"]
    comment: Literal["always", "on-change", "on-regression", "off"]
    check: bool
    github_token: SecretStr | None = Field(repr=False)
    api_url: str
    dd_api_key: SecretStr | None = Field(repr=False)
    dd_app_key: SecretStr | None = Field(repr=False)
    dd_site: str | None
    dd_project: str | None
    timeout_minutes: float
    wait_minutes: float
    store: Literal["auto", "datadog", "embedded"]
    artifact: str

    @property
    def secrets(self) -> list[SecretStr]:
        return [s for s in (self.github_token, self.dd_api_key, self.dd_app_key) if s]


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    get = workflow.get_input
    mode = workflow.get_choice_input(env, "mode", MODES, default="gate")
    command = get(env, "command", required=mode == "gate") or None
    pipeline = get(env, "pipeline", default="default")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", pipeline):
        raise InputError(
            f"Value '{pipeline}' is not supported for input pipeline; expected letters, digits, "
            "'.', '_' or '-' (at most 64), starting with a letter or digit"
        )
    baseline_id = get(env, "baseline-experiment-id") or None
    if baseline_id:
        try:
            split_run(baseline_id)
        except RefError as exc:
            raise InputError(f"Input baseline-experiment-id: {exc}") from None
    return ActionInputs(
        mode=mode,
        command=command,
        pipeline=pipeline,
        setup=get(env, "setup") or None,
        working_directory=get(env, "working-directory", default="."),
        config=get(env, "config") or None,
        baseline_branch=get(env, "baseline-branch") or None,
        baseline_experiment_id=baseline_id,
        fail_on=workflow.get_choice_input(env, "fail-on", FAIL_ON, default="regression"),
        comment=workflow.get_choice_input(env, "comment", COMMENT_MODES, default="always"),
        check=workflow.get_bool_input(env, "check", default=True),
        github_token=workflow.get_secret_input(env, "github-token"),
        api_url=get(env, "api-url", default=env.get("GITHUB_API_URL") or "https://api.github.com"),
        dd_api_key=workflow.get_secret_input(env, "dd-api-key"),
        dd_app_key=workflow.get_secret_input(env, "dd-app-key"),
        dd_site=get(env, "dd-site") or None,
        dd_project=get(env, "dd-project") or None,
        timeout_minutes=workflow.get_number_input(env, "timeout-minutes", default=30, minimum=0.01),
        wait_minutes=workflow.get_number_input(env, "wait-minutes", default=10, minimum=0),
        store=workflow.get_choice_input(env, "store", STORES, default="auto"),
        artifact=get(env, "artifact", default=ARTIFACT_DIR),
    )


def choose_activity(ctx: CIContext) -> Activity:
    """The one place that decides what a run does on GitHub."""
    if ctx.read_only:
        return "read_only"
    if ctx.pr_number is not None and ctx.is_pull_request:
        return "pull_request"
    return "record"


@dataclass
class Edges:
    """What the entrypoint talks to; tests replace the GitHub factory and the sleeps."""

    env: Mapping[str, str]
    stdout: TextIO
    github: Callable[[SecretStr, str], GitHubReporter | None] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def _reporter_factory(repository: str | None) -> Callable[[SecretStr, str], GitHubReporter | None]:
    def make(token: SecretStr, api_url: str) -> GitHubReporter | None:
        if not repository:
            return None
        return GitHubReporter(connect(token, api_url), repository, RetryPolicy())

    return make


@contextmanager
def _backend(
    inputs: ActionInputs, env: Mapping[str, str], workspace: Path, cmds: Commands
) -> Iterator[tuple[ExperimentsClient, dict[str, str], str]]:
    """The experiments client, the variables the user's command needs to reach the same
    backend, and a description. A DD_LLMOBS_OVERRIDE_ORIGIN in the environment wins, as it
    does for ddtrace; `auto` means Datadog when a key is given, else the embedded store."""
    extra: dict[str, str] = {}
    if inputs.dd_api_key:
        extra["DD_API_KEY"] = inputs.dd_api_key.get_secret_value()
    if inputs.dd_app_key:
        extra["DD_APP_KEY"] = inputs.dd_app_key.get_secret_value()
    if inputs.dd_site:
        extra["DD_SITE"] = inputs.dd_site
    if inputs.dd_project:
        extra["DD_LLMOBS_PROJECT_NAME"] = inputs.dd_project
    merged = {**env, **extra}
    override = env.get("DD_LLMOBS_OVERRIDE_ORIGIN", "").strip()
    embedded = inputs.store == "embedded" or (
        inputs.store == "auto" and not override and not merged.get("DD_API_KEY")
    )
    if inputs.store == "datadog" and not merged.get("DD_API_KEY"):
        raise InputError(
            "Input store is 'datadog' but no key is given: set dd-api-key and dd-app-key "
            "(from secrets), or use store: auto for the embedded store"
        )
    if not embedded:
        backend = backend_from_env(merged)
        with ExperimentsClient(backend) as client:
            yield client, extra, backend.describe()
        return
    cmds.notice(
        f"using the embedded store ({STATE_DIR}/store.db in the workspace); persist it with "
        "actions/cache so that pull requests find the base branch's baselines"
    )
    with embedded_backend(workspace / STATE_DIR / "store.db") as (client, url):
        yield client, client_env(url, {}), EMBEDDED


def _run_url(env: Mapping[str, str]) -> str | None:
    server, repo, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def action_main(edges: Edges) -> int:
    env, cmds = edges.env, Commands(edges.stdout)
    try:
        inputs = read_inputs(env)
    except InputError as exc:
        cmds.error(str(exc), title="driftgate: input")
        return EXIT_USAGE
    for secret in inputs.secrets:
        cmds.add_mask(secret)
    if inputs.mode == "publish":
        return publish_main(edges, inputs)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    try:
        return _gate(edges, inputs, cmds, workspace)
    except (InputError, ConfigError, ContextError, GitError, RefError) as exc:
        cmds.error(str(exc), title="driftgate: configuration")
        return EXIT_USAGE
    except BackendError as exc:
        cmds.error(str(exc), title="driftgate: experiments backend")
        _summary(env, f"## driftgate: error\n\n{exc}\n")
        return EXIT_BACKEND
    finally:
        _hand_back(workspace)


def _gate(edges: Edges, inputs: ActionInputs, cmds: Commands, workspace: Path) -> int:
    env = edges.env
    workdir = (workspace / inputs.working_directory).resolve()
    if not workdir.is_dir():
        raise InputError(
            f"Input working-directory: {inputs.working_directory} is not a directory in the "
            "workspace (did actions/checkout run before this step?)"
        )
    config = load_config(inputs.config and str(workspace / inputs.config), directory=workdir)
    git = GitRepo(workdir)
    ctx = build_context(
        env, git, workspace=str(workspace), now=edges.now(), base_branch=inputs.baseline_branch
    )
    for note in ctx.notes:
        cmds.notice(note)
    activity = choose_activity(ctx)
    secrets = [s.get_secret_value() for s in inputs.secrets]

    def echo(line: str) -> None:
        edges.stdout.write(line + "\n")
        edges.stdout.flush()

    def progress(message: str) -> None:
        echo(f"driftgate: {message}")

    with _backend(inputs, env, workspace, cmds) as (client, backend_env, backend_name):
        run_env = {**env, **backend_env, **command_env(ctx, inputs.pipeline)}
        run_env = {k: v for k, v in run_env.items() if not k.startswith("INPUT_")}
        setup = None
        if inputs.setup:
            with cmds.group(f"setup: {inputs.setup}"), cmds.stop_commands():
                setup = run_command(
                    inputs.setup,
                    cwd=workdir,
                    env=run_env,
                    timeout_s=inputs.timeout_minutes * 60,
                    echo=echo,
                    secrets=secrets,
                )
        if setup is not None and not setup.ok:
            # Reported like a failed experiment command, on every surface.
            message = f"the setup command failed: {setup.describe_failure()}"
            cmds.error(message, title="driftgate: setup")
            result = GateResult([error_report(message)], setup, notes=list(ctx.notes))
        else:
            plan = RunPlan(
                command=inputs.command or "",
                cwd=workdir,
                env=run_env,
                pipeline=inputs.pipeline,
                timeout_s=inputs.timeout_minutes * 60,
                wait=WaitPolicy(timeout_s=inputs.wait_minutes * 60),
                explicit_baseline=inputs.baseline_experiment_id,
                secrets=secrets,
            )
            gate = Gate(client, config, progress, client.backend.experiment_url)
            with cmds.group(f"experiment: {inputs.command}"), cmds.stop_commands():
                result = run_and_gate(gate, ctx, plan, local_ancestors(git), echo)
    rctx = report_context(ctx, inputs.pipeline, backend_name, _run_url(env))
    _write_reports(workspace, result, rctx)
    _summary(env, render_summary(result, rctx))
    outputs = _outputs(result, workspace)
    if activity == "read_only":
        _write_artifact(workspace / inputs.artifact, result, ctx, inputs, backend_name)
        cmds.notice(
            f"{ctx.read_only_reason or 'this run has a read-only token'}: the report was left in "
            f"{inputs.artifact} for a workflow_run workflow to publish (upload it with "
            "actions/upload-artifact; see the README's fork setup)"
        )
    else:
        pr = ctx.pr_number if activity == "pull_request" else None
        target = Target(ctx.repository, ctx.head_sha, pr)
        outputs.update(_publish(edges, inputs, cmds, target, result, rctx))
    if env.get("GITHUB_OUTPUT"):
        workflow.set_outputs(env["GITHUB_OUTPUT"], outputs)
    echo(f"driftgate: verdict {result.verdict}")
    return exit_code(result.verdict, inputs.fail_on)


def _write_reports(workspace: Path, result: GateResult, rctx: ReportContext) -> None:
    out = workspace / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    (out / "report.md").write_text(render_terminal(result, rctx))


def _summary(env: Mapping[str, str], markdown: str) -> None:
    if env.get("GITHUB_STEP_SUMMARY"):
        workflow.append_summary(env["GITHUB_STEP_SUMMARY"], markdown)


def _outputs(result: GateResult, workspace: Path) -> dict[str, str]:
    first = result.reports[0] if result.reports else None
    return {
        "verdict": result.verdict,
        "experiment-id": first.candidate.id if first and first.candidate else "",
        "baseline-id": first.baseline.id if first and first.baseline else "",
        "comment-url": "",
        # Relative to the workspace: the runner mounts it elsewhere than the container does.
        "report-json": f"{REPORT_DIR}/report.json",
    }


class ArtifactMeta(BaseModel):
    """What a read-only run leaves beside its report for `driftgate publish`."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = 1
    repository: str | None
    pr_number: int = Field(ge=1)
    head_sha: str = Field(pattern=r"^[0-9a-fA-F]{40,64}$")
    pipeline: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    comment: Literal["always", "on-change", "on-regression", "off"] = "always"
    check: bool = True
    fail_on: Literal["regression", "warning", "never"] = "regression"
    backend: str = Field(default="the pull request's run", max_length=80)


def _write_artifact(
    folder: Path, result: GateResult, ctx: CIContext, inputs: ActionInputs, backend: str
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    if ctx.pr_number is None:
        return
    meta = ArtifactMeta(
        repository=ctx.repository,
        pr_number=ctx.pr_number,
        head_sha=ctx.head_sha,
        pipeline=inputs.pipeline,
        comment=inputs.comment,
        check=inputs.check,
        fail_on=inputs.fail_on,
        backend=backend,
    )
    (folder / "meta.json").write_text(meta.model_dump_json(indent=2) + "\n")


@dataclass(frozen=True)
class Target:
    """Where a report goes on GitHub."""

    repository: str | None
    head_sha: str
    pr_number: int | None  # None: no comment (a push)


def _publish(
    edges: Edges,
    inputs: ActionInputs,
    cmds: Commands,
    target: Target,
    result: GateResult,
    rctx: ReportContext,
) -> dict[str, str]:
    """The comment (pull requests only) and the check run, as far as the token allows."""
    outputs: dict[str, str] = {}
    if inputs.github_token is None:
        if inputs.check or (target.pr_number is not None and inputs.comment != "off"):
            cmds.warning(
                "no github-token: the report is only in the job summary and files",
                title="driftgate: GitHub",
            )
        return outputs
    factory = edges.github or _reporter_factory(target.repository)
    reporter = factory(inputs.github_token, inputs.api_url)
    if reporter is None:
        cmds.warning("GITHUB_REPOSITORY is unknown: nothing posted", title="driftgate: GitHub")
        return outputs
    refused: list[CannotWrite] = []
    try:
        if target.pr_number is not None and inputs.comment != "off":
            url = _comment(
                reporter, inputs, target.pr_number, target.head_sha, result, rctx, cmds, refused
            )
            if url:
                outputs["comment-url"] = url
        if inputs.check:
            _check(reporter, inputs, target.head_sha, result, rctx, refused)
    except GitHubError as exc:
        cmds.error(f"could not report on GitHub: {exc}", title="driftgate: GitHub")
    if refused:
        problem = CannotWrite.combine(*refused)
        cmds.error(problem.explanation, title="driftgate: permissions")
        _summary(
            edges.env,
            f"\n### Permissions\n\n{problem.explanation}\n\n```yaml\n{problem.fix}\n```\n",
        )
    return outputs


def _comment(
    reporter: GitHubReporter,
    inputs: ActionInputs,
    number: int,
    head_sha: str,
    result: GateResult,
    rctx: ReportContext,
    cmds: Commands,
    refused: list[CannotWrite],
) -> str | None:
    body = render_comment(result, rctx)
    mode = inputs.comment
    create = mode != "on-regression" or result.verdict in ("fail", "warn", "error")
    try:
        if mode == "on-change":
            existing = reporter.find_comment(number, inputs.pipeline)
            if existing is not None and _same_report(existing.body, body):
                return existing.url
        done = reporter.upsert_comment(
            number, inputs.pipeline, body, head_sha=head_sha, create=create
        )
    except CannotWrite as exc:
        refused.append(exc)
        return None
    if done.outcome == CommentOutcome.STALE:
        cmds.notice(
            "a newer commit of this pull request already has its report; "
            "the comment was left as it is"
        )
    return done.url


def _same_report(existing: str, body: str) -> bool:
    """Whether the results are the same: the marker lines github.py adds and the footer
    (which names the head commit and the workflow run, new on every run) are left out."""

    def results(text: str) -> list[str]:
        return [
            line
            for line in text.strip().splitlines()
            if not line.startswith(("<!-- driftgate", "<sub>"))
        ]

    return results(existing) == results(body)


def _check(
    reporter: GitHubReporter,
    inputs: ActionInputs,
    head_sha: str,
    result: GateResult,
    rctx: ReportContext,
    refused: list[CannotWrite],
) -> None:
    out = render_check(result, rctx)
    try:
        reporter.publish_verdict(
            head_sha,
            inputs.pipeline,
            conclusion=conclusion_for(result.verdict, inputs.fail_on),
            title=out.title,
            summary=out.summary,
            text=out.text,
            details_url=rctx.run_url,
            description=status_description(result),
        )
    except CannotWrite as exc:
        refused.append(exc)


def publish_main(edges: Edges, inputs: ActionInputs) -> int:
    """Post what a read-only pull request run left as an artifact, from a trusted
    `workflow_run` workflow. Nothing of the pull request's code runs here, and nothing of
    the artifact is trusted: the report is re-validated and re-rendered, and the pull
    request must really be at the commit the artifact names."""
    env, cmds = edges.env, Commands(edges.stdout)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    folder = (workspace / inputs.artifact).resolve()
    try:
        meta = ArtifactMeta.model_validate_json((folder / "meta.json").read_text())
        result = result_from_json(json.loads((folder / "report.json").read_text()))
    except FileNotFoundError as exc:
        cmds.error(
            f"no driftgate artifact in {inputs.artifact} ({Path(exc.filename).name} is missing): "
            "download the pull request run's artifact there first (actions/download-artifact "
            "with run-id: ${{ github.event.workflow_run.id }})",
            title="driftgate: publish",
        )
        return EXIT_USAGE
    except (ValidationError, ValueError, TypeError) as exc:
        cmds.error(
            f"the artifact in {inputs.artifact} is not a driftgate report: {exc}",
            title="driftgate: publish",
        )
        return EXIT_USAGE
    repository = env.get("GITHUB_REPOSITORY")
    event_sha = _event_head_sha(env)
    if event_sha and event_sha.lower() != meta.head_sha.lower():
        cmds.error(
            f"the artifact is for commit {meta.head_sha[:12]} but the triggering run was for "
            f"{event_sha[:12]}: refusing to publish it",
            title="driftgate: publish",
        )
        return EXIT_USAGE
    if inputs.github_token is None:
        cmds.error(
            "publishing needs github-token (with pull-requests and checks write)",
            title="driftgate: publish",
        )
        return EXIT_USAGE
    factory = edges.github or _reporter_factory(repository)
    reporter = factory(inputs.github_token, inputs.api_url)
    if reporter is None:
        cmds.error(
            "GITHUB_REPOSITORY is unknown: nothing to publish to", title="driftgate: publish"
        )
        return EXIT_USAGE
    try:
        pull = reporter.pull_request(meta.pr_number)
    except GitHubError as exc:
        cmds.error(f"cannot read pull request #{meta.pr_number}: {exc}", title="driftgate: publish")
        return EXIT_BACKEND
    if pull.head_sha.lower() != meta.head_sha.lower():
        # Still published: the comment's stale-head rule keeps a newer report, and the check
        # run belongs to its own commit.
        cmds.notice(
            f"pull request #{meta.pr_number} has moved on from {meta.head_sha[:12]} to "
            f"{pull.head_sha[:12]}; this report is for the older commit"
        )
    rctx = ReportContext(
        repository=repository,
        pipeline=meta.pipeline,
        head_sha=meta.head_sha,
        base_branch=pull.base_ref,
        pr_number=meta.pr_number,
        run_url=_triggering_run_url(env),
        backend=meta.backend,
    )
    _summary(env, render_summary(result, rctx))
    publish_inputs = inputs.model_copy(
        update={
            "pipeline": meta.pipeline,
            "comment": meta.comment,
            "check": meta.check,
            "fail_on": meta.fail_on,
        }
    )
    target = Target(repository, meta.head_sha, meta.pr_number)
    outputs = _publish(edges, publish_inputs, cmds, target, result, rctx)
    outputs["verdict"] = result.verdict
    if env.get("GITHUB_OUTPUT"):
        workflow.set_outputs(env["GITHUB_OUTPUT"], outputs)
    return EXIT_OK


def _event_head_sha(env: Mapping[str, str]) -> str | None:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    run = payload.get("workflow_run") if isinstance(payload, dict) else None
    sha = run.get("head_sha") if isinstance(run, dict) else None
    return sha if isinstance(sha, str) else None


def _triggering_run_url(env: Mapping[str, str]) -> str | None:
    path = env.get("GITHUB_EVENT_PATH")
    try:
        payload = json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return None
    run = payload.get("workflow_run") if isinstance(payload, dict) else None
    url = run.get("html_url") if isinstance(run, dict) else None
    return url if isinstance(url, str) else None


def _hand_back(workspace: Path) -> None:
    """The container runs as root, and so does the user's command: give what was created in
    the workspace (our store and reports, the script's own files) to the workspace's owner,
    so that later steps (actions/cache, the next checkout's clean) can manage it."""
    if os.geteuid() != 0:
        return
    try:
        owner = workspace.stat()
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for folder, dirs, files in os.walk(workspace):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_uid == 0:
                    os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            except OSError:
                continue
