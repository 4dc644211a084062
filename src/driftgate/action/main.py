"""`driftgate action` and `driftgate publish`: the GitHub Action's composition root.

It reads the inputs once, chooses the activity in one place, runs the gate session, and
reports on every surface that applies: the job summary and report files always, the sticky
comment and the check run when the token may write, the artifact folder when it may not
(fork pull requests), the step outputs. Every known secret (the secret inputs, the
environment's keys and tokens) is masked in the log and redacted from every surface.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from pydantic import SecretStr

from driftgate.action import python_env, workflow
from driftgate.action.artifact import ArtifactMeta, write_artifact
from driftgate.action.event import triggering_run
from driftgate.action.github import CannotWrite
from driftgate.action.inputs import ActionInputs, read_inputs
from driftgate.action.publish import (
    Policy,
    Publisher,
    PublishRequest,
    ReporterFactory,
    Target,
    reporter_factory,
)
from driftgate.action.workflow import Commands, InputError
from driftgate.ci.cancel import Cancelled, cancel_on_signals
from driftgate.ci.context import CIContext
from driftgate.errors import BackendError, UsageError
from driftgate.experiments.backend import DEFAULT_SITE
from driftgate.redact import Redactor
from driftgate.report import render_summary
from driftgate.result import GateResult
from driftgate.session import STATE_DIR, NothingToGate, RunOutcome, RunRequest, run_gate
from driftgate.verdict import EXIT_OK, EXIT_USAGE, exit_code

REPORT_DIR = f"{STATE_DIR}/report"

Activity = Literal["pull_request", "record", "read_only"]


def choose_activity(ctx: CIContext) -> Activity:
    """The one place that decides what a run does on GitHub."""
    if ctx.read_only:
        return "read_only"
    if ctx.pr_number is not None and ctx.is_pull_request:
        return "pull_request"
    return "record"


@dataclass
class Edges:
    """What the entry point talks to; tests replace the GitHub factory and the clock."""

    env: Mapping[str, str]
    stdout: TextIO
    github: ReporterFactory | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def action_main(edges: Edges) -> int:
    env, cmds = edges.env, Commands(edges.stdout)
    try:
        inputs = read_inputs(env)
    except InputError as exc:
        # The secret inputs are in the environment too (INPUT_GITHUB-TOKEN, ...).
        cmds.error(Redactor.of([], env)(str(exc)), title="driftgate: input")
        return EXIT_USAGE
    redact = Redactor.of([s.get_secret_value() for s in inputs.secrets], env)
    for secret in redact.secrets:
        cmds.add_mask(secret)
    workspace = _workspace(env)
    publisher = _publisher(edges, cmds, inputs.github_token, inputs.api_url, redact)
    if inputs.mode == "publish":
        policy = Policy(
            inputs.pipeline, inputs.comment, inputs.check, inputs.fail_on, inputs.no_baseline
        )
        folder = Source(workspace / inputs.artifact, inputs.artifact, inputs.artifact_name)
        return publish(edges, publisher, policy, folder, inputs.dd_site)
    try:
        # SIGTERM (a cancelled workflow: the runner signals the container, where driftgate is
        # PID 1) and SIGINT stop the command, and the report and the check still go out.
        with cancel_on_signals():
            return _gate(edges, inputs, cmds, publisher, workspace)
    except Cancelled as exc:
        # Before the command ran, or while posting: nothing to report, or no time left to.
        cmds.error(f"cancelled by {exc.name}", title="driftgate: cancelled")
        return exc.exit_code
    except NothingToGate as exc:
        cmds.notice(str(exc))
        return EXIT_OK
    except UsageError as exc:
        cmds.error(redact(str(exc)), title="driftgate: configuration")
        return exc.exit_code
    except BackendError as exc:
        cmds.error(redact(str(exc)), title="driftgate: experiments backend")
        publisher.summary(f"## driftgate: error\n\n{exc}\n")
        return exc.exit_code
    finally:
        workflow.hand_back(workspace)


def _gate(
    edges: Edges, inputs: ActionInputs, cmds: Commands, publisher: Publisher, workspace: Path
) -> int:
    env = edges.env
    workdir = (workspace / inputs.working_directory).resolve()
    if not workdir.is_dir():
        raise InputError(
            f"Input working-directory: {inputs.working_directory} is not a directory in the "
            "workspace (did actions/checkout run before this step?)"
        )
    request = RunRequest(
        command=inputs.command or "",
        pipeline=inputs.pipeline,
        workspace=workspace,
        workdir=workdir,
        report_dir=workspace / REPORT_DIR,
        timeout_s=inputs.timeout_minutes * 60,
        wait_s=inputs.wait_minutes * 60,
        store=inputs.store,
        config=inputs.config and str(workspace / inputs.config),
        base_branch=inputs.baseline_branch,
        baseline=inputs.baseline_experiment_id,
        where=inputs.where,
        where_input="Input where",
        history_branch=inputs.history_branch,
        baseline_input="Input baseline-experiment-id",
        setup=inputs.setup,
        secrets=[s.get_secret_value() for s in inputs.secrets],
        backend_fix="leave store at auto (or set it to embedded) for the embedded store; "
        "Datadog needs the dd-api-key and dd-app-key inputs, from secrets",
        run_url=_run_url(env),
        github_token=inputs.github_token.get_secret_value() if inputs.github_token else None,
        github_api_url=inputs.api_url,
    )
    log = workflow.WorkflowLog(edges.stdout, cmds)
    # The commands run in the image's run environment, or in one on `python-version`'s Python:
    # never in driftgate's own.
    command_env = python_env.command_environment(
        {**env, **inputs.datadog_env()},
        workspace,
        inputs.python_version,
        progress=log.progress,
        timeout_s=request.timeout_s,
    )
    outcome = run_gate(request, command_env, log, edges.now)
    if outcome.embedded:
        cmds.notice(
            f"using the embedded store ({STATE_DIR}/store.db in the workspace); persist it "
            "with actions/cache so that pull requests find the base branch's baselines"
        )
    result, ctx = outcome.result, outcome.ctx
    publisher.summary(render_summary(result, outcome.report))
    outputs = _outputs(result)
    activity = choose_activity(ctx)
    folder = workspace / inputs.artifact
    try:
        if activity == "read_only":
            # Known from the event (a fork's pull request): no write is tried.
            _leave_artifact(folder, outcome, inputs)
            reason = ctx.read_only_reason or "this run has a read-only token"
            cmds.notice(f"{reason}: {_waits_for_publish(inputs.artifact)}")
        else:
            pr = ctx.pr_number if activity == "pull_request" else None
            policy = Policy(
                inputs.pipeline, inputs.comment, inputs.check, inputs.fail_on, inputs.no_baseline
            )
            target = Target(
                ctx.repository,
                ctx.head_sha,
                pr,
                ctx.on_base_branch,
                conclusion="neutral" if outcome.cancelled else None,
            )
            refused: list[CannotWrite] = []
            # A pull request run whose token turns out read-only (a Dependabot PR, a
            # workflow without write permissions) leaves the report for the publish
            # workflow, as a fork's does; elsewhere a refused write is the user's to fix.
            outputs.update(
                publisher.post(
                    policy,
                    target,
                    result,
                    outcome.report,
                    refused_to=refused.append if activity == "pull_request" else None,
                )
            )
            if refused:
                _leave_artifact(folder, outcome, inputs)
                _handed_to_publish(publisher, CannotWrite.combine(*refused), inputs.artifact)
    finally:
        # Whatever happened on GitHub, the step's outputs are written.
        if env.get("GITHUB_OUTPUT"):
            workflow.set_outputs(env["GITHUB_OUTPUT"], outputs)
    edges.stdout.write(f"driftgate: verdict {result.verdict}\n")
    if outcome.cancelled:
        return 128 + outcome.cancelled
    return exit_code(
        result.verdicts, inputs.fail_on, inputs.no_baseline, on_base_branch=ctx.on_base_branch
    )


def _waits_for_publish(artifact: str) -> str:
    return (
        f"the report was left in {artifact} and waits for the publish workflow "
        "(on: workflow_run, with mode: publish) to post it; upload the folder with "
        "actions/upload-artifact, as the README's fork setup does"
    )


def _handed_to_publish(publisher: Publisher, refused: CannotWrite, artifact: str) -> None:
    """A notice, not an error: the publish workflow posts what this token may not."""
    said = f"GitHub refused to {refused.action} with this run's token (403)"
    waits = _waits_for_publish(artifact)
    publisher.cmds.notice(f"{said}: {waits}")
    publisher.summary(
        f"\n### Waiting for the publish workflow\n\n{said}: this run's token is read-only. "
        f"{waits[0].upper()}{waits[1:]}. To post from this workflow instead, "
        f"give its job these permissions:\n\n```yaml\n{refused.fix}```\n",
    )


def _leave_artifact(folder: Path, outcome: RunOutcome, inputs: ActionInputs) -> None:
    ctx = outcome.ctx
    meta = None
    if ctx.pr_number is not None:
        meta = ArtifactMeta(
            repository=ctx.repository,
            pr_number=ctx.pr_number,
            head_sha=ctx.head_sha,
            pipeline=inputs.pipeline,
            comment=inputs.comment,
            check=inputs.check,
            fail_on=inputs.fail_on,
            no_baseline=inputs.no_baseline,
            backend=outcome.report.backend,
        )
    write_artifact(folder, outcome.result, meta)


@dataclass(frozen=True)
class Source:
    """Where publish reads the artifact: `folder` (as the user named it: `shown`) when it
    exists, else, with `artifact_name`, the triggering run's artifact of that name."""

    folder: Path
    shown: str
    artifact_name: str | None


