"""Secrets never reach a public surface. The real Action entry point runs a failing command
that carries the GitHub token and the Datadog keys (in its command line, and printed as
written, URL-encoded, inside git's base64 `Authorization` header, wrapped across lines),
with the runner's own tokens and the workflow's secrets in its environment; nothing of any
of them may reach a request body the GitHub fake recorded, the job summary, report.json,
report.md, the fork's artifact, or the log (but for the `add-mask` lines the runner hides).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from driftgate.action.publish import Policy, Publisher, Target
from driftgate.action.workflow import Commands
from driftgate.compare import error_report
from driftgate.redact import MASK, Redactor
from driftgate.result import CommandResult, GateResult, ReportContext
from tests.action.test_main import PIPELINE, REPO, Step, World, git, our_comments
from tests.events import workflow_run_event
from tests.fakes.github import FakeGitHub

DD_API_KEY = "0d8b8d2f9a6c4e1b8f3a2c7d5e9f1a3b"
DD_APP_KEY = "7e1c0b9a8d6f5e4c3b2a19f8e7d6c5b4a3928170"
RUNNER_ENV = {
    "GITHUB_TOKEN": "ghs_EnvToken0123456789abcdefghijklmnopq",
    "ACTIONS_RUNTIME_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJydW50aW1lIjoxfQ.c2lnbmF0dXJl",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "idtok-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "OPENAI_API_KEY": "sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1",
    "DB_PASSWORD": "correct-horse-battery-staple",
}

LEAK = r"""
import base64, os, sys
from urllib.parse import quote

token = sys.argv[1]
secrets = [token] + [os.environ[k] for k in sys.argv[2:]]
print("starting the evaluation")
for s in secrets:
    print(f"secret: {s}")
    print(f"url-encoded: https://u:{quote(s, safe='')}@example.com/")
    half = len(s) // 2
    print(f"wrapped: {s[:half]}")
    print(f"{s[half:]} (continued)")
header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
print(f"http.https://github.com/.extraheader AUTHORIZATION: basic {header}")
print(f"::add-mask::{token}")
raise SystemExit(f"model not found (key {os.environ['DD_API_KEY']})")
"""


def traces(secret: str) -> set[str]:
    """What would betray `secret`: any 10 characters of it, as written, URL-encoded, or in
    base64 behind git's `x-access-token:` prefix."""
    encoded = base64.b64encode(f"x-access-token:{secret}".encode()).decode()[20:-4]
    out: set[str] = set()
    for form in (secret, quote(secret, safe=""), encoded):
        out.update(form[i : i + 10] for i in range(len(form) - 9))
    return out


def assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        leaked = sorted(t for t in traces(secret) if t in text)
        assert not leaked, f"{where} leaks {secret[:6]}…: {leaked[:3]}\n{text[:3000]}"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    repo = tmp_path / "workspace"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.invalid")
    git(repo, "config", "user.name", "ci")
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        world = World(tmp_path, repo, fake)
        world.env_extra.update(RUNNER_ENV)
        yield world


def leaking_command(world: World) -> str:
    script = world.tmp / "leak.py"
    script.write_text(LEAK)
    token = world.fake.token("write")
    names = ["DD_API_KEY", "DD_APP_KEY", *RUNNER_ENV]
    return f"{sys.executable} {script} {token} {' '.join(names)}"


def all_secrets(world: World) -> list[str]:
    return [world.fake.token("write"), DD_API_KEY, DD_APP_KEY, *RUNNER_ENV.values()]


def secret_inputs(world: World) -> dict[str, str]:
    return {
        "command": leaking_command(world),
        "store": "embedded",
        "dd-api-key": DD_API_KEY,
        "dd-app-key": DD_APP_KEY,
    }


def assert_log_clean(step: Step, secrets: list[str]) -> None:
    masks = [
        line
        for line in step.stdout.splitlines()
        if line.startswith("::add-mask::") and line != f"::add-mask::{MASK}"
    ]
    # The runner hides every known secret in the log: each is announced once, first.
    assert sorted(m.removeprefix("::add-mask::") for m in masks) == sorted(set(secrets))
    assert step.stdout.splitlines()[: len(masks)] == masks
    rest = "\n".join(line for line in step.stdout.splitlines() if line not in masks)
    assert_clean("the log", rest, secrets)
    assert MASK in rest  # what the command printed is there, redacted


