"""GitHub, as driftgate uses it: the sticky pull request comment, the check run, and the
commit status that stands in for the check when checks cannot be written.

This is the only module that imports PyGithub. Callers get domain results (`CommentResult`,
`CheckResult`, `StatusResult`) and domain errors (`CannotWrite`, `GitHubNotFound`,
`GitHubRejected`, `GitHubUnavailable`), never status codes. It decides nothing about
policy: which comment mode applies, or whether to report at all, is the caller's.

Rules kept here, which the README documents:

- **Ours.** Our comment is the one whose first line is `comment_marker(repo, pipeline)`,
  `<!-- driftgate:<repo>:<pipeline> -->`. Every page of comments is read (a busy pull
  request has more than one). The markers are added here, first, whatever the rendered
  body holds, so that no template can lose them; a comment that merely quotes or resembles
  the marker is not ours.
- **Never `GET /user`.** The Actions token cannot call it, so "ours" is decided by the
  marker, not by the author.
- **Stale heads.** The second line, `<!-- driftgate-head:<sha> -->`, records the commit a
  report is for. Before writing, the pull request's current head is read
  (`GET /pulls/{n}`). A report for head H is written unless the existing comment already
  holds the report for the current head and H is not it: a slow run for an older push, or a
  re-run of an old workflow, cannot replace the newer report, yet still fills an empty
  place while the current head's run is under way. (GitHub has no conditional update for
  comments, so a run that finishes within the moment between our read and our write can
  still be overtaken.) Check runs and statuses belong to their own commit and need no such
  rule.
- **Limits** (`driftgate.report.limits`): comment bodies, check-run fields, titles and
  status descriptions longer than GitHub accepts are cut with a note (the full report lives
  in the job summary and the JSON report), never sent to be refused. The renderer already
  fits within them (`comment_room` leaves room for the markers): this is the last guard.
- **Retries** (`RetryPolicy`) cover every method, PATCH included: 429 and secondary rate
  limits (403 with `Retry-After`, a spent quota or the rate-limit message) wait for what
  GitHub asks (`Retry-After`, else `x-ratelimit-reset` when `x-ratelimit-remaining` is 0,
  else at least a minute, doubling); 5xx and network failures back off exponentially,
  capped, with jitter. A create that may have landed (5xx, timeout) looks for what it
  created before it posts again, so a retry cannot duplicate the comment or the check run.
  Retrying is done here rather than by urllib3 (`retry=None` in `connect`), because only
  here can a POST be checked before it is repeated, and the sleep be injected.
- **Budget.** All the waits of one reporter add up to at most `RetryPolicy.budget` (four
  minutes): past it, the request that failed is given up with a one-line
  `GitHubUnavailable` naming what could not be done, and the caller goes on with the next
  surface. A `DELETE` answered 404 is done: the comment is already gone.
- **Permissions.** A refused write (403 "Resource not accessible by integration") raises
  `CannotWrite`, which carries the `permissions:` block to add and a one-line explanation
  that points fork pull requests to the artifact + `workflow_run` flow.
- **Artifacts** (`driftgate publish`): a run's artifacts are listed by name, and one is
  downloaded in two steps: the API answers the zip's address with a 302 to a storage host,
  which is then fetched without the token (a storage host has no business with it, and
  refuses requests that carry one), no further than the caller's limit.
"""

from __future__ import annotations

import email.utils
import io
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from github import Auth, Github, GithubException
from github.Artifact import Artifact
from github.CheckRun import CheckRun
from github.IssueComment import IssueComment
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest
from github.Repository import Repository
from pydantic import SecretStr

from driftgate.report.limits import (
    CHECK_TEXT_LIMIT,
    CHECK_TITLE_LIMIT,
    COMMENT_LIMIT,
    STATUS_DESCRIPTION_LIMIT,
    fit_block,
    fit_line,
    utf16_length,
)
from driftgate.verdict import Conclusion, StatusState, status_state

