"""`driftgate action` and `driftgate publish` with what the runner gives a container: the
event payload, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, INPUT_* variables (hyphens
kept), the embedded store in the workspace, and the real PyGithub talking over HTTP to the
GitHub fake (through the `api-url` input)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from driftgate.action.github import GitHubReporter, RetryPolicy, comment_marker, connect
from driftgate.action.main import Edges, action_main
from tests.events import EVENTS, pull_request_event, push_event, workflow_run_event
from tests.fakes.github import WRITE_ALL, FakeGitHub, WorkflowArtifact

REPO = "acme/bot"
FORK = "stranger/bot"
PIPELINE = "qa"
RAW = Path(__file__).parents[1] / "scripts" / "raw_experiment.py"
ARITH = Path(__file__).parents[1] / "scripts" / "arith_experiment.py"


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

    def publish(self, payload: dict[str, Any], token: str = "publish", **inputs: str) -> Step:
        """The one-step publish workflow: `mode: publish` on a workflow_run event, with the
        token the README's permissions give (`actions: read` among them)."""
        return self.act("workflow_run", payload, token, mode="publish", command="", **inputs)

    def run_event(
        self,
        head: str,
        *,
        run_id: int = 7001,
        head_repo: str = FORK,
        head_branch: str = "feature",
        pull_requests: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The workflow_run event of the pull request run `run_id` at `head`."""
        return workflow_run_event(
            REPO,
            head,
            head_repo=head_repo,
            head_branch=head_branch,
            run_id=run_id,
            pull_requests=pull_requests,
        )

    def upload(
        self,
        run_id: int = 7001,
        *,
        files: dict[str, bytes] | None = None,
        head_sha: str = "",
        **options: Any,
    ) -> WorkflowArtifact:
        """What actions/upload-artifact does with the gate's folder: its files, zipped,
        attached to run `run_id`. The folder is removed: the publish workflow has no
        checkout, so it reads the artifact only through the API."""
        folder = self.repo / ".driftgate" / "artifact"
        if files is None:
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        shutil.rmtree(folder, ignore_errors=True)
        return self.fake.add_artifact(REPO, run_id, zip_of(files), head_sha=head_sha, **options)

    def publish_command(self, payload: dict[str, Any], token: str = "write") -> Step:
        """`driftgate publish` as a process, with its arguments and GITHUB_TOKEN."""
        env, output, summary = self.environment("workflow_run", payload, token)
        env = {k: v for k, v in env.items() if not k.startswith("INPUT_")}
        env["GITHUB_TOKEN"] = self.fake.token(token)
        argv = [sys.executable, "-m", "driftgate.cli", "publish", "--artifact"]
        argv += [".driftgate/artifact", "--api-url", self.fake.api_url, "--pipeline", PIPELINE]
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


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


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
        # The publish workflow's token: the README's permissions, `actions: read` among them.
        fake.add_token("publish", WRITE_ALL | {"actions": "read"})
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


def test_a_ddtrace_script_that_passes_nothing_gets_mains_run_as_baseline(world: World) -> None:
    """The README's workflow (`pipeline: qa`) around an unmodified ddtrace script whose
    experiment is `qa-sums` and which passes none of DRIFTGATE_TAGS/DRIFTGATE_METADATA: the
    pipeline is a prefix of the name, and that changes nothing."""
    script = ARITH.read_text().replace('PREFIX = ""', 'PREFIX = "qa-"')
    (world.repo / "experiment.py").write_text(
        script.replace("PASS_TAGS = True", "PASS_TAGS = False")
    )
    (world.repo / ".gitignore").write_text(".driftgate/\nseen-env.json\n")
    command = f"{sys.executable} experiment.py"
    first = world.commit("base")
    main = world.commit("main work")
    recorded = world.act("push", world.push_event(main, first), command=command)
    assert recorded.code == 0, recorded.stdout
    assert recorded.outputs["verdict"] == "no_baseline"
    assert "this is the first run of 'qa-sums'" in recorded.summary

    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("docs")
    world.fake.add_pull(REPO, 7, head_sha=head, base_sha=main, head_ref="feature")
    gated = world.act("pull_request", world.pr_event(7, head, main), command=command)
    assert gated.code == 0, gated.stdout
    assert gated.outputs["verdict"] == "pass"
    assert gated.outputs["baseline-id"] == recorded.outputs["experiment-id"]
    report = json.loads((world.repo / ".driftgate" / "report" / "report.json").read_text())
    assert report["baseline_reason"] == f"the newest run at {main[:12]}, the merge-base on main"


def _fork_pull_request(world: World, bad: int | None = None) -> tuple[str, Step]:
    """main recorded, then pull request #9 from a fork gated with its read-only token (with
    `bad` wrong answers instead of main's 4); the calls to GitHub are cleared before the
    fork's run."""
    first = world.commit("base")
    main = world.commit("main work")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("from a fork")
    world.fake.add_pull(REPO, 9, head_sha=head, base_sha=main, head_repo=FORK)
    world.fake.clear_calls()
    if bad is not None:
        world.env_extra["RAW_BAD"] = str(bad)
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

    # The README's flow: upload-artifact in the fork's run, then the one-step publish
    # workflow, which downloads it through the API.
    world.upload(7001, head_sha=head)
    world.fake.clear_calls()
    published = world.publish(world.run_event(head, run_id=7001))
    assert published.code == 0, published.stdout
    (comment,) = our_comments(world, 9)
    assert "PASS" in comment.body.upper()
    assert "These figures come from the pull request's own code." in comment.body
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    assert "These figures come from the pull request's own code." in check.output["summary"]
    assert "These figures come from the pull request's own code." in published.summary
    # The pull request was found from the run (its head branch in the fork), and the zip
    # fetched from the storage host without the token.
    (lookup,) = world.fake.called("GET", f"/repos/{REPO}/pulls")
    assert lookup.query["head"] == "stranger:feature"
    (fetched,) = world.fake.called("GET", r"/_storage/.*")
    assert fetched.status == 200
    assert fetched.token is None


def test_driftgate_publish_takes_real_arguments(world: World) -> None:
    head, forked = _fork_pull_request(world)
    assert forked.code == 0, forked.stdout
    world.fake.clear_calls()

    published = world.publish_command(world.run_event(head))
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
    refused = world.publish(world.run_event(base))
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
    assert "driftgate" in step.summary  # the report itself reached the job summary
    assert world.fake.comments(REPO, 13) == []


def test_a_push_that_deletes_a_branch_runs_nothing_and_exits_0(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    payload = push_event(REPO, "0" * 40, first, branch="feature")
    payload.update(deleted=True, created=False, head_commit=None, commits=[])
    # GitHub's environment for it: GITHUB_SHA (here HEAD, main's tip) and GITHUB_REF revert to
    # the default branch, which must not be recorded as if it had been pushed.
    marker = world.tmp / "ran"
    step = world.act("push", payload, command=f"touch {marker}")
    assert step.code == 0, step.stdout
    assert "::notice" in step.stdout and "deleted refs/heads/feature" in step.stdout
    assert not marker.exists()
    assert not (world.repo / ".driftgate").exists()
    assert world.fake.check_runs(REPO, main) == [] and world.fake.statuses(REPO, main) == []
    assert world.fake.called() == []  # not one request to GitHub


def test_pull_request_target_on_the_base_checkout_says_so_in_the_log_and_report(
    world: World,
) -> None:
    first = world.commit("base")
    main = world.commit("main")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("the change")
    world.fake.add_pull(REPO, 8, head_sha=head, base_sha=main)
    # actions/checkout's default under pull_request_target: the base branch's tip.
    git(world.repo, "checkout", "-q", "main")
    step = world.act("pull_request_target", world.pr_event(8, head, main))
    warning = f"WARNING: the checkout is {main[:12]}, not the pull request's head {head[:12]}"
    assert f"::notice::{warning}" in step.stdout
    (comment,) = our_comments(world, 8)
    assert warning in comment.body
    assert warning in step.summary


# ---------------------------------------------------------------------------- publish: attacks
# The fork controls its own workflow run, so it controls the artifact. Each test below is an
# attack from issue 10, through the real PyGithub against the fake: refused, or published
# with nothing of the artifact's say.

PROVENANCE = "These figures come from the pull request's own code."


def _edit(world: World, name: str, change: Any) -> None:
    """Rewrite `name` in the artifact folder, as a hostile workflow step would."""
    path = world.repo / ".driftgate" / "artifact" / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _synthetic_artifact(world: World, pr: int, head: str, **meta: Any) -> Path:
    """An artifact folder written by hand (no experiment run): an empty report."""
    folder = world.repo / ".driftgate" / "artifact"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps({"experiments": []}))
    fields = {"repository": REPO, "pr_number": pr, "head_sha": head, "pipeline": PIPELINE}
    (folder / "meta.json").write_text(json.dumps(fields | meta))
    return folder


def _errors(step: Step) -> list[str]:
    return [line for line in step.stdout.splitlines() if line.startswith("::error")]


def _says_pass(report: dict[str, Any]) -> None:
    report["verdict"] = "pass"
    for experiment in [report, *report["experiments"]]:
        experiment["verdict"] = "pass"
        for metric in experiment["metrics"]:
            metric.update(verdict="unchanged", gate="pass")


def test_a_forged_pass_over_regressed_figures_fails_the_check(world: World) -> None:
    head, forked = _fork_pull_request(world, bad=20)
    assert forked.code == 1, forked.stdout  # the fork's own run fails, but it writes nothing
    report = json.loads((world.repo / ".driftgate/artifact/report.json").read_text())
    assert report["verdict"] == "fail"
    _edit(world, "report.json", _says_pass)
    world.upload(7001, head_sha=head)

    published = world.publish(world.run_event(head, run_id=7001))
    assert published.code == 0, published.stdout
    assert published.outputs["verdict"] == "fail"
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "failure"  # what a required check blocks on
    (comment,) = our_comments(world, 9)
    assert "driftgate · qa: failed" in comment.body
    assert "the artifact's report says pass, but its figures say fail" in published.stdout


def test_the_artifacts_policy_is_ignored_and_the_steps_applies(world: World) -> None:
    head, _ = _fork_pull_request(world, bad=20)
    _edit(
        world,
        "meta.json",
        lambda meta: meta.update(fail_on="never", comment="off", check=False, pipeline=PIPELINE),
    )
    world.upload(7001, head_sha=head)
    published = world.publish(world.run_event(head, run_id=7001))
    assert published.code == 0, published.stdout
    # fail_on: never would have made it neutral; comment: off and check: false, silent.
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "failure"
    assert len(our_comments(world, 9)) == 1

    # The step's own inputs do apply.
    softened = world.publish(world.run_event(head, run_id=7001), **{"fail-on": "never"})
    assert softened.code == 0, softened.stdout
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "neutral"

    # An artifact of another pipeline is not this step's to publish.
    world.fake.clear_calls()
    other = world.publish(world.run_event(head, run_id=7001), pipeline="nightly")
    assert other.code == 2
    assert "set `pipeline:` in the publish step" in other.stdout
    assert world.fake.writes() == []


def test_an_artifact_naming_another_pull_request_is_refused(world: World) -> None:
    base = world.commit("base")
    victim_head = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 10, head_sha=victim_head, base_sha=base, head_ref="victim")
    head = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 9, head_sha=head, base_sha=base, head_repo=FORK)

    # Found through the API (a fork's run lists no pull requests): the run heads #9 only.
    _synthetic_artifact(world, 10, head)
    world.upload(7001, head_sha=head)
    refused = world.publish(world.run_event(head, run_id=7001))
    assert refused.code == 2
    assert "names pull request #10, but the triggering run's commit heads #9" in refused.stdout
    assert len(_errors(refused)) == 1

    # Listed by the run's own event (a same-repository run), the same.
    _synthetic_artifact(world, 10, head)
    listed = world.run_event(
        head,
        run_id=7002,
        pull_requests=[_pr_entry(9, REPO_ID)],
    )
    refused = world.publish(listed)
    assert refused.code == 2
    assert "names pull request #10, but the triggering run is for #9" in refused.stdout

    # And the victim's commit, named by the artifact, is not the run's.
    _synthetic_artifact(world, 10, victim_head)
    refused = world.publish(world.run_event(head, run_id=7001))
    assert refused.code == 2
    assert "refusing to publish" in refused.stdout

    assert world.fake.writes() == []
    assert world.fake.comments(REPO, 10) == []
    assert world.fake.check_runs(REPO, victim_head) == []
    assert world.fake.statuses(REPO, victim_head) == []


