"""Reporting on GitHub: the sticky comment (pull requests) and the check run, as far as the
token allows; and `driftgate publish`, which does it for what a read-only run (a fork's pull
request) left as an artifact, from a trusted `workflow_run` workflow, trusting nothing of
the artifact (see `Publisher.publish_artifact`).

Which verdict fails the check and which creates a comment is `driftgate.result`'s to say;
how a comment is found, kept sticky and compared is `github.py`'s. Here: what to post where,
and what to tell the user when GitHub refuses. Every body sent is redacted here, last: GitHub
masks secrets in the log, never in a comment or a check run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from driftgate.action.artifact import (
    MAX_TOTAL,
    MB,
    Artifact,
    ArtifactError,
    ArtifactMeta,
    read_artifact,
    read_artifact_zip,
)
from driftgate.action.event import TriggeringRun
from driftgate.action.github import (
    ArtifactTooLarge,
    CannotWrite,
    CommentOutcome,
    GitHubError,
    GitHubReporter,
    PullRequestInfo,
    RetryPolicy,
    check_name,
    comment_room,
    connect,
)
from driftgate.action.workflow import Commands
from driftgate.errors import UsageError
from driftgate.experiments.backend import DEFAULT_SITE, ui_host
from driftgate.report import (
    CheckRules,
    render_check,
    render_comment,
    render_summary,
    status_description,
)
from driftgate.report.links import LinkPolicy, keep_links
from driftgate.result import GateResult, ReportContext, recheck
from driftgate.verdict import (
    EXIT_BACKEND,
    EXIT_OK,
    CommentMode,
    Conclusion,
    FailOn,
    NoBaseline,
    alarming,
)

ReporterFactory = Callable[[SecretStr, str], GitHubReporter | None]
"""(token, api_url) -> the reporter for this step's repository; None when it is unknown."""


def reporter_factory(repository: str | None) -> ReporterFactory:
    def make(token: SecretStr, api_url: str) -> GitHubReporter | None:
        if not repository:
            return None
        return GitHubReporter(connect(token, api_url), repository, RetryPolicy())

    return make


@dataclass(frozen=True)
class Target:
    """Where a report goes on GitHub."""

    repository: str | None
    head_sha: str
    pr_number: int | None  # None: no comment (a push)
    on_base_branch: bool = False
    """A run on the base branch itself records a baseline: a missing one never fails it."""
    conclusion: Conclusion | None = None
    """The check's conclusion whatever the verdict: `neutral` for a cancelled gate."""


@dataclass(frozen=True)
class Policy:
    """How a report is posted: the step's inputs."""

    pipeline: str
    comment: CommentMode
    check: bool
    fail_on: FailOn
    no_baseline: NoBaseline = "neutral"