__all__ = [
    "ArtifactInfo",
    "ArtifactTooLarge",
    "CannotWrite",
    "CheckResult",
    "CommentOutcome",
    "CommentResult",
    "GitHubError",
    "GitHubNotFound",
    "GitHubRejected",
    "GitHubReporter",
    "GitHubUnavailable",
    "PullRequestInfo",
    "RetryPolicy",
    "StatusResult",
    "StickyComment",
    "check_name",
    "comment_marker",
    "comment_room",
    "connect",
    "permissions_block",
    "same_report",
]

TRUNCATION_NOTE = (
    "\n\n---\n**This report was cut to fit GitHub's size limit.** "
    "The full report is in the job summary and in the JSON report.\n"
)

_PULL_REQUESTS = "pull-requests: write"
_CHECKS = "checks: write"
_STATUSES = "statuses: write"
_ACTIONS = "actions: read"

_HEAD_MARKER = re.compile(r"^<!-- driftgate-head:([0-9a-f]{7,64}) -->[ \t]*$", re.MULTILINE)
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")

_log = logging.getLogger(__name__)

T = TypeVar("T")


# ---------------------------------------------------------------------------- naming


def _marker_part(text: str) -> str:
    # Percent-encoding keeps `:` (our separator) and `>` (which could close the comment)
    # out of the marker, and leaves ordinary names as they are.
    return quote(text, safe="/")


def comment_marker(repository: str, pipeline: str) -> str:
    """The hidden first line that makes the comment of `pipeline` in `repository` sticky."""
    return f"<!-- driftgate:{_marker_part(repository)}:{_marker_part(pipeline)} -->"


def _head_marker(head_sha: str) -> str:
    return f"<!-- driftgate-head:{head_sha.lower()} -->"


def check_name(pipeline: str) -> str:
    """The check run's name and the status's context: what branch protection requires."""
    return f"driftgate / {pipeline}"


def permissions_block(permissions: Iterable[str]) -> str:
    """The `permissions:` YAML to add to the job, for permissions like `checks: write`.

    `contents: read` is always listed: naming any permission sets the others to none, and
    `actions/checkout` needs to read the repository.
    """
    lines = ["contents: read"]
    for permission in permissions:
        if permission not in lines:
            lines.append(permission)
    return "permissions:\n" + "".join(f"  {line}\n" for line in lines)


# ---------------------------------------------------------------------------- errors


class GitHubError(Exception):
    """GitHub did not do what was asked. The message is written for people."""


class CannotWrite(GitHubError):
    """The token may not write what was asked (403). `fix` is the `permissions:` block to
    add; `explanation` (also the message) says why in one line, and how fork pull requests
    report instead."""

    def __init__(
        self, action: str, permissions: tuple[str, ...], explanation: str, fork: bool | None
    ) -> None:
        super().__init__(explanation)
        self.action = action
        self.permissions = permissions
        self.explanation = explanation
        self.fork = fork
        self.fix = permissions_block(permissions)

    @classmethod
    def combine(cls, *errors: CannotWrite) -> CannotWrite:
        """One error for several refused writes, with every permission they need."""
        permissions = tuple(dict.fromkeys(p for e in errors for p in e.permissions))
        fork = True if any(e.fork for e in errors) else errors[0].fork
        actions = " and ".join(e.action for e in errors)
        return cls(actions, permissions, _explain(actions, permissions, None, fork), fork)

    def __repr__(self) -> str:
        return f"CannotWrite(action={self.action!r}, permissions={self.permissions!r})"


class GitHubNotFound(GitHubError):
    """The repository, pull request or commit does not exist, or the token cannot see it."""


class GitHubRejected(GitHubError):
    """GitHub refused the request for a reason no retry or permission fixes (bad
    credentials, validation)."""


class GitHubUnavailable(GitHubError):
    """GitHub kept failing (rate limits, server errors, network) after the retries, or asked
    for a longer wait than the policy allows."""


class ArtifactTooLarge(GitHubError):
    """An artifact is larger than the caller accepts; `size` when it is known."""

    def __init__(self, message: str, size: int | None) -> None:
        super().__init__(message)
        self.size = size