REPO_ID = 801234567  # the fixture's repository id (tests/fixtures/events/workflow_run.*)


def _pr_entry(number: int, base_repo_id: int) -> dict[str, Any]:
    """A `workflow_run.pull_requests` entry as GitHub writes it: no full_name."""
    repo = {"id": base_repo_id, "url": f"https://api.github.com/repositories/{base_repo_id}"}
    return {
        "url": f"https://api.github.com/repos/x/y/pulls/{number}",
        "id": 2_000_000 + number,
        "number": number,
        "head": {"ref": "feature", "sha": "0" * 40, "repo": repo | {"name": "y"}},
        "base": {"ref": "main", "sha": "0" * 40, "repo": repo | {"name": "y"}},
    }


def test_pull_requests_of_other_repositories_in_the_event_are_ignored(world: World) -> None:
    base = world.commit("base")
    head = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 9, head_sha=head, base_sha=base, head_repo=FORK)
    _synthetic_artifact(world, 9, head)
    # The event lists #3 of another repository (the parent of a fork, say): not ours.
    event = world.run_event(head, pull_requests=[_pr_entry(3, 42)])
    published = world.publish(event)
    assert published.code == 0, published.stdout
    assert world.fake.called("GET", f"/repos/{REPO}/pulls")  # found through the API
    assert len(our_comments(world, 9)) == 1
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "failure"  # an empty report is an error


