"""The history reader (ci/github_ancestry.py): real httpx against the GitHub fake over HTTP,
with commit graphs that have merges (so that first parents matter), long histories (so that
pages matter), and GitHub's refusals. The fake's answers to these endpoints are checked
against GitHub's own REST description, so that the reader is tested against GitHub's shapes,
not ours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from driftgate.ci.github_ancestry import GitHubHistory, HistoryPolicy, HistoryUnavailable
from tests import references
from tests.fakes.github import WRITE_ALL, FakeGitHub

REPO = "octo/widgets"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


def reader(fake: FakeGitHub, token: str = "write", **policy: Any) -> GitHubHistory:
    slept: list[float] = []
    history = GitHubHistory(
        fake.api_url,
        fake.token(token) if token else "",
        REPO,
        policy=HistoryPolicy(sleep=slept.append, **policy),
    )
    history.slept = slept  # type: ignore[attr-defined]
    return history


def line(
    fake: FakeGitHub, count: int, parent: str | None = None, branch: str = "main"
) -> list[str]:
    """`count` commits in a row on `branch`, after `parent`; oldest first."""
    shas: list[str] = []
    for _ in range(count):
        before = shas[-1] if shas else parent
        shas.append(fake.add_commit(REPO, parents=[before] if before else [], branch=branch))
    return shas


def merged_history(fake: FakeGitHub) -> dict[str, str]:
    """main: a - b - M - c, where M merges side (s1, s2: forked from a, newer than b) into
    main; feature forks from M. First parents from feature: f, M, b, a; s1 and s2 are on
    the way only through second parents."""
    a, b = line(fake, 2)
    s1, s2 = line(fake, 2, parent=a, branch="side")
    merge = fake.add_commit(REPO, parents=[b, s2], branch="main", message="Merge side")
    (feature,) = line(fake, 1, parent=merge, branch="feature")
    (c,) = line(fake, 1, parent=merge)
    return {"a": a, "b": b, "s1": s1, "s2": s2, "M": merge, "f": feature, "c": c}


# ---------------------------------------------------------------------------- the merge-base


def test_the_merge_base_comes_from_the_comparison(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    with reader(fake) as github:
        assert github.merge_base("main", g["f"]) == g["M"]
        assert github.merge_base(g["b"], g["f"]) == g["b"]
        assert github.merge_base("side", g["f"]) == g["s2"]
    (first, *_) = fake.called("GET", rf"/repos/{REPO}/compare/.*")
    assert first.path == f"/repos/{REPO}/compare/main...{g['f']}"
    assert first.token == "write"


def test_a_branch_with_a_slash_is_compared_by_its_name(fake: FakeGitHub) -> None:
    (root,) = line(fake, 1)
    (tip,) = line(fake, 1, parent=root, branch="release/1.x")
    (head,) = line(fake, 1, parent=root, branch="feature")
    with reader(fake) as github:
        assert github.merge_base("release/1.x", head) == root
    assert tip


# ---------------------------------------------------------------------------- first parents


def test_first_parents_skip_what_a_merge_brought_in(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    with reader(fake) as github:
        chain = github.first_parents(g["f"], 200)
    assert chain.shas == (g["f"], g["M"], g["b"], g["a"])
    assert chain.cut is None
    # GitHub lists newest first: the side branch's commits come before b in the listing.
    (listing,) = fake.called("GET", rf"/repos/{REPO}/commits")
    assert listing.query == {"sha": g["f"], "per_page": "100"}


def test_a_long_history_is_read_through_the_pages_link(fake: FakeGitHub) -> None:
    shas = line(fake, 250)
    with reader(fake) as github:
        chain = github.first_parents(shas[-1], 200)
        assert github.requests == 2
    assert chain.shas == tuple(reversed(shas))[:200]
    pages = fake.called("GET", rf"/repos/{REPO}/commits")
    # The second page is the one GitHub's Link named (the /repositories/{id} form).
    assert [c.query.get("page") for c in pages] == [None, "2"]


def test_the_limit_and_the_root_end_the_walk(fake: FakeGitHub) -> None:
    shas = line(fake, 5)
    with reader(fake) as github:
        assert github.first_parents(shas[-1], 3).shas == tuple(reversed(shas))[:3]
        assert github.first_parents(shas[-1], 50).shas == tuple(reversed(shas))
        with pytest.raises(ValueError, match="at least 1"):
            github.first_parents(shas[-1], 0)


def test_a_first_parent_the_next_page_does_not_hold_is_listed_from_itself(
    fake: FakeGitHub,
) -> None:
    # main's own commits are older than the 250 commits of a branch merged into it: newest
    # first, the listing from the merge shows the whole branch before main's next commit.
    main = line(fake, 4)
    branch = line(fake, 250, parent=main[0], branch="big")
    merge = fake.add_commit(REPO, parents=[main[-1], branch[-1]], branch="main")
    with reader(fake) as github:
        chain = github.first_parents(merge, 200)
    assert chain.shas == (merge, *reversed(main))
    listings = fake.called("GET", rf"/repos/{REPO}/commits")
    # Page 1 from the merge; page 2 (the Link) still inside the branch; then from main[-1].
    assert [(c.query.get("sha"), c.query.get("page")) for c in listings] == [
        (merge, None),
        (merge, "2"),
        (main[-1], None),
    ]


def test_a_walk_cut_by_the_budget_keeps_what_it_read(fake: FakeGitHub) -> None:
    shas = line(fake, 250)
    with reader(fake, max_requests=2) as github:
        chain = github.first_parents(shas[-1], 250)
    assert chain.shas == tuple(reversed(shas))[:200]
    assert chain.cut is not None and "stopped after 2 requests" in chain.cut


# ---------------------------------------------------------------------------- refusals


def test_an_unknown_commit_is_a_404_that_says_what_to_check(fake: FakeGitHub) -> None:
    line(fake, 2)
    with reader(fake) as github, pytest.raises(HistoryUnavailable) as caught:
        github.merge_base("main", "f" * 40)
    assert caught.value.status == 404
    message = str(caught.value)
    assert "404 Not Found" in message
    assert "never pushed" in message and "contents: read" in message
    assert fake.token("write") not in message


def test_unrelated_histories_have_no_merge_base(fake: FakeGitHub) -> None:
    line(fake, 2)
    (lonely,) = line(fake, 1, branch="orphan")
    with reader(fake) as github, pytest.raises(HistoryUnavailable, match="No common ancestor"):
        github.merge_base("main", lonely)


def test_a_token_without_contents_read_on_a_private_repository_is_a_403(
    fake: FakeGitHub,
) -> None:
    private = "octo/secret"
    fake.add_repo(private, private=True)
    root = fake.add_commit(private, branch="main")
    fake.add_token("no-contents", WRITE_ALL | {"contents": "none"})
    with (
        GitHubHistory(fake.api_url, fake.token("no-contents"), private) as github,
        pytest.raises(HistoryUnavailable) as caught,
    ):
        github.first_parents(root, 10)
    assert caught.value.status == 403
    assert "Resource not accessible by integration" in str(caught.value)
    assert "`contents: read`" in str(caught.value)
    with GitHubHistory(fake.api_url, fake.token("write"), private) as github:
        assert github.first_parents(root, 10).shas == (root,)


def test_a_refused_token_is_a_401_naming_the_input(fake: FakeGitHub) -> None:
    (root,) = line(fake, 1)
    with (
        GitHubHistory(fake.api_url, "ghs_not_a_token", REPO) as github,
        pytest.raises(HistoryUnavailable) as caught,
    ):
        github.first_parents(root, 10)
    assert caught.value.status == 401
    assert "Bad credentials" in str(caught.value) and "github-token" in str(caught.value)
    assert "ghs_not_a_token" not in str(caught.value)


# ---------------------------------------------------------------------------- retries


def test_a_server_error_is_retried(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    fake.server_error(1, status=502, path="/compare/")
    with reader(fake) as github:
        assert github.merge_base("main", g["f"]) == g["M"]
        assert github.slept == [0.5]  # type: ignore[attr-defined]
    assert [c.status for c in fake.called("GET", r".*/compare/.*")] == [502, 200]


def test_server_errors_past_the_attempts_are_unavailable(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    fake.server_error(10, status=500, path="/compare/")
    with reader(fake) as github, pytest.raises(HistoryUnavailable) as caught:
        github.merge_base("main", g["f"])
    assert "did not answer the comparison main..." in str(caught.value)
    assert "last: 500 Server Error" in str(caught.value)
    assert github.slept == [0.5, 1.0]  # type: ignore[attr-defined]
    assert len(fake.called("GET", r".*/compare/.*")) == 3


def test_a_secondary_rate_limit_waits_what_github_asks(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    fake.rate_limit(1, status=403, retry_after=2, path="/commits")
    with reader(fake) as github:
        assert github.first_parents(g["f"], 10).shas[0] == g["f"]
        assert github.slept == [2.0]  # type: ignore[attr-defined]


def test_a_spent_hourly_quota_is_not_waited_for(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    fake.primary_rate_limit(5, path="/compare/")
    with reader(fake) as github, pytest.raises(HistoryUnavailable, match="rate limit"):
        github.merge_base("main", g["f"])
    assert github.slept == []  # type: ignore[attr-defined]
    assert len(fake.called("GET", r".*/compare/.*")) == 1


# ---------------------------------------------------------------------------- odd answers


def _page(sha: str, parent: str | None, link: str | None = None) -> httpx.Response:
    body = [{"sha": sha, "parents": [{"sha": parent, "url": "u"}] if parent else []}]
    headers = {"Link": f'<{link}>; rel="next"'} if link else {}
    return httpx.Response(200, json=body, headers=headers)


def test_the_token_never_follows_a_link_to_another_origin() -> None:
    a, b = "a" * 40, "b" * 40
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("sha") == a:
            return _page(a, b, link="https://elsewhere.example/steal?page=2")
        return _page(b, None)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with GitHubHistory("https://api.github.com", "ghs_secret", REPO, http=http) as github:
        assert github.first_parents(a, 10).shas == (a, b)
    assert {r.url.host for r in seen} == {"api.github.com"}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, text="<html>"), "not JSON"),
        (httpx.Response(200, json={"message": "hi"}), "not a list|else than a list"),
        (httpx.Response(200, json=[{"sha": "nope"}]), "no commit"),
        (httpx.Response(200, json=[]), "does not start with it"),
    ],
)
def test_an_answer_that_is_not_a_commit_listing_is_unavailable(
    response: httpx.Response, expected: str
) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda _request: response))
    with (
        GitHubHistory("https://api.github.com", "t", REPO, http=http) as github,
        pytest.raises(HistoryUnavailable, match=expected),
    ):
        github.first_parents("a" * 40, 10)


def test_a_comparison_without_a_merge_base_is_unavailable() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200, json={})))
    with (
        GitHubHistory("https://ghe.example/api/v3", "t", REPO, http=http) as github,
        pytest.raises(HistoryUnavailable, match=r"without a `merge_base_commit\.sha`"),
    ):
        github.merge_base("main", "a" * 40)


def test_no_server_is_unavailable_after_the_attempts() -> None:
    with (
        GitHubHistory(
            "http://127.0.0.1:9", "t", REPO, policy=HistoryPolicy(sleep=lambda _s: None)
        ) as github,
        pytest.raises(HistoryUnavailable, match="connection failed"),
    ):
        github.merge_base("main", "a" * 40)


# ---------------------------------------------------------------------------- GitHub's shapes


def _description() -> dict[str, Any]:
    description = references.reference(references.REST_DESCRIPTION)
    paths: dict[str, Any] = json.loads(description.read_text())["paths"]
    return paths


def test_the_fakes_answers_match_githubs_description(fake: FakeGitHub) -> None:
    paths = _description()
    g = merged_history(fake)

    def check(url: str, operation: str, status: int) -> None:
        response = httpx.get(
            fake.api_url + url, headers={"Authorization": f"Bearer {fake.token('write')}"}
        )
        assert response.status_code == status, response.text
        answers = paths[operation]["get"]["responses"][str(status)]
        schema = answers["content"]["application/json"]["schema"]
        OAS30Validator(schema).validate(response.json())

    check(f"/repos/{REPO}/compare/main...{g['f']}", "/repos/{owner}/{repo}/compare/{basehead}", 200)
    check(
        f"/repos/{REPO}/compare/side...{g['f']}?per_page=1",
        "/repos/{owner}/{repo}/compare/{basehead}",
        200,
    )
    check(
        f"/repos/{REPO}/compare/main...{'f' * 40}", "/repos/{owner}/{repo}/compare/{basehead}", 404
    )
    check(f"/repos/{REPO}/commits?sha={g['M']}", "/repos/{owner}/{repo}/commits", 200)
    check(f"/repos/{REPO}/commits?sha={'f' * 40}", "/repos/{owner}/{repo}/commits", 404)
    check(f"/repos/{REPO}/commits/{g['M']}", "/repos/{owner}/{repo}/commits/{ref}", 200)
    check(f"/repos/{REPO}/commits/{'f' * 40}", "/repos/{owner}/{repo}/commits/{ref}", 422)


def test_the_fakes_comparison_counts_like_github(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    body = httpx.get(f"{fake.api_url}/repos/{REPO}/compare/side...{g['c']}").json()
    assert body["merge_base_commit"]["sha"] == g["s2"]
    assert body["status"] == "ahead"
    # b, M, c are in c's history and not in side's; oldest first.
    assert [c["sha"] for c in body["commits"]] == [g["b"], g["M"], g["c"]]
    assert body["ahead_by"] == body["total_commits"] == 3 and body["behind_by"] == 0
    merge = body["commits"][1]
    assert [p["sha"] for p in merge["parents"]] == [g["b"], g["s2"]]
    body = httpx.get(f"{fake.api_url}/repos/{REPO}/compare/c...{g['f']}").json()
    assert body == {
        "message": "Not Found",
        "documentation_url": body["documentation_url"],
        "status": "404",
    }
    body = httpx.get(f"{fake.api_url}/repos/{REPO}/compare/{g['c']}...{g['f']}").json()
    assert body["status"] == "diverged" and body["merge_base_commit"]["sha"] == g["M"]


def test_a_slow_github_is_given_up_on_within_the_lookups_time(fake: FakeGitHub) -> None:
    g = merged_history(fake)
    fake.server_error(10, status=503, path="/commits")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds + 25  # each answer came slowly too

    policy = HistoryPolicy(sleep=sleep, clock=lambda: now[0], max_seconds=40.0)
    with (
        GitHubHistory(fake.api_url, fake.token("write"), REPO, policy=policy) as github,
        pytest.raises(HistoryUnavailable, match=r"stopped after 40 s.*last: 503"),
    ):
        github.first_parents(g["f"], 10)
    assert len(fake.called("GET", rf"/repos/{REPO}/commits")) == 2
