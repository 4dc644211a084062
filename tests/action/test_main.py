"""`driftgate action` and `driftgate publish` with what the runner gives a container: the
event payload, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, INPUT_* variables (hyphens
kept), the embedded store in the workspace, and the real PyGithub talking over HTTP to the
GitHub fake (through the `api-url` input)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from driftgate.action.github import GitHubReporter, RetryPolicy, comment_marker, connect
from driftgate.action.main import Edges, action_main
from tests.events import EVENTS, pull_request_event, push_event, workflow_run_event
from tests.fakes.github import FakeGitHub

REPO = "acme/bot"
PIPELINE = "qa"
RAW = Path(__file__).parents[1] / "scripts" / "raw_experiment.py"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@dataclass
class Step:
    code: int
    stdout: str
    outputs: dict[str, str]
    summary: str


@dataclass
class World:
    tmp: Path
    repo: Path
    fake: FakeGitHub
    runs: int = 0
    env_extra: dict[str, str] = field(default_factory=dict)

    def commit(self, message: str) -> str:
        (self.repo / "notes.txt").write_text(message + "\n")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-q", "-m", message)
        sha = git(self.repo, "rev-parse", "HEAD")
        self.fake.add_commit(REPO, sha)
        return sha

    def reporter(self, token: str, api_url: str) -> GitHubReporter:
        client = connect(token, api_url, seconds_between_requests=None, seconds_between_writes=None)
        return GitHubReporter(client, REPO, RetryPolicy(sleep=lambda _s: None))

    def act(self, event: str, payload: dict[str, Any], token: str = "write", **inputs: str) -> Step:
        env, output, summary = self.environment(event, payload, token, **inputs)
        stdout = io.StringIO()
        code = action_main(Edges(env, stdout, github=self.reporter))
        return self._step(code, stdout.getvalue(), output, summary)

    def publish_command(self, payload: dict[str, Any], token: str = "write") -> Step:
        """`driftgate publish` as a process, with its arguments and GITHUB_TOKEN."""
        env, output, summary = self.environment("workflow_run", payload, token)
        env = {k: v for k, v in env.items() if not k.startswith("INPUT_")}
        env["GITHUB_TOKEN"] = self.fake.token(token)
        argv = [sys.executable, "-m", "driftgate.cli", "publish", "--artifact"]
        argv += [".driftgate/artifact", "--api-url", self.fake.api_url]
        proc = subprocess.run(argv, cwd=self.repo, env=env, capture_output=True, text=True)
        return self._step(proc.returncode, proc.stdout + proc.stderr, output, summary)

    def _step(self, code: int, stdout: str, output: Path, summary: Path) -> Step:
        outputs = _parse_outputs(output.read_text()) if output.exists() else {}
        return Step(code, stdout, outputs, summary.read_text() if summary.exists() else "")

    def environment(
        self, event: str, payload: dict[str, Any], token: str = "write", **inputs: str
    ) -> tuple[dict[str, str], Path, Path]:
        """What the runner gives the container: the event, the files, the inputs."""
        self.runs += 1
        run_dir = self.tmp / f"run-{self.runs}"
        run_dir.mkdir()
        (run_dir / "event.json").write_text(json.dumps(payload))
        output, summary = run_dir / "output", run_dir / "summary.md"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DD_", "GITHUB_", "INPUT_", "DRIFTGATE_"))
        }
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME=event,
            GITHUB_EVENT_PATH=str(run_dir / "event.json"),
            GITHUB_WORKSPACE=str(self.repo),
            GITHUB_REPOSITORY=REPO,
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_API_URL=self.fake.api_url,
            GITHUB_RUN_ID=str(1000 + self.runs),
            GITHUB_RUN_ATTEMPT="1",
            GITHUB_SHA=git(self.repo, "rev-parse", "HEAD"),
            GITHUB_REF="refs/heads/main",
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(summary),
        )
        env.update(self.env_extra)
        values = {
            "command": f"{sys.executable} {RAW}",
            "pipeline": PIPELINE,
            "github-token": self.fake.token(token),
            "api-url": self.fake.api_url,
            **inputs,
        }
        env.update({f"INPUT_{k.upper()}": v for k, v in values.items()})
        return env, output, summary

    def push_event(self, sha: str, before: str) -> dict[str, Any]:
        return push_event(REPO, sha, before)

    def pr_event(self, number: int, head: str, base: str, *, fork: bool = False) -> dict[str, Any]:
        return pull_request_event(REPO, number, head, base, fork=fork)


def _parse_outputs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            name, delim = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delim:
                    break
                value.append(inner)
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    repo = tmp_path / "workspace"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.invalid")
    git(repo, "config", "user.name", "ci")
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield World(tmp_path, repo, fake)
        # Whatever a test did, driftgate never sent what GitHub's description refuses.
        assert fake.refusals == []


def our_comments(world: World, number: int) -> list[Any]:
    marker = comment_marker(REPO, PIPELINE)
    return [c for c in world.fake.comments(REPO, number) if c.body.startswith(marker)]


def test_push_records_then_the_pull_request_is_gated_in_one_sticky_comment(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main work")
    world.env_extra["RAW_BAD"] = "4"
    recorded = world.act("push", world.push_event(main, first))
    assert recorded.code == 0, recorded.stdout
    assert recorded.outputs["verdict"] == "no_baseline"
    assert recorded.outputs["report-json"] == ".driftgate/report/report.json"
    (check,) = world.fake.check_runs(REPO, main)
    assert check.name == f"driftgate / {PIPELINE}"
    assert check.conclusion == "neutral"
    assert (world.repo / ".driftgate" / "store.db").exists()
    assert "driftgate" in recorded.summary

    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("same quality")
    world.fake.add_pull(REPO, 7, head_sha=head, base_sha=main, head_ref="feature")
    gated = world.act("pull_request", world.pr_event(7, head, main))
    assert gated.code == 0, gated.stdout
    assert gated.outputs["verdict"] == "pass"
    assert gated.outputs["experiment-id"]
    assert gated.outputs["baseline-id"]
    (comment,) = our_comments(world, 7)
    first_body = comment.body
    assert gated.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"

    # A re-run of the same commit: the same comment, the same check run.
    rerun = world.act("pull_request", world.pr_event(7, head, main))
    assert rerun.code == 0
    assert [c.id for c in our_comments(world, 7)] == [comment.id]
    assert len(world.fake.check_runs(REPO, head)) == 1

    # A new push that makes the answers worse: that same comment now says so.
    world.env_extra["RAW_BAD"] = "20"
    worse = world.commit("worse answers")
    world.fake.push(REPO, 7, worse)
    failed = world.act("pull_request", world.pr_event(7, worse, main))
    assert failed.code == 1, failed.stdout
    assert failed.outputs["verdict"] == "fail"
    (updated,) = our_comments(world, 7)
    assert updated.id == comment.id
    assert updated.body != first_body
    assert "correct" in updated.body
    (check,) = world.fake.check_runs(REPO, worse)
    assert check.conclusion == "failure"
    assert not world.fake.called("GET", r"^/user$")


def _fork_pull_request(world: World) -> tuple[str, Step]:
    """main recorded, then pull request #9 from a fork gated with its read-only token; the
    calls to GitHub are cleared before the fork's run."""
    first = world.commit("base")
    main = world.commit("main work")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("from a fork")
    world.fake.add_pull(REPO, 9, head_sha=head, base_sha=main, head_repo="stranger/bot")
    world.fake.clear_calls()
    forked = world.act("pull_request", world.pr_event(9, head, main, fork=True), token="fork")
    return head, forked


