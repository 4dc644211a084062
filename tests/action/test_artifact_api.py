"""A run's artifact through GitHub's API, with the real PyGithub against the fake: listed by
name, downloaded through the 302 to storage without the token, no further than the limit.
The fake's artifact answers are checked against GitHub's REST description."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from driftgate.action.github import (
    ArtifactTooLarge,
    GitHubNotFound,
    GitHubRejected,
    GitHubReporter,
    RetryPolicy,
    connect,
)
from tests import references
from tests.fakes.github import WRITE_ALL, FakeGitHub

REPO = "acme/bot"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        server.add_token("publish", WRITE_ALL | {"actions": "read"})
        yield server


def reporter(fake: FakeGitHub, token: str = "publish") -> GitHubReporter:
    client = connect(
        fake.token(token), fake.api_url, seconds_between_requests=None, seconds_between_writes=None
    )
    return GitHubReporter(client, REPO, RetryPolicy(sleep=lambda _s: None))


def _operation(path: str) -> dict[str, Any]:
    spec = references.reference(references.REST_DESCRIPTION)
    operation: dict[str, Any] = json.loads(spec.read_text())["paths"][path]["get"]
    return operation


def test_the_fakes_artifact_answers_are_githubs(fake: FakeGitHub) -> None:
    artifact = fake.add_artifact(REPO, 5, b"PK zip", head_sha="a" * 40)
    fake.add_artifact(REPO, 5, b"other", name="coverage")
    headers = {"Authorization": f"token {fake.token('publish')}"}
    api = f"{fake.api_url}/repos/{REPO}/actions"

    listed = httpx.get(
        f"{api}/runs/5/artifacts", headers=headers, params={"name": "driftgate-report"}
    )
    schema = _operation("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts")["responses"]["200"]
    OAS30Validator(schema["content"]["application/json"]["schema"]).validate(listed.json())
    assert [a["name"] for a in listed.json()["artifacts"]] == ["driftgate-report"]

    download = _operation("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}")
    zipped = httpx.get(f"{api}/artifacts/{artifact.id}/zip", headers=headers)
    assert str(zipped.status_code) in download["responses"]
    assert zipped.status_code == 302
    location = zipped.headers["location"]
    assert httpx.URL(location).host == "localhost"  # another host than the API's
    assert httpx.get(location).content == b"PK zip"
    # Storage refuses the token, as Azure's does: a client must not send it there.
    assert httpx.get(location, headers=headers).status_code == 400

    artifact.expired = True
    gone = httpx.get(f"{api}/artifacts/{artifact.id}/zip", headers=headers)
    assert gone.status_code == 410
    assert str(gone.status_code) in download["responses"]


def test_the_newest_artifact_of_that_name_is_downloaded_without_the_token(
    fake: FakeGitHub,
) -> None:
    fake.add_artifact(REPO, 5, b"old", head_sha="a" * 40)
    newest = fake.add_artifact(REPO, 5, b"new zip", head_sha="b" * 40)
    fake.add_artifact(REPO, 5, b"x", name="coverage")
    fake.add_artifact(REPO, 6, b"x")
    github = reporter(fake)
    found = github.run_artifact(5, "driftgate-report")
    assert found is not None
    assert (found.id, found.size_in_bytes, found.head_sha) == (newest.id, 7, "b" * 40)
    assert github.download_artifact(found, 1000) == b"new zip"
    assert github.run_artifact(5, "missing") is None
    assert github.run_artifact(99, "driftgate-report") is None
    (stored,) = fake.called("GET", r"/_storage/.*")
    assert stored.token is None
    assert all(c.token == "publish" for c in fake.calls if not c.path.startswith("/_storage/"))
    # One request per listing, one for the 302, one to storage: nothing else is fetched.
    assert [c.path.rsplit("/", 1)[-1] for c in fake.calls] == [
        "artifacts",
        "zip",
        f"{newest.id}.zip",
        "artifacts",
        "artifacts",
    ]


def test_sizes_beyond_the_limit_are_not_downloaded(fake: FakeGitHub) -> None:
    github = reporter(fake)
    fake.add_artifact(REPO, 5, b"x" * 100, declared_size=200 * 1024 * 1024)
    found = github.run_artifact(5, "driftgate-report")
    assert found is not None
    with pytest.raises(ArtifactTooLarge) as declared:
        github.download_artifact(found, 1000)
    assert declared.value.size == 200 * 1024 * 1024
    assert fake.called("GET", r".*/zip") == []  # not even asked for

    # What the API says is small, what storage serves is not: cut at the limit.
    fake.add_artifact(REPO, 6, b"y" * 5000, name="liar", declared_size=10)
    liar = github.run_artifact(6, "liar")
    assert liar is not None
    with pytest.raises(ArtifactTooLarge):
        github.download_artifact(liar, 1000)


def test_refusals_name_the_missing_permission_and_the_expiry(fake: FakeGitHub) -> None:
    artifact = fake.add_artifact(REPO, 5, b"zip")
    with pytest.raises(GitHubRejected, match="give the job `actions: read`"):
        reporter(fake, "write").run_artifact(5, "driftgate-report")
    github = reporter(fake)
    found = github.run_artifact(5, "driftgate-report")
    assert found is not None
    artifact.expired = True
    with pytest.raises(GitHubNotFound, match="gone"):
        github.download_artifact(found, 1000)


def test_storage_failures_are_retried(fake: FakeGitHub) -> None:
    fake.add_artifact(REPO, 5, b"zip")
    fake.server_error(1, path=r"/zip$")
    github = reporter(fake)
    found = github.run_artifact(5, "driftgate-report")
    assert found is not None
    assert github.download_artifact(found, 1000) == b"zip"
    assert [c.status for c in fake.called("GET", r".*/zip")] == [502, 302]


def test_open_pull_requests_are_found_by_head(fake: FakeGitHub) -> None:
    fork = fake.add_pull(REPO, 9, head_repo="stranger/bot", head_ref="feature")
    fake.add_pull(REPO, 10, head_ref="feature")  # the same branch name, in this repository
    closed = fake.add_pull(REPO, 11, head_repo="stranger/bot", head_ref="feature")
    closed.state = "closed"
    found = reporter(fake).open_pull_requests("stranger", "feature")
    assert [(p.number, p.head_sha, p.head_repository) for p in found] == [
        (9, fork.head_sha, "stranger/bot")
    ]
    assert reporter(fake).open_pull_requests("stranger", "other") == []
