"""Running the user's command: live output, tail, exit status, timeouts that end the whole
process group, nothing left running or writing once it exited, experiment URLs, secrets
kept out. Real processes throughout."""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from pathlib import Path

import pytest

from driftgate.action.workflow import Commands, WorkflowLog
from driftgate.ci import runner
from driftgate.ci.cancel import Cancelled, cancel_on_signals
from driftgate.ci.runner import display, run_command
from driftgate.redact import Redactor

PY = sys.executable


def run(command, tmp_path: Path, timeout: float | None = 30, **kw):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    result = run_command(
        command,
        cwd=tmp_path,
        env={**os.environ, **kw.pop("env", {})},
        timeout_s=timeout,
        echo=lines.append,
        **kw,
    )
    return result, lines


def test_output_is_streamed_and_its_tail_kept(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(100):\n    print(i)\nprint('err', file=sys.stderr)\n"
    result, lines = run([PY, "-c", script], tmp_path, tail_lines=3)
    assert lines[:3] == ["0", "1", "2"]
    assert lines[-1] == "err"  # stderr is merged into the same stream
    assert result.tail == "98\n99\nerr"
    assert result.ok
    assert result.exit_code == 0


def test_a_shell_string_runs_in_the_working_directory_with_the_environment(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("here\n")
    result, lines = run(
        "cat marker && echo $DRIFTGATE_PIPELINE", tmp_path, env={"DRIFTGATE_PIPELINE": "capitals"}
    )
    assert lines == ["here", "capitals"]
    assert result.ok


def test_a_failing_command_keeps_its_status_and_output(tmp_path: Path) -> None:
    result, _ = run([PY, "-c", "print('about to fail'); raise SystemExit(3)"], tmp_path)
    assert not result.ok
    assert result.exit_code == 3
    assert result.tail == "about to fail"
    assert "exited with status 3" in result.describe_failure()


def test_a_command_that_cannot_start_says_so(tmp_path: Path) -> None:
    result, _ = run(["definitely-not-a-command-xyz"], tmp_path)
    assert not result.ok
    assert result.failed_to_start is not None
    assert "definitely-not-a-command-xyz" in result.describe_failure()


def test_a_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; echo started; wait"
    result, lines = run(script, tmp_path, timeout=1.0)
    assert result.timed_out
    assert result.exit_code is None
    assert lines == ["started"]
    assert "did not finish within the timeout" in result.describe_failure()
    child = int(pid_file.read_text())
    assert_ended(child)


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it (it runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def assert_ended(pid: int) -> None:
    for _ in range(50):  # the orphan is reaped by init shortly after the kill
        if ended(pid):
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} of the command is still running")


def test_experiment_urls_in_the_output_are_collected_in_order(tmp_path: Path) -> None:
    a, b = "0b1f3c52-0000-4000-8000-000000000001", "0b1f3c52-0000-4000-8000-000000000002"
    script = (
        f"print('experiment: https://app.datadoghq.com/llm/experiments/{b}')\n"
        f"print('see https://us5.datadoghq.com/llm/experiments/{a} and again {b}')\n"
    )
    result, _ = run([PY, "-c", script], tmp_path)
    assert result.experiment_ids == [b, a]


def test_secrets_never_reach_the_echo_or_the_tail(tmp_path: Path) -> None:
    result, lines = run(
        [PY, "-c", "import os; print('key=' + os.environ['K'])"],
        tmp_path,
        env={"K": "s3cr3t-value"},
        secrets=["s3cr3t-value"],
    )
    assert lines == ["key=***"]
    assert "s3cr3t" not in result.tail


def test_display_quotes_what_needs_it() -> None:
    assert display(["python", "exp.py", "--name", "my run"]) == "python exp.py --name 'my run'"
    assert display("make eval") == "make eval"


# -- what the command leaves behind ---------------------------------------------------------


def gate_step(script: str, tmp_path: Path, **kw: float) -> tuple[str, io.StringIO, float]:
    """`script` run the way the Action runs it: inside a log group in which workflow commands
    are suspended. Returns the log up to the block's end, the live log, and the run's time."""
    out = io.StringIO()
    log = WorkflowLog(out, Commands(out))
    clock = time.monotonic()
    with log.section("experiment: evil"):
        result = run_command(
            script, cwd=tmp_path, env=dict(os.environ), timeout_s=30, echo=log.line, **kw
        )
    took = time.monotonic() - clock
    assert result.ok, result
    return out.getvalue(), out, took


def test_a_background_job_cannot_write_workflow_commands_after_the_block(tmp_path: Path) -> None:
    pid_file = tmp_path / "job.pid"
    script = (
        f"(sleep 0.3; echo '::error::pwned'; echo '::add-mask::x'; echo '::stop-commands::t') & "
        f"echo $! > {pid_file}; echo started; exit 0"
    )
    closed, out, took = gate_step(script, tmp_path)
    assert took < 2, "the job is stopped when the command exits, not waited for"
    assert ended(int(pid_file.read_text()))
    time.sleep(0.6)  # past the moment the job would have written
    assert out.getvalue() == closed, "nothing may reach the log after the block"
    assert "pwned" not in closed and "::add-mask::" not in closed
    *_, token_line, end_group = closed.splitlines()
    assert end_group == "::endgroup::"
    assert token_line.startswith("::") and token_line.endswith("::")  # stop-commands resumed
    assert "started" in closed


def test_what_the_job_wrote_before_the_exit_is_read_inside_the_block(tmp_path: Path) -> None:
    script = "(for i in 1 2 3; do echo job-$i; done; sleep 30) & sleep 0.3; echo done"
    closed, _, _ = gate_step(script, tmp_path)
    inside = closed.split("::endgroup::")[0]
    assert [line for line in inside.splitlines() if line.startswith(("job-", "done"))] == [
        "job-1",
        "job-2",
        "job-3",
        "done",
    ]


def test_a_job_that_ignores_sigterm_gets_sigkill_after_the_grace(tmp_path: Path) -> None:
    pid_file = tmp_path / "stubborn.pid"
    script = (
        f"(trap '' TERM; echo $BASHPID > {pid_file}; while :; do sleep 0.05; done) & "
        "sleep 0.2; echo exiting; exit 0"
    )
    closed, _, took = gate_step(f"bash -c {shlex_quote(script)}", tmp_path, leftover_grace_s=0.6)
    assert 0.6 <= took < 3, took
    assert_ended(int(pid_file.read_text()))
    assert "exiting" in closed


def test_a_timed_out_command_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    script = "trap '' TERM; echo stubborn; while :; do sleep 0.05; done"
    clock = time.monotonic()
    result, lines = run(["bash", "-c", script], tmp_path, timeout=0.5, grace_s=0.5)
    assert result.timed_out and lines == ["stubborn"]
    assert 1.0 <= time.monotonic() - clock < 4


def test_a_process_that_left_the_group_is_not_heard_after_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of reach of the group's signals (setsid), it still holds the output: the runner
    stops reading it after the drain period, and stops echoing at once."""
    monkeypatch.setattr(runner, "DRAIN_S", 0.3)
    escape = "import os, time; os.setsid(); time.sleep(0.8); print('::error::late', flush=True)"
    script = f'{sys.executable} -c "{escape}; time.sleep(1)" & echo started'
    closed, out, took = gate_step(script, tmp_path)
    assert took < 2
    time.sleep(1.0)
    assert out.getvalue() == closed
    assert "late" not in closed


# -- secrets in what the runner returns -----------------------------------------------------

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"


def test_the_command_line_and_its_failure_are_redacted(tmp_path: Path) -> None:
    redact = Redactor([TOKEN])
    result, _ = run(f"echo using {TOKEN} >/dev/null; exit 4", tmp_path, secrets=redact)
    assert TOKEN not in result.command and "***" in result.command
    assert TOKEN not in result.describe_failure()
    missing, _ = run([f"/nonexistent/{TOKEN}"], tmp_path, secrets=redact)
    assert missing.failed_to_start is not None
    assert TOKEN not in missing.failed_to_start and TOKEN not in missing.command


def test_a_secret_split_across_lines_or_encoded_is_redacted_in_the_tail(tmp_path: Path) -> None:
    header = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    script = (
        f"print('key: {TOKEN[:20]}')\n"  # wrapped by a formatter
        f"print('{TOKEN[20:]} ok')\n"
        f"print('AUTHORIZATION: basic {header}')\n"
        f"print('https://u:{TOKEN.replace('_', '%5F')}@host')\n"
    )
    result, lines = run([PY, "-c", script], tmp_path, secrets=Redactor([TOKEN]))
    for text in (result.tail, "\\n".join(lines)):
        assert TOKEN[:8] not in text and TOKEN[-8:] not in text
        assert header[20:40] not in text
    assert result.tail.splitlines()[:2] == ["key: ***", "*** ok"]


def test_the_tail_s_first_line_loses_the_end_of_a_secret_begun_before_it(tmp_path: Path) -> None:
    script = f"print('{TOKEN[:25]}'); print('{TOKEN[25:]} rest'); print('last')"
    result, _ = run([PY, "-c", script], tmp_path, secrets=Redactor([TOKEN]), tail_lines=2)
    assert result.tail == "*** rest\nlast"


def shlex_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- survivors of a timeout (the group's stubborn members, and what left the group) ---------


def gone(pid: int) -> bool:
    """No trace at all: ended and reaped (driftgate, the subreaper, collected it)."""
    return not Path(f"/proc/{pid}").exists()


def wait_gone(pid: int, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper and /proc: Linux")
def test_a_timeout_ends_a_term_ignoring_child_and_a_setsid_child(tmp_path: Path) -> None:
    stubborn, escaped = tmp_path / "stubborn.pid", tmp_path / "escaped.pid"
    escape = (
        "import os, sys, time\n"
        "if os.fork(): sys.exit(0)\n"  # the parent exits: the child is an orphan
        "os.setsid()\n"  # and out of the group's reach
        f"open({str(escaped)!r}, 'w').write(str(os.getpid()))\n"
        "os.close(1); os.close(2)\n"  # nothing holds the output: only the subreaper finds it
        "time.sleep(300)\n"
    )
    script = (
        f"(trap '' TERM; echo $BASHPID > {stubborn}; while :; do sleep 0.05; done) & "
        f"{PY} -c {shlex_quote(escape)}; echo started; wait"
    )
    clock = time.monotonic()
    result, lines = run(["bash", "-c", script], tmp_path, timeout=1.0, grace_s=0.5)
    took = time.monotonic() - clock
    assert result.timed_out and lines == ["started"]
    assert took < 4, took
    for pid_file in (stubborn, escaped):
        pid = int(pid_file.read_text())
        assert wait_gone(pid), f"{pid_file.stem} ({pid}) survived the timeout: {ended(pid)=}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper and /proc: Linux")
def test_a_daemon_started_by_a_command_that_exits_is_ended_and_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    daemon = (
        "import os, sys, time\n"
        "if os.fork(): sys.exit(0)\n"
        "os.setsid()\n"
        "if os.fork(): sys.exit(0)\n"  # the classic double fork
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    script = f"{PY} -c {shlex_quote(daemon)}; sleep 0.3; echo done"
    closed, _, took = gate_step(f"bash -c {shlex_quote(script)}", tmp_path)
    assert took < 3, took
    assert "done" in closed
    assert wait_gone(int(pid_file.read_text()))


def test_driftgate_becomes_a_subreaper_on_linux(tmp_path: Path) -> None:
    """An orphaned grandchild is re-parented to driftgate (not to init), and reaped."""
    import subprocess

    assert runner.become_subreaper() is sys.platform.startswith("linux")
    if not sys.platform.startswith("linux"):
        return
    pid_file = tmp_path / "orphan.pid"
    script = (
        "import os, sys, time\n"
        "if os.fork(): sys.exit(0)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(0.3)\n"
    )
    before = runner._children(os.getpid())
    subprocess.run([PY, "-c", script], check=True)
    _wait_file(pid_file)
    orphan = int(pid_file.read_text())
    assert orphan in runner._children(os.getpid()), "the orphan was not re-parented here"
    time.sleep(0.5)
    runner._reap(before, -1)
    assert gone(orphan)


def _wait_file(path: Path) -> None:
    for _ in range(100):
        if path.exists() and path.read_text():
            return
        time.sleep(0.02)


# -- output without line breaks: bounded memory ----------------------------------------------


def test_carriage_returns_split_lines_and_crlf_is_one_break(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "for i in range(3):\n"
        "    sys.stdout.write(f'\\r{i * 50}%'); sys.stdout.flush(); time.sleep(0.01)\n"
        "sys.stdout.write('\\r\\n'); sys.stdout.write('a\\r\\nb\\n\\nc')\n"
    )
    result, lines = run([PY, "-c", script], tmp_path)
    assert lines == ["", "0%", "50%", "100%", "a", "b", "", "c"]
    assert result.tail.endswith("a\nb\n\nc")


def test_a_crlf_split_between_two_reads_is_one_break(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runner, "CHUNK", 4)
    _, lines = run(["printf", "abc\\r\\ndef\\r\\n"], tmp_path)
    assert lines == ["abc", "def"]


def test_an_endless_line_is_cut_and_marked_and_the_rest_goes_on(tmp_path: Path) -> None:
    script = "import sys\nsys.stdout.write('x' * 300_000 + '\\n'); print('after'); print('y' * 10)"
    result, lines = run([PY, "-c", script], tmp_path)
    assert len(lines) == 3
    assert lines[0].startswith("x" * runner.MAX_LINE)
    assert lines[0].endswith(runner.CUT_MARK.format(n=runner.MAX_LINE))
    assert lines[1:] == ["after", "y" * 10]
    assert len(result.tail) <= runner.TAIL_CHARS + 40
    assert result.tail.startswith("[driftgate: earlier output cut]")
    assert result.tail.endswith("after\n" + "y" * 10)


def test_a_secret_at_the_tail_s_cut_is_not_left_in_part(tmp_path: Path) -> None:
    # The secret straddles the place where the tail's characters are cut.
    filler = "z" * (runner.TAIL_CHARS - 20)
    script = f"print('{TOKEN}' + '{filler}')"
    result, _ = run([PY, "-c", script], tmp_path, secrets=Redactor([TOKEN]))
    assert TOKEN[-8:] not in result.tail and TOKEN[:8] not in result.tail


# The peak of this process's own memory (VmHWM): ru_maxrss would carry over the peak of the
# process that forked it (pytest) across exec.
RSS_PROBE = """
import os, sys
from pathlib import Path
from driftgate.ci.runner import run_command
seen = [0]
def echo(line):
    seen[0] += len(line)
result = run_command(
    sys.argv[1], cwd=Path.cwd(), env=dict(os.environ), timeout_s=120, echo=echo
)
assert result.ok, result
peak_kb = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(int(peak_kb) // 1024, seen[0], len(result.tail))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status: Linux")
def test_512_mb_without_a_line_break_stays_under_100_mb(tmp_path: Path) -> None:
    """It took 1.56 GB when a line was read whole (about 3 s here; against size:
    benchmarks/runner_output.py)."""
    import subprocess

    size = 512 * 1024 * 1024
    out = subprocess.run(
        [PY, "-c", RSS_PROBE, f"head -c {size} /dev/zero | tr '\\0' x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    peak_mb, echoed, tail = (int(v) for v in out)
    assert peak_mb < 100, f"peak RSS {peak_mb} MB"
    assert echoed < runner.MAX_LINE + 100  # one line, cut
    assert tail <= runner.TAIL_CHARS + 40


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc: Linux")
def test_a_signal_while_stopping_what_the_command_left_still_stops_it(tmp_path: Path) -> None:
    """SIGTERM to driftgate during the leftover grace: the job is still ended (sooner), and
    the cancellation comes out with what the command did."""
    import signal
    import threading

    pid_file = tmp_path / "stubborn.pid"
    script = (
        f"(trap '' TERM; echo $BASHPID > {pid_file}; while :; do sleep 0.05; done) & "
        "sleep 0.2; echo exiting; exit 0"
    )
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGTERM))
    clock = time.monotonic()
    timer.start()
    with pytest.raises(Cancelled) as caught, cancel_on_signals():
        run(["bash", "-c", script], tmp_path, leftover_grace_s=30)
    assert time.monotonic() - clock < 5
    assert caught.value.exit_code == 143
    assert caught.value.command is not None and caught.value.command.tail == "exiting"
    assert_ended(int(pid_file.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc: Linux")
def test_a_signal_between_starting_the_command_and_reading_it_still_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal lands after the command started and before its output is in our charge
    (other threads of driftgate, importing while the command starts, can hold the main one
    there): the command is still stopped, and the cancellation says what it did. Before,
    `Cancelled` came out there and left a TERM-ignoring job running after driftgate."""
    import signal

    pid_file, started = tmp_path / "stubborn.pid", tmp_path / "started"
    script = (
        f"(trap '' TERM; echo $BASHPID > {pid_file}; while :; do sleep 0.05; done) & "
        f"touch {started}; sleep 300"
    )
    real = runner._Output.__init__

    def signalled(self: runner._Output, *args: object) -> None:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler has run by now, had nothing held it
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner._Output, "__init__", signalled)
    with pytest.raises(Cancelled) as caught, cancel_on_signals():
        run(["bash", "-c", script], tmp_path)
    assert caught.value.exit_code == 143
    assert caught.value.command is not None  # raised by run_command, the command stopped
    assert_ended(int(pid_file.read_text()))


def _signalled_in_held_block(sig: int, reached: list[str], fail: bool = False) -> None:
    import signal

    from driftgate.ci.cancel import held

    with cancel_on_signals():
        with held():
            os.kill(os.getpid(), signal.Signals(sig))
            time.sleep(0.05)  # the handler has run by now, had nothing held it
            reached.append("end of the block")
            if fail:
                raise OSError("no such file")
        reached.append("after it")  # never: raised as the block ends


def test_held_raises_the_signal_when_the_block_ends_and_only_then() -> None:
    import signal

    from driftgate.ci.cancel import held

    reached: list[str] = []
    with pytest.raises(Cancelled) as caught:
        _signalled_in_held_block(signal.SIGINT, reached)
    assert reached == ["end of the block"]
    assert caught.value.exit_code == 130

    # A block that fails with a signal pending: the cancellation, from the failure.
    with pytest.raises(Cancelled) as caught:
        _signalled_in_held_block(signal.SIGTERM, reached, fail=True)
    assert isinstance(caught.value.__cause__, OSError)

    # No signal: nothing raised; outside cancel_on_signals, held changes nothing.
    with held():
        reached.append("quiet")
    assert reached[-1] == "quiet"