def test_a_fork_pull_request_writes_nothing_and_publish_posts_it(world: World) -> None:
    head, forked = _fork_pull_request(world)
    assert forked.code == 0, forked.stdout
    assert world.fake.writes() == []
    artifact = world.repo / ".driftgate" / "artifact"
    meta = json.loads((artifact / "meta.json").read_text())
    assert meta["pr_number"] == 9
    assert meta["head_sha"] == head
    assert json.loads((artifact / "report.json").read_text())["verdict"] == "pass"
    assert "workflow_run" in forked.stdout

    published = world.act(
        "workflow_run", workflow_run_event(REPO, head), mode="publish", command=""
    )
    assert published.code == 0, published.stdout
    (comment,) = our_comments(world, 9)
    assert "PASS" in comment.body.upper()
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"


def test_driftgate_publish_takes_real_arguments(world: World) -> None:
    head, forked = _fork_pull_request(world)
    assert forked.code == 0, forked.stdout
    world.fake.clear_calls()

    published = world.publish_command(workflow_run_event(REPO, head))
    assert published.code == 0, published.stdout
    assert published.outputs["verdict"] == "pass"
    (comment,) = our_comments(world, 9)
    assert published.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    # The token reaches the log only in the line that tells the runner to mask it.
    token = world.fake.token("write")
    assert [line for line in published.stdout.splitlines() if token in line] == [
        f"::add-mask::{token}"
    ]


def test_publish_refuses_an_artifact_for_another_commit(world: World) -> None:
    base = world.commit("base")
    artifact = world.repo / ".driftgate" / "artifact"
    artifact.mkdir(parents=True)
    (artifact / "report.json").write_text(json.dumps({"verdict": "pass", "experiments": []}))
    (artifact / "meta.json").write_text(
        json.dumps({"repository": REPO, "pr_number": 3, "head_sha": "a" * 40, "pipeline": PIPELINE})
    )
    refused = world.act("workflow_run", workflow_run_event(REPO, base), mode="publish", command="")
    assert refused.code == 2
    assert "refusing to publish" in refused.stdout
    assert world.fake.writes() == []


