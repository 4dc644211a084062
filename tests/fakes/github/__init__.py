"""A GitHub REST API fake served over real HTTP on 127.0.0.1, so that tests drive the real
PyGithub (`Github(base_url=fake.api_url)`) through its real URL building, paging and errors.

It behaves like GitHub where driftgate depends on it:
- every `url`/`html_url` and every `Link` is on the fake's own origin; like GitHub, the
  `Link: rel="next"` of a listing uses the `/repositories/{id}/...` form, so a client that
  rebuilds page URLs itself instead of following them is caught;
- tokens have roles: an Actions-like installation token that can write, a fork pull
  request's read-only token (writes answer 403 "Resource not accessible by integration"),
  a token without `checks: write`, and a personal token. `GET /user` answers 403 for
  installation tokens, as it does for `GITHUB_TOKEN`;
- GitHub's size limits answer 422 (comment body, check-run output, status description);
- secondary rate limits (403 or 429 with `Retry-After`), a spent hourly quota and 5xx are
  injected on demand, a 5xx optionally after the write happened (the answer is lost, the
  comment exists: what duplicates comments in naive clients);
- artifacts registered by tests (`add_artifact`) are listed per run and downloaded as
  GitHub does: a 302 from the API to a storage host (`storage_origin`, the same server
  under the name `localhost`), which refuses a request that carries a token;
- every request is recorded (method, path, query, body, token name) for assertions;
- it is held to GitHub's official REST description (`openapi.py`, switch `conform`, on in
  every test): each JSON answer is validated against the operation's response schema (a
  violation fails the test when the fake stops, naming the operation and the schema path),
  and a request body the description refuses answers 422 as GitHub does.

Usage::

    with FakeGitHub() as fake:
        fake.add_repo("octo/widgets")
        pull = fake.add_pull("octo/widgets", 7)
        client = Github(auth=Auth.Token(fake.token("write")), base_url=fake.api_url)
        ...
        assert not fake.called("GET", "/user")
"""

from tests.fakes.github.model import (
    ACTIONS_BOT,
    NOT_ACCESSIBLE,
    OCTOCAT,
    READ_ONLY,
    WRITE_ALL,
    Actor,
    Call,
    CheckRun,
    Comment,
    Pull,
    Repo,
    Status,
    WorkflowArtifact,
)
from tests.fakes.github.server import FakeGitHub

__all__ = [
    "ACTIONS_BOT",
    "NOT_ACCESSIBLE",
    "OCTOCAT",
    "READ_ONLY",
    "WRITE_ALL",
    "Actor",
    "Call",
    "CheckRun",
    "Comment",
    "FakeGitHub",
    "Pull",
    "Repo",
    "Status",
    "WorkflowArtifact",
]
