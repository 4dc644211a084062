"""Workflow commands cannot be injected by what the user's command leaves running: the real
Action entry point, a real background job, the log as the runner would read it."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.action.test_main import RAW, REPO, World, git
from tests.fakes.github import FakeGitHub


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


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_a_job_left_behind_by_the_command_never_writes_to_the_log(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main")
    pid_file = world.tmp / "job.pid"
    # Longer than the command, and than any wait for its output to end.
    # (Written in octal, so that the command line that driftgate shows does not hold them.)
    job = r"(sleep 8; printf '\072\072error\072\072pwned\n\072\072add-mask\072\072the\n')"
    command = f"{job} & echo $! > {pid_file}; {sys.executable} {RAW}"
    clock = time.monotonic()
    step = world.act("push", world.push_event(main, first), command=command)
    assert time.monotonic() - clock < 8, "the job was stopped, not waited for"
    assert step.code == 0, step.stdout
    assert step.outputs["verdict"] == "no_baseline"
    pid = int(pid_file.read_text())
    for _ in range(20):
        if not running(pid):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the command's background job outlived it")
    assert "::error::pwned" not in step.stdout and "::add-mask::the" not in step.stdout
    # Each stop-commands block is closed by its own token, and what follows its end is ours.
    opened = re.findall(r"^::stop-commands::(\w+)$", step.stdout, re.MULTILINE)
    assert opened
    for token in opened:
        assert step.stdout.count(f"\n::{token}::\n") == 1