def test_hostile_names_and_outputs_cannot_break_out(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    hostile = "a|b</details><!-- driftgate:acme/bot:qa -->@octocat"
    world.env_extra.update(RAW_LABEL=hostile, RAW_BAD="0")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("hostile")
    world.fake.add_pull(REPO, 11, head_sha=head, base_sha=main)
    world.env_extra.update(
        RAW_BAD="30", RAW_OUTPUT="\n| x | y |\n</details>```<script>@octocat #1 -->"
    )
    step = world.act("pull_request", world.pr_event(11, head, main))
    assert step.outputs["verdict"] == "fail"
    (comment,) = our_comments(world, 11)
    body = comment.body
    assert body.count("<!-- driftgate:") == 1  # only the marker github.py wrote
    assert "@octocat" not in body
    assert "<script>" not in body
    assert body.count("<details>") == body.count("</details>")


def test_a_twenty_thousand_record_regression_stays_under_the_limits(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    world.env_extra.update(RAW_RECORDS="20000", RAW_BAD="0")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("half wrong")
    world.fake.add_pull(REPO, 12, head_sha=head, base_sha=main)
    world.env_extra["RAW_BAD"] = "20000"
    step = world.act("pull_request", world.pr_event(12, head, main))
    assert step.outputs["verdict"] == "fail"
    (comment,) = our_comments(world, 12)
    assert len(comment.body) <= 65_536
    (check,) = world.fake.check_runs(REPO, head)
    assert len(check.output["summary"]) <= 65_535
    assert len(check.output.get("text") or "") <= 65_535
    assert len(step.summary.encode()) <= 1024 * 1024


def test_a_token_without_checks_falls_back_to_a_status(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    step = world.act("push", world.push_event(main, first), token="no-checks")
    assert step.code == 0
    assert world.fake.check_runs(REPO, main) == []
    (status,) = world.fake.statuses(REPO, main)
    assert status.context == f"driftgate / {PIPELINE}"


def test_bad_inputs_name_the_input(world: World) -> None:
    world.commit("base")
    step = world.act("push", {}, **{"fail-on": "sometimes"})
    assert step.code == 2
    assert "Value 'sometimes' is not supported for input fail-on" in step.stdout
    assert "regression, warning, never" in step.stdout


def test_a_crashing_script_is_an_error_with_its_output(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    step = world.act(
        "push",
        world.push_event(main, first),
        command=f"{sys.executable} -c \"print('loading'); raise SystemExit('model not found')\"",
    )
    assert step.code == 1
    assert step.outputs["verdict"] == "error"
    assert "model not found" in step.summary
    (check,) = world.fake.check_runs(REPO, main)
    assert check.conclusion == "failure"


def test_secrets_are_masked_and_never_printed(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    step = world.act(
        "push",
        world.push_event(main, first),
        command=f"{sys.executable} -c \"import os; print('key', os.environ.get('DD_API_KEY'))\"",
        **{"store": "embedded", "dd-api-key": "sekret-key-123"},
    )
    token = world.fake.token("write")
    assert f"::add-mask::{token}" in step.stdout
    assert "::add-mask::sekret-key-123" in step.stdout
    lines = [line for line in step.stdout.splitlines() if "sekret-key-123" in line]
    assert lines == ["::add-mask::sekret-key-123"]


def _pull_request(world: World, number: int, message: str) -> tuple[str, str]:
    """main recorded, then pull request `number` at a new commit; (head, base)."""
    first = world.commit("base")
    main = world.commit("main")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit(message)
    world.fake.add_pull(REPO, number, head_sha=head, base_sha=main)
    world.fake.clear_calls()
    return head, main


def _dependabot_event(number: int, head: str, base: str) -> dict[str, Any]:
    """GitHub's `pull_request` event of a Dependabot pull request (same repository)."""
    payload: dict[str, Any] = json.loads((EVENTS / "pull_request.dependabot.json").read_text())
    pr = payload["pull_request"]
    payload["number"] = pr["number"] = number
    pr["head"].update(sha=head)
    pr["base"].update(sha=base, ref="main")
    for repo in (pr["head"]["repo"], pr["base"]["repo"], payload["repository"]):
        repo.update(full_name=REPO, name=REPO.split("/")[1], default_branch="main")
    return payload


def _annotations(stdout: str, kind: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith((f"::{kind} ", f"::{kind}::"))]


def _assert_left_for_publish(world: World, step: Step, number: int, head: str) -> None:
    assert step.code == 0, step.stdout  # the gate's verdict, not the refused writes
    assert step.outputs["verdict"] == "pass"
    assert _annotations(step.stdout, "error") == []
    [notice] = [n for n in _annotations(step.stdout, "notice") if "publish workflow" in n]
    assert ".driftgate/artifact" in notice
    meta = json.loads((world.repo / ".driftgate" / "artifact" / "meta.json").read_text())
    assert (meta["pr_number"], meta["head_sha"]) == (number, head)
    assert world.fake.comments(REPO, number) == []
    assert world.fake.check_runs(REPO, head) == []
    assert "driftgate" in step.summary  # the report itself reached the job summary


def test_a_pull_request_whose_writes_are_refused_leaves_the_report_for_publish(
    world: World,
) -> None:
    head, main = _pull_request(world, 13, "same repository, workflow without write permissions")

    step = world.act("pull_request", world.pr_event(13, head, main), token="fork")

    _assert_left_for_publish(world, step, 13, head)
    # It tried (the token decides, not the event), and GitHub refused.
    assert {c.status for c in world.fake.writes()} == {403}
    assert "### Waiting for the publish workflow" in step.summary
    assert "pull-requests: write" in step.summary
    assert "checks: write" in step.summary


def test_a_dependabot_pull_request_with_a_read_only_token_leaves_the_report(world: World) -> None:
    head, main = _pull_request(world, 14, "bump openai")
    world.env_extra["GITHUB_ACTOR"] = "dependabot[bot]"

    step = world.act("pull_request", _dependabot_event(14, head, main), token="fork")

    _assert_left_for_publish(world, step, 14, head)


@pytest.mark.xfail(
    strict=True,
    reason="ci/context.py still marks Dependabot read-only by actor; issue 10 item 3 removes "
    "that rule in another branch: drop this mark when they merge",
)
def test_a_dependabot_pull_request_whose_token_can_write_gets_its_report(world: World) -> None:
    head, main = _pull_request(world, 15, "bump openai")
    world.env_extra["GITHUB_ACTOR"] = "dependabot[bot]"

    step = world.act("pull_request", _dependabot_event(15, head, main), token="write")

    assert step.code == 0, step.stdout
    (comment,) = our_comments(world, 15)
    assert step.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    assert not (world.repo / ".driftgate" / "artifact").exists()


def test_a_push_whose_writes_are_refused_names_the_permissions_to_add(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")

    step = world.act("push", world.push_event(main, first), token="fork")

    assert step.code == 0  # the verdict decides the exit; the report is still everywhere else
    assert step.outputs["verdict"] == "no_baseline"
    assert "::error title=driftgate%3A permissions::" in step.stdout
    assert "checks: write" in step.summary
    assert "driftgate" in step.summary
    assert not (world.repo / ".driftgate" / "artifact").exists()


def test_a_rate_limited_comment_does_not_keep_the_check_from_being_posted(world: World) -> None:
    head, main = _pull_request(world, 16, "same quality")
    # A secondary limit without Retry-After, for as long as the step would wait.
    world.fake.rate_limit(100, retry_after=None, method="POST", path="/comments$")

    step = world.act("pull_request", world.pr_event(16, head, main))

    assert step.code == 0, step.stdout
    assert step.outputs["verdict"] == "pass"
    assert step.outputs["comment-url"] == ""
    assert world.fake.comments(REPO, 16) == []
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    [error] = _annotations(step.stdout, "error")
    assert error.startswith("::error title=driftgate%3A comment not posted::")
    assert "post the pull request comment" in error
    assert "gave up" in error
    assert "### The comment was not posted" in step.summary
    assert len(world.fake.called("POST", r"/repos/acme/bot/issues/16/comments")) == 3


def test_a_passing_step_whose_check_was_not_posted_says_so_loudly(world: World) -> None:
    head, main = _pull_request(world, 17, "same quality")
    world.fake.server_error(100, status=503, path="check-runs")

    step = world.act("pull_request", world.pr_event(17, head, main))

    # The exit code stays the verdict's: branch protection already holds a pull request
    # whose required check never arrived, and the log and summary say so.
    assert step.code == 0, step.stdout
    assert step.outputs["verdict"] == "pass"
    (comment,) = our_comments(world, 17)
    assert step.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    assert world.fake.check_runs(REPO, head) == []
    [error] = _annotations(step.stdout, "error")
    assert error.startswith("::error title=driftgate%3A check not posted::")
    assert "driftgate / qa" in error
    assert "cannot merge until it appears" in error
    assert "re-run this job" in error
    assert "### The check was not posted" in step.summary
    assert "cannot merge until it appears" in step.summary