@pytest.mark.parametrize("event", ["pull_request_target", "push", "workflow_run"])
def test_publish_without_a_workflow_run_event_is_refused(world: World, event: str) -> None:
    base = world.commit("base")
    victim = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 10, head_sha=victim, base_sha=base)
    _synthetic_artifact(world, 10, victim)
    payload: dict[str, Any] = world.pr_event(10, victim, base)
    if event == "workflow_run":
        payload = world.run_event(victim)
        del payload["workflow_run"]["head_sha"]
    refused = world.act(event, payload, "publish", mode="publish", command="")
    assert refused.code == 2
    (error,) = _errors(refused)
    assert "triggered by workflow_run" in error
    assert world.fake.calls == []  # not even a read
    assert world.fake.check_runs(REPO, victim) == []


def test_phishing_links_are_dropped_and_the_sites_own_kept(world: World) -> None:
    head, _ = _fork_pull_request(world)

    def links(report: dict[str, Any]) -> None:
        for experiment in report["experiments"]:
            experiment["candidate"]["url"] = "https://evil.example/login"
            experiment["baseline"]["url"] = "https://app.datadoghq.com@evil.example/x"
        report["experiments"][0]["candidate"]["url"] = (
            "https://app.datadoghq.com/llm/experiments/fork-run"
        )

    _edit(world, "report.json", links)
    world.upload(7001, head_sha=head)
    published = world.publish(world.run_event(head, run_id=7001))
    assert published.code == 0, published.stdout
    (comment,) = our_comments(world, 9)
    (check,) = world.fake.check_runs(REPO, head)
    for text in (comment.body, check.output["summary"], published.summary):
        assert "evil.example" not in text
        assert "](https://app.datadoghq.com/llm/experiments/fork-run)" in text
        assert f"](https://github.com/{REPO}/actions/runs/7001)" in text
    assert check.details_url == f"https://github.com/{REPO}/actions/runs/7001"