@dataclass
class Publisher:
    """One step's way to GitHub: its log, its job summary, its token, its secrets."""

    cmds: Commands
    summary: Callable[[str], None]
    reporter_for: ReporterFactory
    token: SecretStr | None
    api_url: str
    redact: Callable[[str], str]
    """Applied to every body sent to GitHub (`redact.Redactor`)."""

    def post(
        self,
        policy: Policy,
        target: Target,
        result: GateResult,
        rctx: ReportContext,
        *,
        refused_to: Callable[[CannotWrite], None] | None = None,
    ) -> dict[str, str]:
        """The comment (pull requests only) and the check run; the outputs it produced.

        Each surface is tried on its own: a comment GitHub would not take never keeps the
        check from being posted, and every failure is said in the log and the summary,
        naming the surface. Writes the token may not make (CannotWrite) go to `refused_to`
        when given (the gate hands the report to the publish workflow instead), else they
        are reported with the `permissions:` block to add."""
        outputs: dict[str, str] = {}
        commenting = target.pr_number is not None and policy.comment != "off"
        if self.token is None:
            if policy.check or commenting:
                self.cmds.warning(
                    "no github-token: the report is only in the job summary and files",
                    title="driftgate: GitHub",
                )
            return outputs
        reporter = self.reporter_for(self.token, self.api_url)
        if reporter is None:
            self.cmds.warning(
                "GITHUB_REPOSITORY is unknown: nothing posted", title="driftgate: GitHub"
            )
            return outputs
        refused: list[CannotWrite] = []
        if commenting and target.pr_number is not None:
            try:
                url = self._comment(reporter, policy, target.pr_number, target, result, rctx)
            except CannotWrite as exc:
                refused.append(exc)
            except GitHubError as exc:
                self._not_posted("comment", exc)
            else:
                if url:
                    outputs["comment-url"] = url
        if policy.check:
            try:
                self._check(reporter, policy, target, result, rctx)
            except CannotWrite as exc:
                refused.append(exc)
            except GitHubError as exc:
                self._not_posted("check", exc, check_name(policy.pipeline))
        if refused and refused_to is not None:
            for refusal in refused:
                refused_to(refusal)
        elif refused:
            problem = CannotWrite.combine(*refused)
            self.cmds.error(problem.explanation, title="driftgate: permissions")
            self.summary(
                f"\n### Permissions\n\n{problem.explanation}\n\n```yaml\n{problem.fix}\n```\n"
            )
        return outputs

    def _not_posted(self, surface: str, exc: GitHubError, check: str | None = None) -> None:
        """A surface GitHub did not take, for another reason than permissions: an error
        annotation and a summary section naming it and what to do."""
        said = str(exc).rstrip(".")
        said = said[:1].lower() + said[1:]
        if check is None:
            line = (
                f"The pull request comment was not posted: {said}. The report is in the job "
                "summary; re-run this job to post it."
            )
        else:
            # The verdict decides the exit code all the same: failing a passing step would
            # not make the check appear, and branch protection already holds a pull request
            # whose required check never arrived.
            line = (
                f"The check '{check}' was not posted: {said}. If branch protection requires "
                "it, this pull request cannot merge until it appears: re-run this job once "
                "GitHub answers. The step's exit code is still the verdict's."
            )
        self.cmds.error(line, title=f"driftgate: {surface} not posted")
        self.summary(f"\n### The {surface} was not posted\n\n{line}\n")

    def _comment(
        self,
        reporter: GitHubReporter,
        policy: Policy,
        number: int,
        target: Target,
        result: GateResult,
        rctx: ReportContext,
    ) -> str | None:
        """The sticky comment's address; raises CannotWrite when the token may not write."""
        room = comment_room(reporter.repository, policy.pipeline)
        done = reporter.upsert_comment(
            number,
            policy.pipeline,
            self.redact(render_comment(result, rctx, room)),
            head_sha=target.head_sha,
            create=policy.comment != "on-regression" or alarming(result.verdict),
            unless_same=policy.comment == "on-change",
        )
        if done.outcome == CommentOutcome.STALE:
            self.cmds.notice(
                "a newer commit of this pull request already has its report; "
                "the comment was left as it is"
            )
        return done.url

    def _check(
        self,
        reporter: GitHubReporter,
        policy: Policy,
        target: Target,
        result: GateResult,
        rctx: ReportContext,
    ) -> None:
        """The check run, or the commit status in its place; raises CannotWrite when the
        token may write neither."""
        rules = CheckRules(policy.fail_on, policy.no_baseline, target.on_base_branch)
        out, redact = render_check(result, rctx, rules), self.redact
        reporter.publish_verdict(
            target.head_sha,
            policy.pipeline,
            conclusion=target.conclusion or rules.conclusion(result),
            title=redact(out.title),
            summary=redact(out.summary),
            text=out.text and redact(out.text),
            details_url=rctx.run_url,
            description=redact(status_description(result, rules)),
        )

    def publish_artifact(self, request: PublishRequest) -> tuple[int, dict[str, str]]:
        """Post what a read-only pull request run left as its artifact. Nothing of the pull
        request's code runs here, and nothing of the artifact is trusted: the event must
        name the pull request's run; the pull request is found from that run; the artifact
        must agree with both, and with the step's pipeline; the policy is the step's; the
        verdicts are derived again from the figures; only links to Datadog's UI and to the
        run survive; every surface says whose figures these are. Returns the exit code and
        the step's outputs."""
        run, repository = request.run, request.repository
        if run is None:
            raise UsageError(
                "publish runs only in a workflow triggered by workflow_run (on: workflow_run), "
                "whose event names the pull request's run and its commit; this event does not: "
                "nothing was posted"
            )
        if not repository:
            raise UsageError(
                "GITHUB_REPOSITORY is unknown: run publish in a GitHub Actions workflow, or "
                "set GITHUB_REPOSITORY to owner/name"
            )
        if run.repository and run.repository.lower() != repository.lower():
            raise UsageError(
                f"the workflow_run event is about {run.repository}, not {repository}: "
                "nothing was posted"
            )
        if self.token is None:
            raise UsageError(
                "publishing needs a token with pull-requests and checks write: the "
                "github-token input (for driftgate publish, GITHUB_TOKEN)"
            )
        reporter = self.reporter_for(self.token, self.api_url)
        if reporter is None:
            raise UsageError(
                "GITHUB_REPOSITORY is unknown: run publish in a GitHub Actions workflow, or "
                "set GITHUB_REPOSITORY to owner/name"
            )
        if run.event != "pull_request":
            self.cmds.notice(
                f"the run that triggered this workflow was for a {run.event or 'unknown'} "
                "event, not a pull request: nothing to publish (give the publish job "
                "`if: github.event.workflow_run.event == 'pull_request'`)"
            )
            return EXIT_OK, {}
        try:
            artifact = self._artifact(reporter, request, run)
            if artifact is None:
                return EXIT_OK, {}
            meta = artifact.meta
            _agrees(meta, request.policy, run)
            pull = self._pull_request(reporter, run, meta.pr_number)
        except GitHubError as exc:
            self.cmds.error(f"could not publish: {exc}", title="driftgate: publish")
            return EXIT_BACKEND, {}
        if pull is None:
            return EXIT_OK, {}
        result = recheck(artifact.result)
        self._say_rechecked(artifact.result, result)
        rctx = ReportContext(
            repository=repository,
            pipeline=request.policy.pipeline,
            head_sha=run.head_sha,
            base_branch=pull.base_ref,
            pr_number=pull.number,
            run_url=run.html_url,
            backend=meta.backend,
            from_artifact=True,
        )
        links = LinkPolicy(ui_host(request.dd_site), request.server_url, repository, run.id)
        result, rctx = keep_links(result, rctx, links)
        self.summary(render_summary(result, rctx))
        target = Target(repository, run.head_sha, pull.number)
        outputs = self.post(request.policy, target, result, rctx)
        outputs["verdict"] = result.verdict
        return EXIT_OK, outputs

    def _artifact(
        self, reporter: GitHubReporter, request: PublishRequest, run: TriggeringRun
    ) -> Artifact | None:
        """The folder when it exists (or when nothing else may be read), else the run's
        artifact through the API; None (after a notice) when the run uploaded none."""
        if request.artifact_name is None or os.path.lexists(request.folder):
            return read_artifact(request.folder, request.shown)
        name = request.artifact_name
        if run.id is None:
            raise UsageError(
                "the workflow_run event names no run id: cannot find the pull request run's "
                "artifact; nothing was posted"
            )
        found = reporter.run_artifact(run.id, name)
        if found is None:
            self.cmds.notice(
                f"the pull request's run uploaded no artifact named {name!r}: nothing to "
                "publish. That is expected when its token could write (it reported itself); "
                "otherwise see the upload step in the README's fork setup"
            )
            return None
        if found.expired:
            self.cmds.warning(
                f"the artifact {name!r} of the pull request's run has expired: nothing was "
                "published; re-run the pull request's workflow to report again",
                title="driftgate: publish",
            )
            return None
        shown = f"the artifact {name!r}"
        if found.head_sha and found.head_sha.lower() != run.head_sha.lower():
            raise ArtifactError(
                f"{shown} was uploaded for commit {found.head_sha[:12]}, not the triggering "
                f"run's {run.head_sha[:12]}: refusing to publish it"
            )
        try:
            data = reporter.download_artifact(found, MAX_TOTAL)
        except ArtifactTooLarge as exc:
            size = f" ({exc.size:,} bytes)" if exc.size is not None else ""
            raise ArtifactError(
                f"{shown} is too large{size}: the limit is {MAX_TOTAL // MB} MB; refusing it"
            ) from None
        return read_artifact_zip(data, shown)

    def _pull_request(
        self, reporter: GitHubReporter, run: TriggeringRun, claimed: int
    ) -> PullRequestInfo | None:
        """The pull request of the triggering run, which must be the one the artifact names;
        None (after a notice) when the run's commit heads no open pull request."""
        if run.pull_requests:
            if claimed not in run.pull_requests:
                raise ArtifactError(
                    f"the artifact names pull request #{claimed}, but the triggering run is "
                    f"for {_numbers(run.pull_requests)}: refusing to publish it"
                )
            pull = reporter.pull_request(claimed)
            if pull.head_sha.lower() != run.head_sha.lower():
                # Still published: the comment's stale-head rule keeps a newer report, and
                # the check run belongs to its own commit.
                self.cmds.notice(
                    f"pull request #{claimed} has moved on from {run.head_sha[:12]} to "
                    f"{pull.head_sha[:12]}; this report is for the older commit"
                )
            return pull
        owner, branch = run.head_owner, run.head_branch
        if not owner or not branch:
            self.cmds.notice(
                "the triggering run names no head repository or branch (was the fork "
                "deleted?): its pull request cannot be found; nothing was published"
            )
            return None
        head = (run.head_repository or "").lower()
        pulls = [
            p
            for p in reporter.open_pull_requests(owner, branch)
            if p.head_sha.lower() == run.head_sha.lower()
            and (p.head_repository or "").lower() == head
        ]
        if not pulls:
            self.cmds.notice(
                f"no open pull request has {owner}:{branch} at {run.head_sha[:12]} as its head "
                "(closed, or pushed again since): nothing to publish"
            )
            return None
        mine = [p for p in pulls if p.number == claimed]
        if not mine:
            raise ArtifactError(
                f"the artifact names pull request #{claimed}, but the triggering run's commit "
                f"heads {_numbers(tuple(p.number for p in pulls))}: refusing to publish it"
            )
        return mine[0]

    def _say_rechecked(self, claimed: GateResult, derived: GateResult) -> None:
        if claimed.verdict != derived.verdict:
            self.cmds.warning(
                f"the artifact's report says {claimed.verdict}, but its figures say "
                f"{derived.verdict} under this step's rules: publishing {derived.verdict}",
                title="driftgate: publish",
            )