def test_a_failing_command_s_secrets_reach_no_surface_of_a_pull_request(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("leaky")
    world.fake.add_pull(REPO, 21, head_sha=head, base_sha=main, head_ref="feature")
    world.fake.clear_calls()
    step = world.act("pull_request", world.pr_event(21, head, main), **secret_inputs(world))

    assert step.code == 1, step.stdout
    assert step.outputs["verdict"] == "error"
    secrets = all_secrets(world)
    (comment,) = our_comments(world, 21)
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "failure"
    # The report still says what went wrong, with the secrets masked.
    for surface in (comment.body, check.output["summary"], step.summary):
        assert "model not found" in surface
        assert MASK in surface
    bodies = [json.dumps(call.body) for call in world.fake.calls if call.body is not None]
    assert bodies, "the comment and the check were written"
    for call, body in zip(world.fake.calls, bodies, strict=False):
        assert_clean(f"{call.method} {call.path}", body, secrets)
    assert_clean("the comment", comment.body, secrets)
    assert_clean("the check run", json.dumps(check.output), secrets)
    assert_clean("the job summary", step.summary, secrets)
    report = world.repo / ".driftgate" / "report"
    assert_clean("report.json", (report / "report.json").read_text(), secrets)
    assert_clean("report.md", (report / "report.md").read_text(), secrets)
    json.loads((report / "report.json").read_text())  # still valid JSON
    assert_log_clean(step, secrets)
    # The workflow command the script printed was shown inside the suspended block, redacted.
    assert f"::add-mask::{MASK}" in step.stdout
    assert first  # the base commit exists for the merge-base


def test_a_fork_s_artifact_and_its_publication_carry_no_secret(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    world.act("push", world.push_event(main, first))
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("from a fork, leaky")
    world.fake.add_pull(REPO, 22, head_sha=head, base_sha=main, head_repo="stranger/bot")
    inputs = secret_inputs(world)
    forked = world.act(
        "pull_request", world.pr_event(22, head, main, fork=True), token="fork", **inputs
    )
    assert forked.outputs["verdict"] == "error", forked.stdout
    # A fork's run has no secrets of the base repository; what it had of its own stays out.
    secrets = [*all_secrets(world), world.fake.token("fork")]
    secrets.remove(world.fake.token("write"))
    artifact = world.repo / ".driftgate" / "artifact"
    files = sorted(p for p in artifact.rglob("*") if p.is_file())
    assert [p.name for p in files] == ["meta.json", "report.json"]
    for path in files:
        assert_clean(f"the artifact's {path.name}", path.read_text(), secrets)
    assert "model not found" in (artifact / "report.json").read_text()
    assert_clean("the fork run's summary", forked.summary, secrets)

    world.fake.clear_calls()
    published = world.act(
        "workflow_run",
        workflow_run_event(REPO, head, head_repo="stranger/bot", head_branch="feature"),
        mode="publish",
        command="",
    )
    assert published.code == 0, published.stdout
    (comment,) = our_comments(world, 22)
    assert "model not found" in comment.body
    for call in world.fake.calls:
        assert_clean(f"{call.method} {call.path}", json.dumps(call.body), all_secrets(world))


def test_driftgate_run_keeps_the_environment_s_secrets_out_of_its_reports(world: World) -> None:
    """The command line's gate redacts the same way (its reports are uploaded as artifacts):
    the workflow gives it the token and keys in its environment."""
    world.commit("base")
    token = world.fake.token("write")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_", "INPUT_"))}
    env.update(RUNNER_ENV, GITHUB_TOKEN=token, DD_API_KEY=DD_API_KEY, DD_APP_KEY=DD_APP_KEY)
    argv = [sys.executable, "-m", "driftgate.cli", "run", "--local", "--"]
    argv += leaking_command(world).split(" ")
    proc = subprocess.run(argv, cwd=world.repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    secrets = [
        token,
        DD_API_KEY,
        DD_APP_KEY,
        *(v for k, v in RUNNER_ENV.items() if k != "GITHUB_TOKEN"),
    ]
    report = world.repo / ".driftgate" / "report"
    for name in ("report.json", "report.md"):
        text = (report / name).read_text()
        assert "model not found" in text
        assert_clean(name, text, secrets)
    assert_clean("its output", proc.stdout + proc.stderr, secrets)


def test_a_secret_in_the_experiment_s_own_data_is_redacted_everywhere(world: World) -> None:
    """A model that answers with a key it was given: the record's output is in the comment,
    the check, the summary and the reports, redacted."""
    first = world.commit("base")
    main = world.commit("main")
    world.env_extra.update(RAW_BAD="0")
    world.act("push", world.push_event(main, first), store="embedded")
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("leaks a key in its answers")
    world.fake.add_pull(REPO, 23, head_sha=head, base_sha=main)
    password = RUNNER_ENV["DB_PASSWORD"]
    world.env_extra.update(RAW_BAD="30", RAW_OUTPUT=f" (db {password}, key {DD_API_KEY})")
    world.fake.clear_calls()
    inputs = {"dd-api-key": DD_API_KEY, "store": "embedded"}
    step = world.act("pull_request", world.pr_event(23, head, main), **inputs)
    assert step.outputs["verdict"] == "fail", step.stdout
    secrets = [password, DD_API_KEY]
    (comment,) = our_comments(world, 23)
    shown = r"(db \*\*\*, key \*\*\*)"  # the mask, escaped as Markdown
    assert shown in comment.body
    for call in world.fake.calls:
        assert_clean(f"{call.method} {call.path}", json.dumps(call.body), secrets)
    assert_clean("the job summary", step.summary, secrets)
    report = world.repo / ".driftgate" / "report"
    # report.md is text, as the terminal shows it: the mask as written.
    for name, masked in (("report.json", "(db ***, key ***)"), ("report.md", "(db ***, key ***)")):
        text = (report / name).read_text()
        assert masked in text, name
        assert_clean(name, text, secrets)


def test_the_publisher_redacts_what_it_sends_whatever_it_is_given(world: World) -> None:
    """The last defence: a result that still holds a secret (nothing redacted it before)
    reaches neither the comment, the check run nor the job summary."""
    head = world.commit("base")
    world.fake.add_pull(REPO, 24, head_sha=head, base_sha=head)
    token = world.fake.token("write")
    tail = f"Authorization: token {token}\nhttps://u:{quote(DD_APP_KEY)}@x/\n{DD_API_KEY[:9]}\n{DD_API_KEY[9:]}"
    failed = CommandResult(
        command=f"curl -H 'token {token}' https://api.example",
        exit_code=3,
        timed_out=False,
        duration_s=1.0,
        started_at=datetime.now(UTC),
        tail=tail,
    )
    message = f"the experiment command failed: {failed.describe_failure()}"
    result = GateResult(reports=[error_report(message)], command=failed)
    rctx = ReportContext(
        repository=REPO,
        pipeline=PIPELINE,
        head_sha=head,
        base_branch="main",
        pr_number=24,
        run_url=None,
        backend="the embedded store",
    )
    summaries: list[str] = []
    redact = Redactor([token, DD_API_KEY, DD_APP_KEY])
    publisher = Publisher(
        Commands(io.StringIO()),
        lambda markdown: summaries.append(redact(markdown)),
        world.reporter,
        SecretStr(token),
        world.fake.api_url,
        redact,
    )
    publisher.post(
        Policy(PIPELINE, "always", True, "regression"), Target(REPO, head, 24), result, rctx
    )
    (comment,) = our_comments(world, 24)
    assert "exited with status 3" in comment.body and MASK in comment.body
    (check,) = world.fake.check_runs(REPO, head)
    assert MASK in check.output["summary"]
    secrets = [token, DD_API_KEY, DD_APP_KEY]
    assert [c for c in world.fake.calls if c.body is not None]
    for call in world.fake.calls:
        assert_clean(f"{call.method} {call.path}", json.dumps(call.body), secrets)
