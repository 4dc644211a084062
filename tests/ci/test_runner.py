"""Running the user's command: live output, tail, exit status, timeouts that end the whole
process group, experiment URLs, secrets kept out."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from driftgate.ci.runner import display, run_command

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
    for _ in range(50):  # the orphaned grandchild is reaped by init shortly after the kill
        if (
            not Path(f"/proc/{child}").exists()
            or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
        ):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the child of the timed-out command is still running")


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