@dataclass(frozen=True)
class PublishRequest:
    """What a publish step is asked to do, from its own inputs and event only."""

    policy: Policy
    repository: str | None
    run: TriggeringRun | None
    folder: Path
    shown: str  # the folder as the user named it
    # The artifact to download from the triggering run when the folder does not exist;
    # None: read the folder only (`driftgate publish --artifact DIR`).
    artifact_name: str | None
    dd_site: str = DEFAULT_SITE
    server_url: str | None = "https://github.com"


def _agrees(meta: ArtifactMeta, policy: Policy, run: TriggeringRun) -> None:
    """Refuse an artifact whose pipeline or commit is not this step's and its run's."""
    if meta.pipeline != policy.pipeline:
        raise ArtifactError(
            f"the artifact is for pipeline {meta.pipeline!r}, but this step publishes "
            f"{policy.pipeline!r}: set `pipeline:` in the publish step to the gate's pipeline "
            "(one publish step per pipeline)"
        )
    if meta.head_sha.lower() != run.head_sha.lower():
        raise ArtifactError(
            f"the artifact is for commit {meta.head_sha[:12]} but the triggering run was "
            f"for {run.head_sha[:12]}: refusing to publish it"
        )


def _numbers(numbers: tuple[int, ...]) -> str:
    return ", ".join(f"#{n}" for n in numbers)