def _explain(action: str, permissions: tuple[str, ...], said: str | None, fork: bool | None) -> str:
    needed = ", ".join(f"`{p}`" for p in permissions)
    answer = f' (GitHub: "{said}")' if said else ""
    if fork:
        return (
            f"Cannot {action}{answer}: this pull request comes from a fork, and GitHub gives "
            f"its workflows a read-only token whatever `permissions:` says; upload the report "
            f"as an artifact and post it from a `workflow_run` workflow with `driftgate "
            f"publish`."
        )
    return (
        f"Cannot {action}{answer}: give the job {needed} in its `permissions:` block; for "
        f"pull requests from forks, which always get a read-only token, upload the report "
        f"as an artifact and post it from a `workflow_run` workflow with `driftgate publish`."
    )


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PullRequestInfo:
    number: int
    head_sha: str
    head_ref: str
    base_sha: str
    base_ref: str
    repository: str
    # None when the fork the pull request came from has been deleted.
    head_repository: str | None
    is_fork: bool
    url: str


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A workflow run's artifact, as GitHub lists it."""

    id: int
    name: str
    size_in_bytes: int
    expired: bool
    # The commit of the run that uploaded it.
    head_sha: str | None


@dataclass(frozen=True, slots=True)
class StickyComment:
    id: int
    url: str
    body: str
    # The commit the report is for, from its second marker; None for a comment without it.
    head_sha: str | None


class CommentOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    # Not written: the comment holds the report for the pull request's newer head.
    STALE = "stale"
    # Not written: no comment exists and the caller asked not to create one.
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class CommentResult:
    outcome: CommentOutcome
    # The comment's address on github.com (or GHES); None when there is no comment.
    url: str | None
    comment_id: int | None
    truncated: bool = False
    # Duplicates of ours (from concurrent first runs) that were removed.
    removed: int = 0

    @property
    def written(self) -> bool:
        return self.outcome in (CommentOutcome.CREATED, CommentOutcome.UPDATED)


@dataclass(frozen=True, slots=True)
class CheckResult:
    check_run_id: int
    url: str
    # False when the check run of that name on that commit already existed and was updated.
    created: bool
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class StatusResult:
    context: str
    state: StatusState
    truncated: bool = False
    # Why the check run could not be written, when this status stands in for it.
    fallback_from: CannotWrite | None = None


# ---------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. `sleep`, `clock` and `jitter` are injectable so that tests
    wait for nothing and can assert the waits exactly."""

    attempts: int = 6
    """Tries per request, the first included."""
    base_delay: float = 1.0
    max_delay: float = 30.0
    secondary_delay: float = 60.0
    """GitHub asks to wait at least a minute after a secondary rate limit that names no time."""
    max_wait: float = 900.0
    """A longer wait than this (an hourly quota spent) is not waited for: GitHubUnavailable."""
    budget: float = 240.0
    """What all the waits of one reporter may add up to, across its requests: a step spends
    at most a few minutes on GitHub's limits (a secondary limit without `Retry-After` doubles
    from a minute), then gives up with GitHubUnavailable naming what it could not do."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def backoff(self, retry: int) -> float:
        """Capped exponential backoff with equal jitter: half of the step fixed, half random,
        so that parallel jobs do not retry in step."""
        step = min(self.max_delay, self.base_delay * 2.0**retry)
        return step / 2 + self.jitter() * step / 2


@dataclass(frozen=True, slots=True)
class _Transient:
    reason: str
    # What GitHub asked for (Retry-After, or until the quota resets); None: back off.
    wait: float | None
    secondary: bool
    # The request may have been carried out although it failed (5xx, timeout, network).
    ambiguous: bool


