"""What the fake GitHub stores, and GitHub's limits and messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

COMMENT_BODY_LIMIT = 65_536
CHECK_OUTPUT_LIMIT = 65_535
# GitHub does not document it; driftgate's reference says 255 and the fake holds us to it.
CHECK_TITLE_LIMIT = 255
STATUS_DESCRIPTION_LIMIT = 140
ANNOTATIONS_PER_REQUEST = 50

NOT_ACCESSIBLE = "Resource not accessible by integration"
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "FAKE:0000."
)
DOCS = "https://docs.github.com/rest"

CHECK_STATUSES = {"queued", "in_progress", "completed", "waiting", "requested", "pending"}
CHECK_CREATE_STATUSES = {"queued", "in_progress", "completed"}
CHECK_CONCLUSIONS = {
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
}
STATUS_STATES = {"error", "failure", "pending", "success"}


@dataclass(frozen=True)
class Actor:
    login: str
    id: int
    type: str = "User"


ACTIONS_BOT = Actor("github-actions[bot]", 41898282, "Bot")
OCTOCAT = Actor("octocat", 583231)

WRITE_ALL = {
    "contents": "read",
    "metadata": "read",
    "pull_requests": "write",
    "issues": "write",
    "checks": "write",
    "statuses": "write",
}
READ_ONLY = dict.fromkeys(WRITE_ALL, "read")


@dataclass
class Token:
    name: str
    secret: str = field(repr=False)
    permissions: dict[str, str]
    actor: Actor
    # App installation tokens (GITHUB_TOKEN is one) cannot call GET /user, and are the
    # only ones that may create check runs.
    installation: bool
    used: int = 0

    @property
    def limit(self) -> int:
        return 1000 if self.installation else 5000


@dataclass(frozen=True)
class GitCommit:
    """A commit of the fake's graph: what the compare and commits endpoints walk."""

    sha: str
    parents: tuple[str, ...] = ()
    """First parent first, as git stores them: a merge's first parent is the branch merged
    into."""
    date: str = "2025-01-01T00:00:00Z"
    """The committer date (ISO 8601, UTC): the commits listing is newest first by it."""
    message: str = "A commit"


@dataclass
class Repo:
    id: int
    full_name: str
    owner: Actor
    default_branch: str = "main"
    private: bool = False
    fork: bool = False
    commits: set[str] = field(default_factory=set)
    graph: dict[str, GitCommit] = field(default_factory=dict)
    """Every commit of `commits`, with its parents."""
    branches: dict[str, str] = field(default_factory=dict)
    """Branch name to the sha it points at."""
    # Deleted (a fork gone): 404 to every request, null as a pull request's head repository.
    deleted: bool = False


@dataclass
class Pull:
    repo: str
    number: int
    head_sha: str
    head_ref: str
    head_repo: str
    base_sha: str
    base_ref: str
    author: Actor
    title: str = "A change"
    state: str = "open"
    created_at: str = field(default_factory=lambda: now())


@dataclass
class Comment:
    id: int
    repo: str
    issue: int
    body: str
    author: Actor
    created_at: str
    updated_at: str


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    output: dict[str, Any]
    details_url: str | None = None
    external_id: str | None = None
    annotations: int = 0
    started_at: str | None = None
    completed_at: str | None = None


@dataclass
class Status:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: Actor
    created_at: str


@dataclass
class WorkflowArtifact:
    """An artifact a workflow run uploaded; `data` is its zip as storage serves it."""

    id: int
    repo: str
    run_id: int
    name: str
    data: bytes = field(repr=False)
    head_sha: str
    head_branch: str
    expired: bool = False
    # What the API says of its size; None: the zip's real size.
    declared_size: int | None = None
    created_at: str = ""

    @property
    def size_in_bytes(self) -> int:
        return len(self.data) if self.declared_size is None else self.declared_size


@dataclass
class State:
    """Everything the fake knows; guarded by the server's lock."""

    tokens: dict[str, Token] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    pulls: dict[tuple[str, int], Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    artifacts: dict[int, WorkflowArtifact] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it. `path` has the API prefix removed and
    `/repositories/{id}` resolved to `/repos/{owner}/{repo}`; `token` is the token's name,
    never its secret."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: str | None
    status: int


@dataclass
class Fault:
    """An injected failure for the next `times` requests matching `method` and `path`."""

    status: int
    kind: Literal["secondary", "primary", "server"]
    times: int
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    reset_at: int | None = None
    # The request is carried out, then its answer is replaced: a proxy's 502 after the write.
    after_processing: bool = False
    # Matching requests let through before the fault starts (to fail page 2, say).
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.search(self.path, path) is not None
        )


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Any:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return body


class HTTPError(Exception):
    """An answer other than success, shaped like GitHub's error bodies."""

    def __init__(
        self, status: int, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.response = Response(status, error_body(status, message, errors))


def too_long(resource: str, name: str, limit: int) -> HTTPError:
    return HTTPError(
        422,
        "Validation Failed",
        [
            {
                "resource": resource,
                "code": "custom",
                "field": name,
                "message": f"{name} is too long (maximum is {limit} characters)",
            }
        ],
    )


def invalid(detail: str) -> HTTPError:
    return HTTPError(422, f"Invalid request.\n\n{detail}")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