def test_a_symlinked_file_is_not_followed(world: World) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 9, head_sha=head, head_repo=FORK)
    secret = world.tmp / "secret.json"
    secret.write_text(json.dumps({"experiments": [], "notes": ["TOPSECRET"]}))
    folder = _synthetic_artifact(world, 9, head)
    (folder / "report.json").unlink()
    (folder / "report.json").symlink_to(secret)
    refused = world.publish(world.run_event(head))
    assert refused.code == 2
    (error,) = _errors(refused)
    assert "report.json in .driftgate/artifact is a symlink" in error
    assert "TOPSECRET" not in refused.stdout + refused.summary
    assert world.fake.writes() == []


def _deep(depth: int) -> bytes:
    return b'{"experiments": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_REPORTS: dict[str, bytes | None] = {
    "a 200 MB report": None,  # written sparse by the test
    "a list": b'[{"experiments": []}]',
    "100k-deep JSON": _deep(100_000),
    "not JSON": b'{"experiments": [',
    "numbers too long": b'{"experiments": [], "notes": [' + b"9" * 10_000 + b"]}",
}
REFUSALS = {
    "a 200 MB report": "is too large",
    "a list": "holds a JSON list, not a driftgate report",
    "100k-deep JSON": "nests deeper than 64 levels",
    "not JSON": "is not valid JSON",
    "numbers too long": "is not valid JSON",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_REPORTS))
