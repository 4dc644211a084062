"""SIGINT and SIGTERM to driftgate itself, as a process: a cancelled workflow (the runner
signals the container, where driftgate is PID 1), `docker stop`, Ctrl-C. The command's
processes are stopped (a TERM-ignoring one too), the report says `cancelled by SIGTERM`, the
Action posts a neutral check, and the exit is 128 + the signal, within 5 s."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.action.test_main import PIPELINE, REPO, World, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc: Linux")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)


def _command(tmp: Path) -> str:
    """A command that starts a TERM-ignoring job, says so, and runs for five minutes."""
    job, started = tmp / "job.pid", tmp / "started"
    return (
        f"(trap '' TERM; echo $BASHPID > {job}; while :; do sleep 0.05; done) & "
        f"echo running; touch {started}; sleep 300"
    )


def _wait_for(path: Path, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def _signal_mid_run(argv: list[str], cwd: Path, env: dict[str, str], tmp: Path, sig: int):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(tmp / "started")
        clock = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - clock
    finally:
        if proc.poll() is None:
            proc.kill()
    job = int((tmp / "job.pid").read_text())
    return proc.returncode, out, took, job


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_stops_the_command_and_writes_the_cancelled_report(
    tmp_path: Path, sig: int, code: int
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(
        repo,
        "-c",
        "user.email=a@b.invalid",
        "-c",
        "user.name=a",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "first",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_", "CI"))}
    argv = [sys.executable, "-m", "driftgate.cli", "run", "--local", "--", "bash", "-c"]
    returncode, out, took, job = _signal_mid_run(
        [*argv, _command(tmp_path)], repo, env, tmp_path, sig
    )
    name = signal.Signals(sig).name
    assert returncode == code, out
    assert took < 5, f"took {took:.1f} s"
    assert _gone(job), "the TERM-ignoring job outlived driftgate"
    report = json.loads((repo / ".driftgate" / "report" / "report.json").read_text())
    assert report["verdict"] == "error"
    assert report["warnings"][0].startswith(f"cancelled by {name}: ")
    assert report["command"]["tail"] == "running"
    assert f"cancelled by {name}" in (repo / ".driftgate" / "report" / "report.md").read_text()
    assert "Traceback" not in out


def test_sigterm_to_the_action_posts_a_neutral_check_and_exits_143(world: World) -> None:  # noqa: F811
    first = world.commit("base")
    main = world.commit("main")
    env, output, summary = world.environment(
        "push", world.push_event(main, first), command=f"bash -c {shlex.quote(_command(world.tmp))}"
    )
    argv = [sys.executable, "-m", "driftgate.cli", "action"]
    returncode, out, took, job = _signal_mid_run(argv, world.repo, env, world.tmp, signal.SIGTERM)
    assert returncode == 143, out
    assert took < 5, f"took {took:.1f} s"
    assert _gone(job)
    (check,) = world.fake.check_runs(REPO, main)
    assert check.conclusion == "neutral"
    assert PIPELINE in check.name
    assert "cancelled by SIGTERM" in summary.read_text()
    assert "verdict=error" in output.read_text()
    (said,) = [line for line in out.splitlines() if line.startswith("::error ")]
    assert "cancelled" in said and "::cancelled by SIGTERM: driftgate was told to stop" in said