def _seconds_until(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def _said(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message: str = data["message"]
        errors = data.get("errors")
        if isinstance(errors, list):
            details = [e.get("message") for e in errors if isinstance(e, dict) and e.get("message")]
            if details:
                message += ": " + "; ".join(str(d) for d in details)
        return message
    return str(exc.message or "no message")


def _is_rate_limit_message(message: str) -> bool:
    lowered = message.lower()
    return (
        lowered.startswith("api rate limit exceeded")
        or "secondary rate limit" in lowered
        or lowered.endswith(
            (
                "please retry your request again later.",
                "please wait a few minutes before you try again.",
            )
        )
    )


# ---------------------------------------------------------------------------- client


def connect(
    token: str | SecretStr,
    api_url: str,
    *,
    timeout: int = 30,
    seconds_between_requests: float | None = 0.25,
    seconds_between_writes: float | None = 1.0,
) -> Github:
    """The PyGithub client for `api_url` (`GITHUB_API_URL`; GHES: `https://host/api/v3`).

    GitHub asks clients to space writes about a second apart to stay clear of secondary
    rate limits: `seconds_between_writes`. Tests pass None to both spacings.
    """
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not secret:
        raise GitHubRejected("No GitHub token: set the `github-token` input.")
    return Github(
        auth=Auth.Token(secret),
        base_url=api_url.rstrip("/"),
        timeout=int(timeout),
        user_agent="driftgate",
        per_page=100,
        # No retries in urllib3: it would re-send a POST blindly and sleep with time.sleep.
        # RetryPolicy retries instead, where a create can first look for what it made.
        retry=None,
        seconds_between_requests=seconds_between_requests,
        seconds_between_writes=seconds_between_writes,
        lazy=True,
    )


class GitHubReporter:
    """Comment, check run and status on one repository, through an injected client."""

    def __init__(self, client: Github, repository: str, retry: RetryPolicy | None = None) -> None:
        self.repository = repository
        self._retry = retry or RetryPolicy()
        # Lazy: no request until one is needed, so no `GET /repos/{o}/{r}` either.
        self._repo: Repository = client.get_repo(repository)
        # Seconds slept so far, against `RetryPolicy.budget`.
        self._waited = 0.0

    def __repr__(self) -> str:
        return f"GitHubReporter(repository={self.repository!r})"

    # ------------------------------------------------------------------ pull requests
    def pull_request(self, number: int) -> PullRequestInfo:
        pull = self._repo.get_pull(number)
        return self._call(f"read pull request #{number}", lambda: _pull_info(pull))

    def open_pull_requests(self, head_owner: str, head_branch: str) -> list[PullRequestInfo]:
        """This repository's open pull requests whose head is `head_branch` of `head_owner`'s
        repository (`GET /pulls?head=owner:branch`)."""
        pulls = self._repo.get_pulls(state="open", head=f"{head_owner}:{head_branch}")
        return self._call(
            "list the pull requests of the run's branch", lambda: [_pull_info(p) for p in pulls]
        )

    # ------------------------------------------------------------------ artifacts
    def run_artifact(self, run_id: int, name: str) -> ArtifactInfo | None:
        """The newest artifact called `name` that workflow run `run_id` uploaded; None when
        it uploaded none. Needs `actions: read`."""
        requester = self._repo.requester
        url = f"{self._repo.url}/actions/runs/{run_id}/artifacts"
        pages = PaginatedList(Artifact, requester, url, {"name": name}, list_item="artifacts")

        def load() -> list[ArtifactInfo]:
            return [
                ArtifactInfo(
                    a.id,
                    a.name,
                    a.size_in_bytes,
                    bool(a.expired),
                    _run_head_sha(a.raw_data.get("workflow_run")),
                )
                for a in pages
            ]

        found = self._call("list the run's artifacts", load, needs=_ACTIONS)
        named = [a for a in found if a.name == name]
        return max(named, key=lambda a: a.id) if named else None

    def download_artifact(self, artifact: ArtifactInfo, limit: int) -> bytes:
        """The artifact's zip, at most `limit` bytes (ArtifactTooLarge beyond). The API's
        302 is not followed by PyGithub: the storage host is fetched here, without the
        token."""
        if artifact.size_in_bytes > limit:
            raise ArtifactTooLarge(
                f"the artifact {artifact.name!r} is {artifact.size_in_bytes:,} bytes",
                artifact.size_in_bytes,
            )
        requester = self._repo.requester
        url = f"{self._repo.url}/actions/artifacts/{artifact.id}/zip"

        def fetch() -> bytes:
            headers, _ = requester.requestJsonAndCheck("GET", url)
            location = {str(k).lower(): str(v) for k, v in headers.items()}.get("location")
            if not location:
                raise GitHubRejected(
                    f"Could not download the artifact {artifact.name!r}: GitHub gave no address"
                )
            return _fetch_storage(location, limit, artifact.name)

        return self._call(f"download the artifact {artifact.name!r}", fetch, needs=_ACTIONS)

    # ------------------------------------------------------------------ comments
    def find_comment(self, number: int, pipeline: str) -> StickyComment | None:
        """Our comment for `pipeline` on pull request `number`, the oldest if there are
        several; None if there is none."""
        ours = self._our_comments(number, pipeline)
        return _sticky(ours[0]) if ours else None

    def upsert_comment(
        self,
        number: int,
        pipeline: str,
        body: str,
        *,
        head_sha: str,
        create: bool = True,
        unless_same: bool = False,
    ) -> CommentResult:
        """Write the report for `head_sha` into our comment: update it in place, or create it
        (once) when there is none and `create` is true. Follows the stale-head rule of the
        module docstring; duplicates of ours left by concurrent first runs are removed.
        `unless_same`: leave a comment that already holds the same report (`same_report`)
        as it is, whichever commit it names."""
        if not _SHA.fullmatch(head_sha):
            raise ValueError(f"not a commit sha: {head_sha!r}")
        marker = comment_marker(self.repository, pipeline)
        text, truncated = _compose(marker, head_sha, body)
        if unless_same:
            ours = self._our_comments(number, pipeline)
            if ours and same_report(ours[0].body, body):
                return CommentResult(
                    CommentOutcome.UNCHANGED, ours[0].html_url, ours[0].id, truncated
                )
        current = self.pull_request(number)
        if not unless_same:
            ours = self._our_comments(number, pipeline)
        existing = ours[0] if ours else None
        if existing is not None:
            held = _sticky(existing).head_sha
            if held == current.head_sha.lower() and head_sha.lower() != held:
                return CommentResult(CommentOutcome.STALE, existing.html_url, existing.id)
        if existing is None:
            if not create:
                return CommentResult(CommentOutcome.ABSENT, None, None, truncated)
            made = self._create_comment(number, pipeline, text, current.is_fork)
            return CommentResult(CommentOutcome.CREATED, made.html_url, made.id, truncated)
        removed = self._remove(ours[1:], current.is_fork)
        if existing.body == text:
            return CommentResult(
                CommentOutcome.UNCHANGED, existing.html_url, existing.id, truncated, removed
            )
        self._edit_comment(existing, text, current.is_fork)
        return CommentResult(
            CommentOutcome.UPDATED, existing.html_url, existing.id, truncated, removed
        )

    def delete_comment(self, number: int, pipeline: str) -> int:
        """Remove our comment(s) for `pipeline`; how many there were (0: nothing to do)."""
        return self._remove(self._our_comments(number, pipeline), None)

    def _our_comments(self, number: int, pipeline: str) -> list[IssueComment]:
        marker = comment_marker(self.repository, pipeline)
        pages = self._repo.get_issue(number).get_comments()
        # A failed page is fetched again on retry: the list keeps what it has and resumes
        # from the `Link` it was about to follow.
        everything = self._call("read the pull request's comments", lambda: list(pages))
        return [c for c in everything if _first_line(c.body) == marker]

    def _create_comment(
        self, number: int, pipeline: str, text: str, fork: bool | None
    ) -> IssueComment:
        issue = self._repo.get_issue(number)

        def landed() -> IssueComment | None:
            # The POST that failed may have created the comment: adopt it rather than post
            # a second one.
            ours = self._our_comments(number, pipeline)
            if not ours:
                return None
            if ours[0].body != text:
                self._edit_comment(ours[0], text, fork)
            return ours[0]

        return self._call(
            "post the pull request comment",
            lambda: issue.create_comment(text),
            permission=_PULL_REQUESTS,
            fork=fork,
            recover=landed,
        )

    def _edit_comment(self, comment: IssueComment, text: str, fork: bool | None) -> None:
        self._call(
            "update the pull request comment",
            lambda: comment.edit(text),
            permission=_PULL_REQUESTS,
            fork=fork,
        )

    def _remove(self, comments: list[IssueComment], fork: bool | None) -> int:
        for comment in comments:
            try:
                self._call(
                    "delete the pull request comment",
                    comment.delete,
                    permission=_PULL_REQUESTS,
                    fork=fork,
                )
            except GitHubNotFound:
                # Already gone: a retried DELETE whose first answer was lost, or a
                # concurrent run removing the same duplicate. What was asked is done.
                _log.debug("comment %s was already deleted", comment.id)
        return len(comments)

    # ------------------------------------------------------------------ checks
    def publish_check(
        self,
        head_sha: str,
        pipeline: str,
        *,
        conclusion: Conclusion,
        title: str,
        summary: str,
        text: str | None = None,
        details_url: str | None = None,
    ) -> CheckResult:
        """The completed check run `driftgate / <pipeline>` on `head_sha` with the report as
        its output; the existing one of that name on that commit is updated (a re-run)."""
        name = check_name(pipeline)
        fitted_title, cut_title = fit_line(title, CHECK_TITLE_LIMIT)
        fitted_summary, cut_summary = fit_block(summary, CHECK_TEXT_LIMIT, TRUNCATION_NOTE)
        output: dict[str, Any] = {"title": fitted_title, "summary": fitted_summary}
        cut_text = False
        if text is not None:
            output["text"], cut_text = fit_block(text, CHECK_TEXT_LIMIT, TRUNCATION_NOTE)
        truncated = cut_title or cut_summary or cut_text
        extra: dict[str, Any] = {"details_url": details_url} if details_url else {}

        existing = self._find_check_run(head_sha, name)
        if existing is not None:
            self._call(
                "update the check run",
                lambda: existing.edit(
                    status="completed", conclusion=conclusion, output=output, **extra
                ),
                permission=_CHECKS,
            )
            return CheckResult(existing.id, existing.html_url, created=False, truncated=truncated)
        run = self._call(
            "create the check run",
            lambda: self._repo.create_check_run(
                name=name,
                head_sha=head_sha,
                status="completed",
                conclusion=conclusion,
                output=output,
                **extra,
            ),
            permission=_CHECKS,
            recover=lambda: self._find_check_run(head_sha, name),
        )
        return CheckResult(run.id, run.html_url, created=True, truncated=truncated)

    def _find_check_run(self, head_sha: str, name: str) -> CheckRun | None:
        runs = self._repo.get_commit(head_sha).get_check_runs(check_name=name)
        found = self._call("read the commit's check runs", lambda: list(runs))
        # Newest first; GitHub lists the latest run of each name by default.
        return next((r for r in found if r.name == name), None)

    def publish_status(
        self,
        head_sha: str,
        pipeline: str,
        *,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> StatusResult:
        """The commit status `driftgate / <pipeline>` on `head_sha`. Posting again replaces
        the previous one of that context, so a retried POST is harmless."""
        context = check_name(pipeline)
        fitted, truncated = fit_line(description, STATUS_DESCRIPTION_LIMIT)
        extra: dict[str, Any] = {"target_url": target_url} if target_url else {}
        commit = self._repo.get_commit(head_sha)
        self._call(
            "set the commit status",
            lambda: commit.create_status(state=state, description=fitted, context=context, **extra),
            permission=_STATUSES,
        )
        return StatusResult(context, state, truncated)

    def publish_verdict(
        self,
        head_sha: str,
        pipeline: str,
        *,
        conclusion: Conclusion,
        title: str,
        summary: str,
        text: str | None = None,
        details_url: str | None = None,
        description: str | None = None,
    ) -> CheckResult | StatusResult:
        """The check run, or, when the token may not write checks, a commit status of the
        same name (state from `conclusion`, description from `description`, else `title`).
        Raises CannotWrite naming both permissions when neither can be written."""
        try:
            return self.publish_check(
                head_sha,
                pipeline,
                conclusion=conclusion,
                title=title,
                summary=summary,
                text=text,
                details_url=details_url,
            )
        except CannotWrite as no_checks:
            _log.info("%s; falling back to a commit status", no_checks.explanation)
            try:
                status = self.publish_status(
                    head_sha,
                    pipeline,
                    state=status_state(conclusion),
                    description=description or title,
                    target_url=details_url,
                )
            except CannotWrite as no_statuses:
                raise CannotWrite.combine(no_checks, no_statuses) from no_statuses
            return replace(status, fallback_from=no_checks)

    # ------------------------------------------------------------------ the one request loop
    def _call(
        self,
        action: str,
        request: Callable[[], T],
        *,
        permission: str | None = None,
        fork: bool | None = None,
        recover: Callable[[], T | None] | None = None,
        needs: str | None = None,
    ) -> T:
        """`request()`, retried per the policy, with GitHub's answers turned into domain
        errors. `permission` marks a write (a 403 becomes CannotWrite); `needs` names the
        permission a read needs (a 403 says to add it); `recover` is asked, after a failure
        that may have left the write done, for what it made."""
        policy = self._retry
        retries = 0
        while True:
            try:
                return request()
            except GithubException as exc:
                failure = self._transient(exc, action, permission, fork, needs)
            except OSError as exc:
                # requests' ConnectionError, Timeout and RetryError are all OSErrors.
                failure = _Transient(
                    f"the request to GitHub failed ({type(exc).__name__})",
                    None,
                    secondary=False,
                    ambiguous=True,
                )
            retries += 1
            if retries >= policy.attempts:
                raise GitHubUnavailable(
                    f"Could not {action}: {failure.reason}, {retries} attempts."
                ) from None
            delay = self._delay(failure, retries - 1)
            if delay > policy.max_wait:
                raise GitHubUnavailable(
                    f"Could not {action}: {failure.reason}, and GitHub asks to wait "
                    f"{delay:.0f} s, longer than the {policy.max_wait:.0f} s allowed."
                ) from None
            if self._waited + delay > policy.budget:
                raise GitHubUnavailable(
                    f"Could not {action}: {failure.reason} ({retries} attempts), and another "
                    f"{delay:.0f} s wait would pass the {policy.budget:.0f} s this step may "
                    f"spend waiting for GitHub ({self._waited:.0f} s spent); gave up."
                ) from None
            _log.warning(
                "Could not %s: %s; retrying in %.1f s (attempt %d of %d).",
                action,
                failure.reason,
                delay,
                retries + 1,
                policy.attempts,
            )
            policy.sleep(delay)
            self._waited += delay
            if recover is not None and failure.ambiguous:
                found = recover()
                if found is not None:
                    return found

    def _delay(self, failure: _Transient, retry: int) -> float:
        policy = self._retry
        if failure.wait is not None:
            return failure.wait
        if failure.secondary:
            # Never under GitHub's minute; the jitter only lengthens it.
            step = min(policy.secondary_delay * 2.0**retry, policy.max_wait)
            return step * (1 + policy.jitter() / 10)
        return policy.backoff(retry)

    def _transient(
        self,
        exc: GithubException,
        action: str,
        permission: str | None,
        fork: bool | None,
        needs: str | None = None,
    ) -> _Transient:
        """What to wait for when `exc` is worth retrying; raises the domain error when not."""
        status = exc.status
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        said = _said(exc)
        now = self._retry.clock()
        retry_after = _seconds_until(headers.get("retry-after"), now)
        spent = headers.get("x-ratelimit-remaining") == "0"
        if status == 429 or (
            status == 403 and (retry_after is not None or spent or _is_rate_limit_message(said))
        ):
            wait = retry_after
            reset = headers.get("x-ratelimit-reset", "")
            if wait is None and spent and reset.isdigit():
                # +1: the reset second is not exact.
                wait = max(int(reset) - now, 0.0) + 1
            return _Transient(
                "rate limited by GitHub", wait, secondary=wait is None, ambiguous=False
            )
        if status >= 500:
            return _Transient(f"GitHub answered {status}", None, secondary=False, ambiguous=True)
        if status == 403 and permission is not None:
            raise CannotWrite(
                action, (permission,), _explain(action, (permission,), said, fork), fork
            ) from exc
        if status == 403 and needs is not None:
            raise GitHubRejected(
                f'Could not {action} (GitHub: "{said}"): give the job `{needs}` in its '
                "`permissions:` block."
            ) from exc
        if status == 410:
            raise GitHubNotFound(f"Could not {action}: GitHub says it is gone ({said}).") from exc
        if status == 404:
            raise GitHubNotFound(
                f"Could not {action}: not found in {self.repository}, or the token cannot see it."
            ) from exc
        if status == 401:
            raise GitHubRejected(
                f"Could not {action}: GitHub does not accept the token (expired, revoked or "
                f"mistyped); check the `github-token` input."
            ) from exc
        raise GitHubRejected(f"Could not {action}: GitHub said: {said}") from exc


# ---------------------------------------------------------------------------- reading


def _pull_info(pull: PullRequest) -> PullRequestInfo:
    head_repo = pull.head.repo
    base_repo = pull.base.repo.full_name
    head_name = head_repo.full_name if head_repo is not None else None
    return PullRequestInfo(
        number=pull.number,
        head_sha=pull.head.sha,
        head_ref=pull.head.ref,
        base_sha=pull.base.sha,
        base_ref=pull.base.ref,
        repository=base_repo,
        head_repository=head_name,
        is_fork=head_name is None or head_name.lower() != base_repo.lower(),
        url=pull.html_url,
    )


def _run_head_sha(run: Any) -> str | None:
    sha = run.get("head_sha") if isinstance(run, dict) else None
    return sha if isinstance(sha, str) else None


def _fetch_storage(location: str, limit: int, name: str) -> bytes:
    """The bytes at the storage address GitHub redirected to, with no credentials, at most
    `limit` of them. Network failures and 5xx are OSErrors, for the retry loop."""
    try:
        with (
            httpx.Client(follow_redirects=False, timeout=60.0) as client,
            client.stream("GET", location, headers={"User-Agent": "driftgate"}) as response,
        ):
            if response.status_code >= 500:
                raise ConnectionError(f"the artifact's storage answered {response.status_code}")
            if response.status_code != 200:
                raise GitHubRejected(
                    f"Could not download the artifact {name!r}: its storage answered "
                    f"{response.status_code}."
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise ArtifactTooLarge(
                    f"the artifact {name!r} is {int(declared):,} bytes", int(declared)
                )
            buffer = io.BytesIO()
            for chunk in response.iter_bytes():
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise ArtifactTooLarge(
                        f"the artifact {name!r} is larger than {limit:,} bytes", None
                    )
            return buffer.getvalue()
    except httpx.TransportError as exc:
        raise ConnectionError(f"the artifact's storage could not be reached ({exc})") from exc
    except httpx.InvalidURL:
        raise GitHubRejected(
            f"Could not download the artifact {name!r}: GitHub gave an invalid address."
        ) from None


# ---------------------------------------------------------------------------- bodies


def _first_line(body: str | None) -> str:
    return (body or "").split("\n", 1)[0].strip()


def _sticky(comment: IssueComment) -> StickyComment:
    body = comment.body or ""
    held = _HEAD_MARKER.search(body)
    return StickyComment(comment.id, comment.html_url, body, held[1] if held else None)


def _header(marker: str, head_sha: str) -> str:
    return f"{marker}\n{_head_marker(head_sha)}\n"


def comment_room(repository: str, pipeline: str) -> int:
    """How much of GitHub's comment limit the report may use: the rest is for our two
    marker lines (sized for the longest commit sha), so that the report is never cut here."""
    return COMMENT_LIMIT - utf16_length(_header(comment_marker(repository, pipeline), "0" * 64))


def same_report(existing: str, body: str) -> bool:
    """Whether a comment already holds this report (`comment: on-change`). Our marker lines
    are left out, and so is the report's footer, the `<sub>` line that names the head commit
    and the workflow run, new on every run."""

    def results(text: str) -> list[str]:
        return [
            line
            for line in text.strip().splitlines()
            if not line.startswith(("<!-- driftgate", "<sub>"))
        ]

    return results(existing) == results(body)


def _compose(marker: str, head_sha: str, body: str) -> tuple[str, bool]:
    """The comment: our two markers first, then the report, within GitHub's limit. Markers
    the rendered body already holds are dropped, so there is exactly one of each."""
    header = _header(marker, head_sha)
    lines = body.split("\n")
    report = "\n".join(
        line for line in lines if line.strip() != marker and not _HEAD_MARKER.match(line.strip())
    )
    fitted, truncated = fit_block(report, COMMENT_LIMIT - utf16_length(header), TRUNCATION_NOTE)
    return header + fitted, truncated