def publish(
    edges: Edges, publisher: Publisher, policy: Policy, source: Source, dd_site: str | None
) -> int:
    """`mode: publish` and `driftgate publish`: post the pull request run's artifact under
    this step's `policy`."""
    env = edges.env
    request = PublishRequest(
        policy=policy,
        repository=env.get("GITHUB_REPOSITORY"),
        run=triggering_run(env),
        # Not resolved: a symlinked folder is refused, not followed.
        folder=source.folder,
        shown=source.shown,
        artifact_name=source.artifact_name,
        dd_site=dd_site or env.get("DD_SITE") or DEFAULT_SITE,
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
    )
    try:
        code, outputs = publisher.publish_artifact(request)
    except UsageError as exc:
        publisher.cmds.error(publisher.redact(str(exc)), title="driftgate: publish")
        return exc.exit_code
    if outputs and env.get("GITHUB_OUTPUT"):
        workflow.set_outputs(env["GITHUB_OUTPUT"], outputs)
    return code


def publish_main(
    edges: Edges,
    artifact: str,
    token: SecretStr | None,
    api_url: str | None = None,
    policy: Policy | None = None,
    dd_site: str | None = None,
) -> int:
    """`driftgate publish`: the same as the Action's `mode: publish`, with arguments; it
    reads the artifact folder only (the Action also downloads it)."""
    cmds = Commands(edges.stdout)
    redact = Redactor.of([token.get_secret_value()] if token else [], edges.env)
    if edges.env.get("GITHUB_ACTIONS") == "true":
        # Only a runner reads these lines (and hides the values); a terminal would show them.
        for secret in redact.secrets:
            cmds.add_mask(secret)
    api_url = api_url or edges.env.get("GITHUB_API_URL") or "https://api.github.com"
    publisher = _publisher(edges, cmds, token, api_url, redact)
    policy = policy or Policy("default", "always", True, "regression")
    source = Source(_workspace(edges.env) / artifact, artifact, None)
    return publish(edges, publisher, policy, source, dd_site)


