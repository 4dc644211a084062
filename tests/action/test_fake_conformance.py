"""The GitHub fake held to GitHub's official REST description (`@octokit/openapi`): its
answers are validated against it, it refuses the request bodies GitHub refuses, and it can
serve what GitHub serves that driftgate must cope with (a pull request whose fork is gone)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftgate.action.github import GitHubReporter, RetryPolicy, connect
from tests.fakes.github import FakeGitHub, Pull, openapi, server
from tests.fakes.github.model import Comment
from tests.fakes.github.shapes import Shapes

REPO = "octo/widgets"
CHECKS = "/repos/octo/widgets/check-runs"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


@pytest.fixture
def pull(fake: FakeGitHub) -> Pull:
    return fake.add_pull(REPO, 7)


def _send(
    fake: FakeGitHub, method: str, path: str, body: object = None, token: str = "write"
) -> tuple[int, Any]:
    request = urllib.request.Request(
        fake.api_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {fake.token(token)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def reporter(fake: FakeGitHub) -> GitHubReporter:
    client = connect(
        fake.token("write"),
        fake.api_url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    return GitHubReporter(client, REPO, RetryPolicy(sleep=lambda _s: None))


# ------------------------------------------------------------------ answers are validated


class _CommentWithoutId(Shapes):
    def comment(self, comment: Comment) -> dict[str, Any]:
        data = super().comment(comment)
        del data["id"]
        data["created_at"] = 12
        return data


def test_an_answer_off_the_description_fails_the_test_naming_operation_and_schema() -> None:
    fake = FakeGitHub().start()
    try:
        fake.add_repo(REPO)
        fake.add_pull(REPO, 7)
        shapes = fake._routes.shapes
        fake._routes.shapes = _CommentWithoutId(shapes.origin, shapes.api_url, shapes.repo)

        status, _ = _send(fake, "POST", "/repos/octo/widgets/issues/7/comments", {"body": "x"})
    finally:
        fake.stop()

    assert status == 201  # the client gets the answer; the test fails when the fake stops
    [violation] = fake.violations
    assert violation.operation == (
        "issues/create-comment: POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
    )
    with pytest.raises(AssertionError) as failure:
        fake.__exit__(None, None, None)
    message = str(failure.value)
    assert "POST /repos/octo/widgets/issues/7/comments with 201" in message
    assert "body: 'id' is a required property (schema path: required)" in message
    assert (
        "body.created_at: 12 is not of type 'string' (schema path: properties/created_at/type)"
        in message
    )


def test_a_success_the_operation_does_not_list_is_a_violation() -> None:
    description = openapi.description()

    wrong_status = description.check("POST", "/repos/o/r/issues/7/comments", 200, {})
    unknown = description.check("GET", "/repos/o/r/no-such-thing", 200, {})
    not_found = description.check("GET", "/repos/o/r/no-such-thing", 404, {"message": "Not Found"})
    no_body = description.check("DELETE", "/repos/o/r/issues/comments/1", 204, None)
    a_body = description.check("DELETE", "/repos/o/r/issues/comments/1", 204, {"x": 1})

    assert wrong_status is not None
    assert "status 200 is not an answer of this operation (it lists 201" in str(wrong_status)
    assert unknown is not None and unknown.operation == "no such operation"
    assert not_found is None
    assert no_body is None
    assert a_body is not None and "has no body" in str(a_body)


def test_undocumented_errors_must_still_be_githubs_error_shape() -> None:
    description = openapi.description()

    fine = description.check("GET", "/repos/o/r", 503, {"message": "Server Error"})
    off = description.check("GET", "/repos/o/r", 503, {"message": 503})

    assert fine is None
    assert off is not None and "body.message" in str(off)


def test_every_shape_the_fake_serves_conforms(fake: FakeGitHub, pull: Pull) -> None:
    """One request per operation the fake serves, answers and errors, each validated."""
    sha = pull.head_sha
    comment = fake.add_comment(REPO, 7, "hello")
    fake.add_pull(REPO, 8, head_repo="contrib/widgets")
    check = {"name": "n", "head_sha": sha, "status": "completed", "conclusion": "success"}
    requests: list[tuple[str, str, object, str, int]] = [
        ("GET", "/user", None, "personal", 200),
        ("GET", "/user", None, "write", 403),
        ("GET", "/repos/octo/widgets", None, "write", 200),
        ("GET", "/repos/octo/widgets/pulls/7", None, "write", 200),
        ("GET", "/repos/octo/widgets/pulls/8", None, "write", 200),
        ("GET", "/repos/octo/widgets/issues/7", None, "write", 200),
        ("GET", "/repos/octo/widgets/issues/7/comments", None, "write", 200),
        ("POST", "/repos/octo/widgets/issues/7/comments", {"body": "x"}, "write", 201),
        ("POST", "/repos/octo/widgets/issues/7/comments", {"body": "x"}, "fork", 403),
        ("GET", f"/repos/octo/widgets/issues/comments/{comment.id}", None, "write", 200),
        ("PATCH", f"/repos/octo/widgets/issues/comments/{comment.id}", {"body": "y"}, "write", 200),
        ("PATCH", f"/repos/octo/widgets/issues/comments/{comment.id}", {"body": ""}, "write", 422),
        ("DELETE", f"/repos/octo/widgets/issues/comments/{comment.id}", None, "write", 204),
        ("DELETE", f"/repos/octo/widgets/issues/comments/{comment.id}", None, "write", 404),
        ("POST", CHECKS, check | {"output": {"title": "t", "summary": "s"}}, "write", 201),
        ("GET", f"/repos/octo/widgets/commits/{sha}/check-runs", None, "write", 200),
        ("GET", f"/repos/octo/widgets/commits/{sha}", None, "write", 200),
        ("POST", f"/repos/octo/widgets/statuses/{sha}", {"state": "success"}, "write", 201),
        ("GET", f"/repos/octo/widgets/commits/{sha}/statuses", None, "write", 200),
        ("GET", "/repos/octo/widgets/pulls/99", None, "write", 404),
    ]

    answers = [(m, p, _send(fake, m, p, b, t)[0]) for m, p, b, t, _ in requests]

    assert answers == [(m, p, expected) for m, p, _, _, expected in requests]
    run_id = fake.check_runs(REPO)[0].id
    assert _send(fake, "GET", f"{CHECKS}/{run_id}")[0] == 200
    assert _send(fake, "PATCH", f"{CHECKS}/{run_id}", {"conclusion": "failure"})[0] == 200
    assert fake.violations == []


# ------------------------------------------------------------------ what GitHub refuses


@pytest.mark.parametrize(
    ("method", "body", "detail"),
    [
        (
            "POST",
            {"status": "pending"},
            "For 'properties/status', \"pending\" is not a member of "
            '["queued", "in_progress", "completed"].',
        ),
        (
            "POST",
            {"status": "completed", "conclusion": "passed"},
            "For 'properties/conclusion', \"passed\" is not a member of",
        ),
        ("POST", {"conclusion": "stale"}, "Only GitHub can set a check run's conclusion to stale."),
        ("POST", {"output": {"title": "t"}}, '"summary" wasn\'t supplied.'),
        ("PATCH", {"status": "completed"}, '"conclusion" wasn\'t supplied.'),
    ],
)
def test_the_fake_refuses_check_runs_github_refuses(
    fake: FakeGitHub, pull: Pull, method: str, body: dict[str, Any], detail: str
) -> None:
    if method == "PATCH":
        made = {"name": "n", "head_sha": pull.head_sha, "status": "in_progress"}
        status, run = _send(fake, "POST", CHECKS, made)
        assert status == 201
        status, answer = _send(fake, "PATCH", f"{CHECKS}/{run['id']}", body)
    else:
        status, answer = _send(
            fake, "POST", CHECKS, {"name": "n", "head_sha": pull.head_sha} | body
        )

    assert status == 422
    assert answer["message"].startswith("Invalid request.\n\n")
    assert detail in answer["message"]
    assert all(run.status != "pending" for run in fake.check_runs(REPO))
    # The description refuses all but `stale`, which only its prose forbids.
    from_description = [r for r in fake.refusals if r.startswith(f"{method} {CHECKS}")]
    assert len(from_description) == (0 if "stale" in detail else 1)
    assert all(r.endswith(answer["message"].split("\n\n", 1)[1]) for r in from_description)


def test_the_fake_refuses_statuses_and_comments_github_refuses(
    fake: FakeGitHub, pull: Pull
) -> None:
    statuses = f"/repos/octo/widgets/statuses/{pull.head_sha}"

    assert _send(fake, "POST", statuses, {"state": "neutral"})[0] == 422
    assert _send(fake, "POST", statuses, {"description": "no state"})[0] == 422
    assert _send(fake, "POST", "/repos/octo/widgets/issues/7/comments", {"body": 7})[0] == 422
    assert fake.statuses(REPO) == []
    assert fake.comments(REPO, 7) == []


def test_a_pull_request_whose_fork_was_deleted_has_no_head_repository(fake: FakeGitHub) -> None:
    forked = fake.add_pull(REPO, 9, head_repo="gone/widgets")
    fake.delete_repo("gone/widgets")

    status, raw = _send(fake, "GET", "/repos/octo/widgets/pulls/9")
    github = reporter(fake)
    info = github.pull_request(9)
    posted = github.upsert_comment(9, "qa", "report", head_sha=forked.head_sha)

    assert status == 200
    assert raw["head"]["repo"] is None
    assert raw["head"]["sha"] == forked.head_sha
    assert (info.head_repository, info.is_fork, info.head_sha) == (None, True, forked.head_sha)
    assert posted.written
    assert _send(fake, "GET", "/repos/gone/widgets")[0] == 404
    assert fake.violations == []


# ------------------------------------------------------------------ the description itself


def test_a_missing_description_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "api.github.com.deref.json"
    monkeypatch.setattr(server, "description", lambda: openapi.load(missing))

    with pytest.raises(openapi.DescriptionMissing) as error, FakeGitHub():
        pass

    assert "npm ci --prefix tests/external" in str(error.value)
    assert str(missing) in str(error.value)


def test_the_description_is_parsed_once_per_session() -> None:
    assert openapi.description() is openapi.description()
    with FakeGitHub() as one, FakeGitHub() as two:
        assert one._description is two._description is openapi.description()
