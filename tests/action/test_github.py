"""driftgate.action.github with the real PyGithub against the GitHub fake, over HTTP."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from github import Auth, Github, GithubRetry

from driftgate.action.github import (
    CannotWrite,
    CheckResult,
    CommentOutcome,
    GitHubNotFound,
    GitHubRejected,
    GitHubReporter,
    GitHubUnavailable,
    RetryPolicy,
    StatusResult,
    check_name,
    comment_marker,
    connect,
    permissions_block,
    same_report,
)
from driftgate.report.limits import COMMENT_LIMIT
from tests.fakes.github import ACTIONS_BOT, NOT_ACCESSIBLE, FakeGitHub, Pull

REPO = "octo/widgets"
PIPELINE = "qa"
MARKER = "<!-- driftgate:octo/widgets:qa -->"
NOW = 1_700_000_000.0
COMMENTS = r"/repos/octo/widgets/issues/7/comments"
COMMENT = r"/repos/octo/widgets/issues/comments/\d+"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running
        # driftgate never sends what GitHub's description refuses.
        assert running.refusals == []


@pytest.fixture
def pull(fake: FakeGitHub) -> Pull:
    return fake.add_pull(REPO, 7)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def reporter(
    fake: FakeGitHub, sleeps: list[float], token: str = "write", secret: str | None = None
) -> GitHubReporter:
    client = connect(
        secret or fake.token(token),
        fake.api_url,
        timeout=10,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    policy = RetryPolicy(sleep=sleeps.append, clock=lambda: NOW, jitter=lambda: 0.5)
    return GitHubReporter(client, REPO, policy)


# ------------------------------------------------------------------ the sticky comment


def test_first_run_creates_one_comment_and_one_check_on_the_head(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)

    comment = github.upsert_comment(7, PIPELINE, "## driftgate: pass", head_sha=pull.head_sha)
    check = github.publish_verdict(
        pull.head_sha, PIPELINE, conclusion="success", title="pass", summary="all good"
    )

    [stored] = fake.comments(REPO, 7)
    assert comment.outcome is CommentOutcome.CREATED
    assert comment.url == f"{fake.origin}/octo/widgets/pull/7#issuecomment-{stored.id}"
    assert stored.author == ACTIONS_BOT
    assert stored.body.splitlines()[:3] == [
        MARKER,
        f"<!-- driftgate-head:{pull.head_sha} -->",
        "## driftgate: pass",
    ]
    [run] = fake.check_runs(REPO)
    assert isinstance(check, CheckResult)
    assert check.created
    assert (run.name, run.head_sha, run.status, run.conclusion) == (
        "driftgate / qa",
        pull.head_sha,
        "completed",
        "success",
    )
    assert run.output == {"title": "pass", "summary": "all good", "text": None}
    assert [(c.method, c.path) for c in fake.writes()] == [
        ("POST", COMMENTS),
        ("POST", "/repos/octo/widgets/check-runs"),
    ]
    assert not fake.called("GET", "/user")
    assert not fake.statuses(REPO)
    assert sleeps == []


def test_rerun_and_new_push_update_the_same_comment_and_never_ask_who_we_are(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    old_head = pull.head_sha
    first = github.upsert_comment(7, PIPELINE, "attempt 1", head_sha=old_head)
    github.publish_check(old_head, PIPELINE, conclusion="failure", title="t", summary="1")

    rerun = github.upsert_comment(7, PIPELINE, "attempt 2", head_sha=old_head)
    rerun_check = github.publish_check(
        old_head, PIPELINE, conclusion="success", title="t", summary="2"
    )
    new_head = fake.push(REPO, 7)
    pushed = github.upsert_comment(7, PIPELINE, "after push", head_sha=new_head)
    github.publish_check(new_head, PIPELINE, conclusion="neutral", title="t", summary="3")

    assert rerun.outcome is pushed.outcome is CommentOutcome.UPDATED
    assert first.comment_id == rerun.comment_id == pushed.comment_id
    assert first.url == pushed.url
    [stored] = fake.comments(REPO, 7)
    assert stored.body.endswith("after push")
    assert f"<!-- driftgate-head:{new_head} -->" in stored.body
    assert len(fake.called("POST", COMMENTS)) == 1
    assert len(fake.called("PATCH", COMMENT)) == 2
    assert not fake.called("GET", "/user")
    # A re-run updates the check of its commit; a new push gets a check of its own.
    assert not rerun_check.created
    [old_check] = fake.check_runs(REPO, old_head)
    [new_check] = fake.check_runs(REPO, new_head)
    assert (old_check.conclusion, old_check.output["summary"]) == ("success", "2")
    assert new_check.conclusion == "neutral"


def test_on_change_keeps_a_comment_that_holds_the_same_report(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    first_head = pull.head_sha
    body = "## driftgate: pass\n\n| metric | delta |\n\n<sub>head {sha} · workflow run {run}</sub>"
    github.upsert_comment(7, PIPELINE, body.format(sha=first_head, run=1), head_sha=first_head)
    new_head = fake.push(REPO, 7)
    fake.clear_calls()

    # The same results for a new push: only the footer (head, run) differs.
    same = github.upsert_comment(
        7, PIPELINE, body.format(sha=new_head, run=2), head_sha=new_head, unless_same=True
    )
    assert same.outcome is CommentOutcome.UNCHANGED
    assert fake.writes() == []
    assert not fake.called("GET", "/repos/octo/widgets/pulls/7")  # one read was enough
    [stored] = fake.comments(REPO, 7)
    assert f"<!-- driftgate-head:{first_head} -->" in stored.body

    # Different results are written, markers and all.
    changed = github.upsert_comment(
        7, PIPELINE, "## driftgate: fail", head_sha=new_head, unless_same=True
    )
    assert changed.outcome is CommentOutcome.UPDATED
    [stored] = fake.comments(REPO, 7)
    assert stored.body.splitlines()[1:] == [
        f"<!-- driftgate-head:{new_head} -->",
        "## driftgate: fail",
    ]


def test_same_report_ignores_only_markers_and_the_footer() -> None:
    report = "## driftgate: pass\n\nrow\n\n<sub>head abc · run 1</sub>\n"
    assert same_report(f"{MARKER}\n<!-- driftgate-head:{'a' * 40} -->\n{report}", report)
    assert same_report(report, report.replace("run 1", "run 2"))
    assert not same_report(report, report.replace("row", "another row"))
    assert not same_report(report, report.replace("pass", "fail"))


def test_an_identical_report_is_not_written_again(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    github.upsert_comment(7, PIPELINE, "## driftgate: pass", head_sha=pull.head_sha)
    fake.clear_calls()

    again = github.upsert_comment(7, PIPELINE, "## driftgate: pass", head_sha=pull.head_sha)

    assert again.outcome is CommentOutcome.UNCHANGED
    assert fake.writes() == []


def test_our_comment_on_page_3_is_found(fake: FakeGitHub, pull: Pull, sleeps: list[float]) -> None:
    fake.add_comments(REPO, 7, 230)
    ours = fake.add_comment(
        REPO, 7, f"{MARKER}\n<!-- driftgate-head:{pull.head_sha} -->\nold", author=ACTIONS_BOT
    )
    fake.add_comments(REPO, 7, 40, body="later")

    result = reporter(fake, sleeps).upsert_comment(7, PIPELINE, "new", head_sha=pull.head_sha)

    assert result.outcome is CommentOutcome.UPDATED
    assert result.comment_id == ours.id
    pages = [c.query.get("page", "1") for c in fake.called("GET", COMMENTS)]
    assert pages == ["1", "2", "3"]
    assert all(c.query["per_page"] == "100" for c in fake.called("GET", COMMENTS))
    assert [(c.method, c.path) for c in fake.writes()] == [
        ("PATCH", f"/repos/octo/widgets/issues/comments/{ours.id}")
    ]
    assert len(fake.comments(REPO, 7)) == 271


def test_comments_that_only_resemble_ours_are_not_touched(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    lookalikes = [
        "<!-- driftgate:octo/widgets:qa-nightly -->\nanother pipeline",
        "<!-- driftgate:octo/widgets:q -->\na prefix of ours",
        "<!-- driftgate:octo/gadgets:qa -->\nanother repository",
        f"> {MARKER}\n> quoting the bot",
        f"Why does the bot write\n{MARKER}\nin its comments?",
        "<!-- driftgate:octo/widgets:qa->\nbroken",
    ]
    for body in lookalikes:
        fake.add_comment(REPO, 7, body)

    result = reporter(fake, sleeps).upsert_comment(7, PIPELINE, "ours", head_sha=pull.head_sha)

    assert result.outcome is CommentOutcome.CREATED
    bodies = [c.body for c in fake.comments(REPO, 7)]
    assert bodies[:-1] == lookalikes
    assert bodies[-1].startswith(MARKER + "\n")
    assert [c.method for c in fake.writes()] == ["POST"]


def test_a_marker_in_the_rendered_body_is_not_doubled(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    body = f"{MARKER}\n<!-- driftgate-head:{'0' * 40} -->\n## report"

    reporter(fake, sleeps).upsert_comment(7, PIPELINE, body, head_sha=pull.head_sha)

    [stored] = fake.comments(REPO, 7)
    assert stored.body == f"{MARKER}\n<!-- driftgate-head:{pull.head_sha} -->\n## report"


def test_a_run_for_an_older_head_does_not_overwrite_the_newer_report(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    old_head = pull.head_sha
    new_head = fake.push(REPO, 7)
    github.upsert_comment(7, PIPELINE, "report for the new head", head_sha=new_head)
    fake.clear_calls()

    late = github.upsert_comment(7, PIPELINE, "report for the old head", head_sha=old_head)

    assert late.outcome is CommentOutcome.STALE
    assert not late.written
    assert fake.writes() == []
    [stored] = fake.comments(REPO, 7)
    assert stored.body.endswith("report for the new head")
    assert late.url is not None and late.url.endswith(f"#issuecomment-{stored.id}")
    # Its check run still lands on its own commit.
    github.publish_check(old_head, PIPELINE, conclusion="failure", title="t", summary="s")
    assert [r.head_sha for r in fake.check_runs(REPO)] == [old_head]


def test_an_older_head_fills_the_place_until_the_current_head_reports(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    old_head = pull.head_sha
    github.upsert_comment(7, PIPELINE, "first push", head_sha=old_head)
    second = fake.push(REPO, 7)
    third = fake.push(REPO, 7)

    # The second push's run ends while the third's is still running: nothing newer to keep.
    middle = github.upsert_comment(7, PIPELINE, "second push", head_sha=second)
    current = github.upsert_comment(7, PIPELINE, "third push", head_sha=third)
    late = github.upsert_comment(7, PIPELINE, "second push, re-run", head_sha=second)

    assert (middle.outcome, current.outcome, late.outcome) == (
        CommentOutcome.UPDATED,
        CommentOutcome.UPDATED,
        CommentOutcome.STALE,
    )
    [stored] = fake.comments(REPO, 7)
    assert stored.body.endswith("third push")


def test_comment_modes_find_create_only_when_asked_and_delete(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    assert github.find_comment(7, PIPELINE) is None

    absent = github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha, create=False)
    assert (absent.outcome, absent.url) == (CommentOutcome.ABSENT, None)
    assert fake.writes() == []

    made = github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)
    found = github.find_comment(7, PIPELINE)
    assert found is not None
    assert (found.id, found.url, found.head_sha) == (made.comment_id, made.url, pull.head_sha)
    updated = github.upsert_comment(7, PIPELINE, "y", head_sha=pull.head_sha, create=False)
    assert updated.outcome is CommentOutcome.UPDATED

    assert github.delete_comment(7, PIPELINE) == 1
    assert fake.comments(REPO, 7) == []
    assert github.delete_comment(7, PIPELINE) == 0


def test_duplicates_left_by_concurrent_first_runs_are_collapsed(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    first = fake.add_comment(REPO, 7, f"{MARKER}\nrun A", author=ACTIONS_BOT)
    fake.add_comment(REPO, 7, "a human")
    fake.add_comment(REPO, 7, f"{MARKER}\nrun B", author=ACTIONS_BOT)

    result = reporter(fake, sleeps).upsert_comment(7, PIPELINE, "merged", head_sha=pull.head_sha)

    assert (result.outcome, result.comment_id, result.removed) == (
        CommentOutcome.UPDATED,
        first.id,
        1,
    )
    assert [c.body.rsplit("\n", 1)[-1] for c in fake.comments(REPO, 7)] == ["merged", "a human"]


def test_pull_request_facts_and_forks(fake: FakeGitHub, sleeps: list[float]) -> None:
    own = fake.add_pull(REPO, 7, head_ref="feat/x")
    forked = fake.add_pull(REPO, 8, head_repo="contrib/widgets", head_ref="main")
    github = reporter(fake, sleeps)

    mine = github.pull_request(7)
    theirs = github.pull_request(8)

    assert (mine.head_sha, mine.head_ref, mine.base_sha, mine.base_ref) == (
        own.head_sha,
        "feat/x",
        own.base_sha,
        "main",
    )
    assert not mine.is_fork
    assert mine.url == f"{fake.origin}/octo/widgets/pull/7"
    assert theirs.is_fork
    assert (theirs.head_repository, theirs.head_sha) == ("contrib/widgets", forked.head_sha)
    with pytest.raises(GitHubNotFound):
        github.pull_request(99)


# ------------------------------------------------------------------ permissions


def test_a_fork_token_writes_nothing_and_names_the_permissions_to_add(
    fake: FakeGitHub, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    forked = fake.add_pull(REPO, 7, head_repo="contrib/widgets")
    github = reporter(fake, sleeps, token="fork")

    with pytest.raises(CannotWrite) as comment_error:
        github.upsert_comment(7, PIPELINE, "## driftgate: pass", head_sha=forked.head_sha)
    with pytest.raises(CannotWrite) as check_error:
        github.publish_verdict(
            forked.head_sha, PIPELINE, conclusion="failure", title="fail", summary="s"
        )

    assert fake.comments(REPO, 7) == []
    assert fake.check_runs(REPO) == []
    assert fake.statuses(REPO) == []
    assert {c.status for c in fake.writes()} == {403}
    assert comment_error.value.fork is True
    assert comment_error.value.permissions == ("pull-requests: write",)
    assert comment_error.value.fix == "permissions:\n  contents: read\n  pull-requests: write\n"
    assert "\n" not in str(comment_error.value)
    assert NOT_ACCESSIBLE in str(comment_error.value)
    assert "fork" in str(comment_error.value)
    assert "workflow_run" in str(comment_error.value)
    assert "driftgate publish" in str(comment_error.value)
    assert check_error.value.permissions == ("checks: write", "statuses: write")
    assert check_error.value.fix == (
        "permissions:\n  contents: read\n  checks: write\n  statuses: write\n"
    )
    combined = CannotWrite.combine(comment_error.value, check_error.value)
    assert combined.fix == permissions_block(
        ["pull-requests: write", "checks: write", "statuses: write"]
    )
    secret = fake.token("fork")
    for error in (comment_error.value, check_error.value, combined):
        assert secret not in f"{error} {error!r} {error.fix} {error.explanation}"
    assert secret not in caplog.text


def test_a_token_without_checks_write_falls_back_to_a_commit_status(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps, token="no-checks")

    result = github.publish_verdict(
        pull.head_sha,
        PIPELINE,
        conclusion="failure",
        title="accuracy fell from 0.91 to 0.84 (-7.0 points, 95% CI -9.1 to -4.9)",
        summary="the full report",
        details_url="https://example.test/runs/1",
    )

    assert isinstance(result, StatusResult)
    assert result.fallback_from is not None
    assert result.fallback_from.permissions == ("checks: write",)
    assert fake.check_runs(REPO) == []
    [status] = fake.statuses(REPO, pull.head_sha)
    assert (status.context, status.state, status.target_url) == (
        "driftgate / qa",
        "failure",
        "https://example.test/runs/1",
    )
    assert status.description is not None
    assert status.description.startswith("accuracy fell")

    neutral = github.publish_verdict(
        pull.head_sha, PIPELINE, conclusion="neutral", title="no baseline", summary="s"
    )
    assert isinstance(neutral, StatusResult)
    assert neutral.state == "success"


def test_an_unknown_token_is_rejected_without_being_repeated(
    fake: FakeGitHub, pull: Pull, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "ghs_" + "x" * 36
    github = reporter(fake, sleeps, secret=secret)

    with pytest.raises(GitHubRejected) as error:
        github.upsert_comment(7, PIPELINE, "## driftgate: pass", head_sha=pull.head_sha)

    assert "github-token" in str(error.value)
    assert secret not in str(error.value)
    assert secret not in repr(github)
    assert secret not in caplog.text
    assert sleeps == []


# ------------------------------------------------------------------ limits


def test_oversize_reports_are_cut_to_fit_instead_of_refused(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    rows = "".join(f"| record-{i} | 0.{i % 10} | regressed |\n" for i in range(20_000))
    huge = "## driftgate: fail\n<details><summary>records</summary>\n\n" + rows + "</details>\n"
    github = reporter(fake, sleeps)

    comment = github.upsert_comment(7, PIPELINE, huge, head_sha=pull.head_sha)
    check = github.publish_check(
        pull.head_sha,
        PIPELINE,
        conclusion="failure",
        title="t" * 400,
        summary=huge,
        text="😀" * 40_000,
    )
    status = github.publish_status(pull.head_sha, PIPELINE, state="failure", description="d" * 300)

    assert comment.truncated and check.truncated and status.truncated
    assert not [c for c in fake.calls if c.status == 422]
    [stored] = fake.comments(REPO, 7)
    assert len(stored.body) <= COMMENT_LIMIT
    assert stored.body.startswith(MARKER)
    assert "This report was cut to fit GitHub's size limit" in stored.body[-300:]
    assert stored.body.count("<details>") == stored.body.count("</details>")
    # Cut at a line boundary: no half table row.
    assert "| regressed |\n</details>" in stored.body
    [run] = fake.check_runs(REPO)
    assert len(run.output["title"]) <= 255
    assert len(run.output["summary"]) <= 65_535
    assert len(run.output["text"].encode("utf-16-le")) // 2 <= 65_535
    assert "cut to fit" in run.output["text"]
    [posted] = fake.statuses(REPO)
    assert posted.description is not None
    assert len(posted.description) <= 140
    assert posted.description.endswith("…")


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limits_are_waited_out_on_every_method(
    fake: FakeGitHub, pull: Pull, sleeps: list[float], status: int
) -> None:
    github = reporter(fake, sleeps)
    fake.rate_limit(1, status=status, retry_after=3, method="POST")
    github.upsert_comment(7, PIPELINE, "one", head_sha=pull.head_sha)
    fake.rate_limit(2, status=status, retry_after=7, method="PATCH")

    updated = github.upsert_comment(7, PIPELINE, "two", head_sha=pull.head_sha)

    assert updated.outcome is CommentOutcome.UPDATED
    assert sleeps == [3, 7, 7]
    [stored] = fake.comments(REPO, 7)
    assert stored.body.endswith("two")
    assert [c.status for c in fake.called("POST", COMMENTS)] == [status, 201]
    assert [c.status for c in fake.called("PATCH", COMMENT)] == [status, status, 200]


def test_a_check_run_update_is_retried_after_a_rate_limit(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    github.publish_check(pull.head_sha, PIPELINE, conclusion="failure", title="t", summary="1")
    fake.rate_limit(1, status=429, retry_after=2, method="PATCH")

    again = github.publish_check(
        pull.head_sha, PIPELINE, conclusion="success", title="t", summary="2"
    )

    assert not again.created
    assert sleeps == [2]
    [run] = fake.check_runs(REPO)
    assert run.conclusion == "success"


def test_a_secondary_rate_limit_without_retry_after_waits_at_least_a_minute(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.rate_limit(2, retry_after=None, method="POST")

    reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    # A minute, then two, each lengthened by up to a tenth of jitter (pinned at half here).
    assert sleeps == [63, 126]
    assert len(fake.comments(REPO, 7)) == 1


def test_a_secondary_rate_limit_that_does_not_end_is_given_up_within_the_budget(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.rate_limit(100, retry_after=None, method="POST")

    with pytest.raises(GitHubUnavailable) as error:
        reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    # 63 s + 126 s waited; the next 252 s would pass the four minutes allowed in all.
    assert sleeps == [63, 126]
    message = str(error.value)
    assert message.startswith("Could not post the pull request comment: rate limited by GitHub")
    assert "240 s" in message
    assert "\n" not in message
    assert len(fake.called("POST", COMMENTS)) == 3


def test_the_budget_is_shared_by_every_request_of_a_reporter(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    github = reporter(fake, sleeps)
    fake.rate_limit(2, retry_after=100, method="POST", path="/comments$")
    github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)
    fake.rate_limit(1, retry_after=60, method="POST", path="/check-runs$")

    with pytest.raises(GitHubUnavailable, match="create the check run"):
        github.publish_check(pull.head_sha, PIPELINE, conclusion="success", title="t", summary="s")

    assert sleeps == [100, 100]


def test_a_retried_delete_answered_404_means_already_deleted(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    first = fake.add_comment(REPO, 7, f"{MARKER}\nrun A", author=ACTIONS_BOT)
    fake.add_comment(REPO, 7, f"{MARKER}\nrun B", author=ACTIONS_BOT)
    # The duplicate is deleted, and the answer lost: the retry finds it gone (404).
    fake.server_error(1, status=502, method="DELETE", after_processing=True)

    result = reporter(fake, sleeps).upsert_comment(7, PIPELINE, "merged", head_sha=pull.head_sha)

    assert (result.outcome, result.comment_id, result.removed) == (
        CommentOutcome.UPDATED,
        first.id,
        1,
    )
    assert [c.status for c in fake.called("DELETE", COMMENT)] == [502, 404]
    [kept] = fake.comments(REPO, 7)
    assert kept.body.endswith("merged")


def test_a_spent_quota_waits_until_it_resets(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.primary_rate_limit(1, reset_at=int(NOW) + 30, method="GET")

    reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    assert sleeps == [31]


def test_a_wait_longer_than_allowed_is_not_waited_for(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.primary_rate_limit(1, reset_at=int(NOW) + 3000)

    with pytest.raises(GitHubUnavailable) as error:
        reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    assert "3001 s" in str(error.value)
    assert sleeps == []


def test_server_errors_are_retried_with_capped_exponential_backoff(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.server_error(2, status=502, method="GET", path=r"/pulls/")
    fake.server_error(1, status=500, method="PATCH")
    github = reporter(fake, sleeps)

    github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)
    github.upsert_comment(7, PIPELINE, "y", head_sha=pull.head_sha)

    # Jitter pinned at 0.5: half of each step fixed plus a quarter; steps 1 s, 2 s; then 1 s.
    assert sleeps == [0.75, 1.5, 0.75]
    [stored] = fake.comments(REPO, 7)
    assert stored.body.endswith("y")


def test_a_lost_answer_to_a_create_does_not_duplicate_it(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.server_error(1, status=502, method="POST", after_processing=True)
    fake.server_error(1, status=504, method="POST", after_processing=True)
    github = reporter(fake, sleeps)

    comment = github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)
    check = github.publish_check(
        pull.head_sha, PIPELINE, conclusion="success", title="t", summary="s"
    )

    [stored] = fake.comments(REPO, 7)
    assert (comment.outcome, comment.comment_id) == (CommentOutcome.CREATED, stored.id)
    [run] = fake.check_runs(REPO)
    assert (check.check_run_id, check.created) == (run.id, True)
    assert len(fake.called("POST", COMMENTS)) == 1
    assert len(fake.called("POST", "/repos/octo/widgets/check-runs")) == 1


def test_a_failed_page_is_fetched_again_and_paging_resumes(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.add_comments(REPO, 7, 250)
    fake.rate_limit(1, status=429, retry_after=4, method="GET", path="/comments$", after=1)

    reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    pages = [(c.query.get("page", "1"), c.status) for c in fake.called("GET", COMMENTS)]
    assert pages == [("1", 200), ("2", 429), ("2", 200), ("3", 200)]
    assert sleeps == [4]
    assert len(fake.called("POST", COMMENTS)) == 1


def test_an_injected_client_with_urllib3_retries_still_ends_in_a_domain_error(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    # PyGithub's own GithubRetry ends in requests' RetryError, not a GithubException.
    client = Github(
        auth=Auth.Token(fake.token("write")),
        base_url=fake.api_url,
        retry=GithubRetry(total=1),
        seconds_between_requests=None,
        lazy=True,
    )
    github = GitHubReporter(client, REPO, RetryPolicy(attempts=2, sleep=sleeps.append))
    fake.server_error(100, status=502)

    with pytest.raises(GitHubUnavailable) as error:
        github.pull_request(7)

    assert "(RetryError)" in str(error.value)
    assert len(fake.calls) == 4


def test_retries_run_out_into_a_domain_error(
    fake: FakeGitHub, pull: Pull, sleeps: list[float]
) -> None:
    fake.server_error(100, status=503)

    with pytest.raises(GitHubUnavailable) as error:
        reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

    assert "503" in str(error.value)
    assert "6 attempts" in str(error.value)
    assert len(fake.calls) == 6
    assert sleeps == [0.75, 1.5, 3.0, 6.0, 12.0]


def test_an_unreachable_github_is_a_domain_error(sleeps: list[float]) -> None:
    with FakeGitHub() as gone:
        url = gone.api_url
    client = connect("ghs_secret", url, timeout=2, seconds_between_requests=None)
    github = GitHubReporter(client, REPO, RetryPolicy(attempts=2, sleep=sleeps.append))

    with pytest.raises(GitHubUnavailable) as error:
        github.pull_request(7)

    assert "the request to GitHub failed (ConnectionError)" in str(error.value)
    assert "ghs_secret" not in str(error.value)
    assert len(sleeps) == 1


# ------------------------------------------------------------------ GitHub Enterprise Server


def test_an_api_prefix_is_kept_through_paging(sleeps: list[float]) -> None:
    with FakeGitHub(prefix="/api/v3") as ghes:
        ghes.add_repo(REPO)
        pull = ghes.add_pull(REPO, 7)
        ghes.add_comments(REPO, 7, 150)
        github = reporter(ghes, sleeps)

        result = github.upsert_comment(7, PIPELINE, "x", head_sha=pull.head_sha)

        assert result.outcome is CommentOutcome.CREATED
        assert len(ghes.called("GET", COMMENTS)) == 2


# ------------------------------------------------------------------ names


def test_names_markers_and_permission_blocks() -> None:
    assert comment_marker(REPO, PIPELINE) == MARKER
    assert check_name("qa") == "driftgate / qa"
    hostile = comment_marker(REPO, "x --> <b>@all</b>:y\n")
    assert hostile.count("-->") == 1
    assert hostile.endswith(" -->")
    assert "\n" not in hostile
    assert ":y" not in hostile
    assert permissions_block(["checks: write", "checks: write"]) == (
        "permissions:\n  contents: read\n  checks: write\n"
    )


def test_upsert_refuses_what_is_not_a_sha(fake: FakeGitHub, sleeps: list[float]) -> None:
    with pytest.raises(ValueError, match="not a commit sha"):
        reporter(fake, sleeps).upsert_comment(7, PIPELINE, "x", head_sha="main -->")


# ------------------------------------------------------------------ the fake itself


def _raw(
    fake: FakeGitHub, method: str, path: str, token: str, body: object = None
) -> tuple[int, dict[str, str], object]:
    request = urllib.request.Request(
        fake.api_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {fake.token(token)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def _status(fake: FakeGitHub, method: str, path: str, token: str, body: object = None) -> int:
    return _raw(fake, method, path, token, body)[0]


def test_the_fake_pages_like_github_on_its_own_origin(fake: FakeGitHub, pull: Pull) -> None:
    fake.add_comments(REPO, 7, 3)

    status, headers, page = _raw(fake, "GET", f"{COMMENTS}?per_page=2", "write")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-RateLimit-Limit"] == "1000"
    assert int(headers["X-RateLimit-Remaining"]) < 1000
    repo = _raw(fake, "GET", "/repos/octo/widgets", "write")[2]
    assert isinstance(repo, dict)
    next_link = headers["Link"].split(",")[0]
    assert next_link.startswith(f"<{fake.origin}/repositories/{repo['id']}/issues/7/comments?")
    assert next_link.endswith('page=2>; rel="next"')
    assert isinstance(page, list)
    assert len(page) == 2
    for comment in page:
        assert comment["url"].startswith(fake.origin + "/repos/octo/widgets/issues/comments/")
        assert comment["html_url"].startswith(fake.origin + "/octo/widgets/pull/7#issuecomment-")


def test_the_fake_enforces_tokens_and_limits_like_github(fake: FakeGitHub, pull: Pull) -> None:
    checks = "/repos/octo/widgets/check-runs"
    statuses = f"/repos/octo/widgets/statuses/{pull.head_sha}"
    check = {"name": "n", "head_sha": pull.head_sha, "conclusion": "success"}
    output = {"title": "t", "summary": "s" * 65_536}

    assert _status(fake, "GET", "/user", "write") == 403
    assert _status(fake, "GET", "/user", "personal") == 200
    assert _status(fake, "POST", COMMENTS, "write", {"body": "x" * (COMMENT_LIMIT + 1)}) == 422
    assert (
        _status(fake, "POST", statuses, "write", {"state": "success", "description": "d" * 141})
        == 422
    )
    assert _status(fake, "POST", checks, "write", check | {"output": output}) == 422
    [refused] = fake.take_refusals()
    assert refused.startswith("POST /repos/octo/widgets/check-runs: For 'properties/output/")
    assert _status(fake, "POST", checks, "personal", check) == 403
    assert _status(fake, "POST", checks, "no-checks", check) == 403
    assert _status(fake, "POST", statuses, "no-checks", {"state": "success"}) == 201
    status, _, body = _raw(fake, "POST", COMMENTS, "fork", {"body": "x"})
    assert (status, body) == (
        403,
        {
            "message": NOT_ACCESSIBLE,
            "documentation_url": "https://docs.github.com/rest",
            "status": "403",
        },
    )
    assert fake.comments(REPO, 7) == []
    assert fake.check_runs(REPO) == []


def test_the_fake_injects_rate_limits_and_lost_answers(fake: FakeGitHub, pull: Pull) -> None:
    fake.rate_limit(1, status=429, retry_after=5)
    fake.server_error(1, status=502, method="POST", after_processing=True)

    status, headers, body = _raw(fake, "GET", "/repos/octo/widgets", "write")
    assert (status, headers["Retry-After"]) == (429, "5")
    assert isinstance(body, dict)
    assert "secondary rate limit" in body["message"]
    assert _status(fake, "GET", "/repos/octo/widgets", "write") == 200
    assert _status(fake, "POST", COMMENTS, "write", {"body": "x"}) == 502
    assert [c.body for c in fake.comments(REPO, 7)] == ["x"]
    assert [(c.method, c.status, c.token) for c in fake.calls] == [
        ("GET", 429, "write"),
        ("GET", 200, "write"),
        ("POST", 502, "write"),
    ]
