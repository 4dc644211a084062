"""Reporting on GitHub: the sticky comment (pull requests) and the check run, as far as the
token allows; and `driftgate publish`, which does it for what a read-only run (a fork's pull
request) left as an artifact, from a trusted `workflow_run` workflow.

Which verdict fails the check and which creates a comment is `driftgate.result`'s to say;
how a comment is found, kept sticky and compared is `github.py`'s. Here: what to post where,
and what to tell the user when GitHub refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from driftgate.action.artifact import ArtifactError, read_artifact
from driftgate.action.event import TriggeringRun
from driftgate.action.github import (
    CannotWrite,
    CommentOutcome,
    GitHubError,
    GitHubReporter,
    RetryPolicy,
    check_name,
    comment_room,
    connect,
)
from driftgate.action.workflow import Commands
from driftgate.errors import UsageError
from driftgate.report import render_check, render_comment, render_summary, status_description
from driftgate.result import GateResult, ReportContext
from driftgate.verdict import EXIT_BACKEND, EXIT_OK, CommentMode, FailOn, alarming, conclusion_for

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


@dataclass(frozen=True)
class Policy:
    """How a report is posted: the step's inputs."""

    pipeline: str
    comment: CommentMode
    check: bool
    fail_on: FailOn


@dataclass
class Publisher:
    """One step's way to GitHub: its log, its job summary, its token."""

    cmds: Commands
    summary: Callable[[str], None]
    reporter_for: ReporterFactory
    token: SecretStr | None
    api_url: str

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
            render_comment(result, rctx, room),
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
        out = render_check(result, rctx)
        reporter.publish_verdict(
            target.head_sha,
            policy.pipeline,
            conclusion=conclusion_for(result.verdict, policy.fail_on),
            title=out.title,
            summary=out.summary,
            text=out.text,
            details_url=rctx.run_url,
            description=status_description(result),
        )

    def publish_artifact(
        self, folder: Path, shown: str, repository: str | None, run: TriggeringRun
    ) -> tuple[int, dict[str, str]]:
        """Post what a read-only pull request run left in `folder`. Nothing of the pull
        request's code runs here, and nothing of the artifact is trusted: the report is
        re-validated and re-rendered, and the pull request must really be at the commit the
        artifact names. Returns the exit code and the step's outputs."""
        meta, result = read_artifact(folder, shown)
        if run.head_sha and run.head_sha.lower() != meta.head_sha.lower():
            raise ArtifactError(
                f"the artifact is for commit {meta.head_sha[:12]} but the triggering run was "
                f"for {run.head_sha[:12]}: refusing to publish it"
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
        try:
            pull = reporter.pull_request(meta.pr_number)
        except GitHubError as exc:
            self.cmds.error(
                f"cannot read pull request #{meta.pr_number}: {exc}", title="driftgate: publish"
            )
            return EXIT_BACKEND, {}
        if pull.head_sha.lower() != meta.head_sha.lower():
            # Still published: the comment's stale-head rule keeps a newer report, and the
            # check run belongs to its own commit.
            self.cmds.notice(
                f"pull request #{meta.pr_number} has moved on from {meta.head_sha[:12]} to "
                f"{pull.head_sha[:12]}; this report is for the older commit"
            )
        rctx = ReportContext(
            repository=repository,
            pipeline=meta.pipeline,
            head_sha=meta.head_sha,
            base_branch=pull.base_ref,
            pr_number=meta.pr_number,
            run_url=run.html_url,
            backend=meta.backend,
        )
        self.summary(render_summary(result, rctx))
        policy = Policy(meta.pipeline, meta.comment, meta.check, meta.fail_on)
        target = Target(repository, meta.head_sha, meta.pr_number)
        outputs = self.post(policy, target, result, rctx)
        outputs["verdict"] = result.verdict
        return EXIT_OK, outputs