def _workspace(env: Mapping[str, str]) -> Path:
    return Path(env.get("GITHUB_WORKSPACE") or os.getcwd())


def _publisher(
    edges: Edges, cmds: Commands, token: SecretStr | None, api_url: str, redact: Redactor
) -> Publisher:
    return Publisher(
        cmds,
        # The job summary is public to whoever can read the run: the last place to redact.
        lambda markdown: _summary(edges.env, redact(markdown)),
        edges.github or reporter_factory(edges.env.get("GITHUB_REPOSITORY")),
        token,
        api_url,
        redact,
    )


def _run_url(env: Mapping[str, str]) -> str | None:
    server, repo, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _summary(env: Mapping[str, str], markdown: str) -> None:
    if env.get("GITHUB_STEP_SUMMARY"):
        workflow.append_summary(env["GITHUB_STEP_SUMMARY"], markdown)


def _outputs(result: GateResult) -> dict[str, str]:
    first = result.reports[0] if result.reports else None
    return {
        "verdict": result.verdict,
        "experiment-id": first.candidate.id if first and first.candidate else "",
        "baseline-id": first.baseline.id if first and first.baseline else "",
        "comment-url": "",
        # Relative to the workspace: the runner mounts it elsewhere than the container does.
        "report-json": f"{REPORT_DIR}/report.json",
    }