@pytest.mark.parametrize("via", ["folder", "download"])
def test_hostile_artifacts_are_refused_in_one_line(world: World, case: str, via: str) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    world.fake.add_pull(REPO, 9, head_sha=head, head_repo=FORK)
    folder = _synthetic_artifact(world, 9, head)
    content = HOSTILE_REPORTS[case]
    if content is None and via == "download":
        # A zip that says what it holds is 200 MB: refused before anything is downloaded.
        world.upload(7001, head_sha=head, declared_size=200 * 1024 * 1024)
    elif content is None:
        with (folder / "report.json").open("wb") as file:
            file.truncate(200 * 1024 * 1024)
    else:
        (folder / "report.json").write_bytes(content)
        if via == "download":
            world.upload(7001, head_sha=head)
    refused = world.publish(world.run_event(head, run_id=7001))
    assert refused.code == 2, refused.stdout
    (error,) = _errors(refused)
    assert REFUSALS[case] in error
    assert "Traceback" not in refused.stdout
    assert world.fake.writes() == []
    if content is None:
        assert world.fake.called("GET", r"/_storage/.*") == []  # nothing was downloaded


@pytest.mark.parametrize(
    ("files", "refusal"),
    [
        ({"../report.json": b"{}", "meta.json": b"{}"}, 'holds the path "../report.json"'),
        ({"report.json": b"{}", "meta.json": b"{}", "run.sh": b"x"}, 'holds "run.sh"'),
        ({"meta.json": b"{}"}, "report.json is missing"),
    ],
)
def test_hostile_zips_are_refused_in_one_line(
    world: World, files: dict[str, bytes], refusal: str
) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    world.upload(7001, files=files, head_sha=head)
    refused = world.publish(world.run_event(head, run_id=7001))
    assert refused.code == 2, refused.stdout
    (error,) = _errors(refused)
    assert refusal in error
    assert world.fake.writes() == []


def test_a_run_that_uploaded_nothing_ends_with_a_notice(world: World) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    step = world.publish(world.run_event(head, run_id=7001))
    assert step.code == 0, step.stdout
    assert "::notice::the pull request's run uploaded no artifact named 'driftgate-report'" in (
        step.stdout
    )
    assert _errors(step) == []
    assert world.fake.writes() == []
    (listed,) = world.fake.called("GET", f"/repos/{REPO}/actions/runs/7001/artifacts")
    assert listed.query["name"] == "driftgate-report"


def test_a_run_that_was_not_a_pull_request_publishes_nothing(world: World) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    payload = world.run_event(head)
    payload["workflow_run"]["event"] = "push"
    step = world.publish(payload)
    assert step.code == 0, step.stdout
    assert "not a pull request: nothing to publish" in step.stdout
    assert world.fake.calls == []


def test_publish_without_actions_read_says_which_permission(world: World) -> None:
    world.commit("base")
    head = world.fake.add_commit(REPO)
    step = world.publish(world.run_event(head), token="write")
    assert step.code == 3
    (error,) = _errors(step)
    assert "give the job `actions: read`" in error
    assert world.fake.writes() == []


def test_a_dependabot_pull_request_with_a_read_only_token_leaves_the_report(world: World) -> None:
    head, main = _pull_request(world, 14, "bump openai")
    world.env_extra["GITHUB_ACTOR"] = "dependabot[bot]"

    step = world.act("pull_request", _dependabot_event(14, head, main), token="fork")

    _assert_left_for_publish(world, step, 14, head)


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
