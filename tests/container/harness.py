"""Run the Action's image the way GitHub's runner runs a Docker action.

`ensure_image()` builds the image (through run.sh: daemon, Debian base image, `docker build`)
and `run_action()` starts one container the runner's way: the workspace mounted at
/github/workspace as the working directory, the event payload at /github/workflow/event.json,
the file-command files under /github/file_commands, HOME=/github/home, every input as
INPUT_<NAME> with hyphens kept, the GITHUB_* variables, --network host. Each variable is passed
as `-e NAME` with its value in the docker client's environment, as the runner does, so
multi-line values and hyphenated names arrive untouched.

Standard library only: `python3 tests/container/harness.py measure` runs without the
project's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUN_SH = HERE / "run.sh"

# GitHub-hosted runners run steps as the user `runner` (uid 1001, gid 1001 on its images): the
# checkout and the file-command files belong to it, and only the container runs as root.
RUNNER_UID = RUNNER_GID = 1001

WORKSPACE = "/github/workspace"
EVENT_PATH = "/github/workflow/event.json"
FILE_COMMANDS = "/github/file_commands"
HOME = "/github/home"


class ContainerUnavailable(RuntimeError):
    """Docker or the image cannot be had; the message says why."""


# ------------------------------------------------------------------------------ the image


def ensure_image(timeout: float = 1800) -> str:
    """The tag of an up-to-date image of the Action.

    $DRIFTGATE_IMAGE names one built already (run.sh sets it for the tests it runs); otherwise
    run.sh builds it, starting a daemon and building the base image first if needed."""
    tag = os.environ.get("DRIFTGATE_IMAGE")
    if tag:
        probe = _docker("image", "inspect", "--format", "{{.Id}}", tag)
        if probe.returncode != 0:
            raise ContainerUnavailable(
                f"DRIFTGATE_IMAGE={tag} cannot be inspected: {probe.stderr.strip()}"
            )
        return tag
    try:
        proc = subprocess.run(
            ["bash", str(RUN_SH), "image"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ContainerUnavailable(f"{RUN_SH} image took over {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise ContainerUnavailable(
            f"{RUN_SH} image exited {proc.returncode}:\n{_tail(proc.stderr, 40)}"
        )
    return proc.stdout.strip().splitlines()[-1]


def image_size(image: str) -> int:
    """The image's size in bytes, as `docker image inspect` gives it."""
    return int(_checked("image", "inspect", "--format", "{{.Size}}", image).strip())


# ------------------------------------------------------------------------------ one run


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]  # GITHUB_OUTPUT, parsed the way the runner parses it
    summary: str  # GITHUB_STEP_SUMMARY's content
    root_owned: list[str] = field(default_factory=list)  # workspace paths left owned by root
    seconds: float = 0.0
    signalled_after: float | None = None  # from SIGTERM to the container's end, when sent

    @property
    def output(self) -> str:
        """stdout then stderr, for assertions on what the job log would show."""
        return self.stdout + self.stderr


def run_action(
    workspace: Path,
    event: Mapping[str, Any],
    inputs: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    event_name: str | None = None,
    image: str | None = None,
    entrypoint: str | None = None,
    args: Sequence[str] = (),
    timeout: float = 600,
    signal_when: Callable[[], bool] | None = None,
) -> Result:
    """Run the image once as the runner runs a Docker action step, and collect what it left.

    `event` is the webhook payload; `event_name` defaults to what the payload looks like
    (pull_request, workflow_run or push). `inputs` are action.yml's names (`fail-on`), `env`
    adds or overrides variables (GITHUB_API_URL for a fake, say). `entrypoint` and `args`
    replace the image's ENTRYPOINT and the step's args, for probes. `signal_when`: once it
    answers true (polled), the container gets SIGTERM, as the runner sends it when the
    workflow is cancelled; `Result.signalled_after` says how long it took to end then. When
    the tests run as
    root, the workspace is handed to the runner's uid first, as on a hosted runner, so that
    `root_owned` lists what the container left behind as root."""
    image = image or ensure_image()
    workspace = workspace.resolve()
    event_name = event_name or guess_event_name(event)
    with tempfile.TemporaryDirectory(prefix="driftgate-runner-") as temp:
        # The runner's _temp folder: what it mounts besides the workspace.
        runner_temp = Path(temp)
        home = runner_temp / "_github_home"
        workflow = runner_temp / "_github_workflow"
        commands = runner_temp / "_runner_file_commands"
        for folder in (home, workflow, commands):
            folder.mkdir()
        (workflow / "event.json").write_text(json.dumps(event), encoding="utf-8")
        step = uuid.uuid4()
        files = {
            "GITHUB_OUTPUT": f"set_output_{step}",
            "GITHUB_STEP_SUMMARY": f"step_summary_{step}",
            "GITHUB_ENV": f"set_env_{step}",
            "GITHUB_PATH": f"add_path_{step}",
            "GITHUB_STATE": f"save_state_{step}",
        }
        for name in files.values():
            (commands / name).touch()
        if os.geteuid() == 0:
            for path in (workspace, runner_temp):
                _chown_tree(path, RUNNER_UID, RUNNER_GID)

        variables = runner_env(event, event_name, workspace)
        variables.update({key: f"{FILE_COMMANDS}/{name}" for key, name in files.items()})
        variables.update({input_variable(name): value for name, value in inputs.items()})
        variables.update(env or {})

        name = f"driftgate-test-{step.hex[:12]}"
        command = [
            "docker", "run", "--rm", "--name", name,
            "--network", "host",
            "--workdir", WORKSPACE,
            "-v", f"{home}:{HOME}",
            "-v", f"{workflow}:/github/workflow",
            "-v", f"{commands}:{FILE_COMMANDS}",
            "-v", f"{workspace}:{WORKSPACE}",
        ]  # fmt: skip
        for key in variables:
            # The value comes from the client's environment, as with the runner; HOME is
            # given inline, because the client reads its own config from its own $HOME.
            command += ["-e", f"HOME={variables[key]}" if key == "HOME" else key]
        if entrypoint is not None:
            command += ["--entrypoint", entrypoint]
        command += [image, *args]

        client_env = {k: v for k, v in os.environ.items() if k.startswith(("DOCKER_", "PATH"))}
        client_env.update(variables)
        client_env["HOME"] = os.environ.get("HOME", "/root")

        started = time.monotonic()
        signalled: list[float] = []
        done = threading.Event()

        def cancel() -> None:
            assert signal_when is not None
            while not done.wait(0.1):
                if signal_when():
                    signalled.append(time.monotonic())
                    _docker("kill", "--signal", "TERM", name)
                    return

        if signal_when is not None:
            threading.Thread(target=cancel, name="driftgate-cancel", daemon=True).start()
        try:
            proc = subprocess.run(
                command, env=client_env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            _docker("kill", name)
            raise AssertionError(f"the container ran over {timeout:.0f}s: {command}") from exc
        finally:
            done.set()
        ended = time.monotonic()
        seconds = ended - started
        if proc.returncode == 125:
            # docker's own failure (no daemon, a bad mount), not an exit code of the action.
            raise ContainerUnavailable(f"docker run failed: {proc.stderr.strip()}")
        return Result(
            exit_code=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            outputs=parse_output_file(
                (commands / files["GITHUB_OUTPUT"]).read_text(encoding="utf-8")
            ),
            summary=(commands / files["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8"),
            root_owned=root_owned(workspace),
            seconds=seconds,
            signalled_after=ended - signalled[0] if signalled else None,
        )


def input_variable(name: str) -> str:
    """The runner's name for an input: upper-cased, spaces to `_`, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


def guess_event_name(event: Mapping[str, Any]) -> str:
    if "workflow_run" in event:
        return "workflow_run"
    if "pull_request" in event:
        return "pull_request"
    if "ref" in event and "before" in event:
        return "push"
    raise ValueError("cannot tell the event from its payload: pass event_name")


def runner_env(event: Mapping[str, Any], event_name: str, workspace: Path) -> dict[str, str]:
    """The variables the runner gives every step's container, filled from the payload."""
    repository = (event.get("repository") or {}).get("full_name", "octo-org/octo-repo")
    pull = event.get("pull_request") or {}
    if event_name.startswith("pull_request") and pull:
        ref = f"refs/pull/{pull.get('number', 1)}/merge"
        sha = pull.get("merge_commit_sha") or pull.get("head", {}).get("sha")
    elif event_name == "workflow_run":
        ref = f"refs/heads/{event['workflow_run'].get('head_branch', 'main')}"
        sha = event["workflow_run"].get("head_sha")
    else:
        ref = event.get("ref", "refs/heads/main")
        sha = event.get("after")
    variables = {
        "HOME": HOME,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": EVENT_PATH,
        "GITHUB_WORKSPACE": WORKSPACE,
        "GITHUB_REPOSITORY": repository,
        "GITHUB_REPOSITORY_OWNER": repository.split("/")[0],
        "GITHUB_REF": ref,
        "GITHUB_REF_NAME": ref.removeprefix("refs/heads/").removeprefix("refs/tags/"),
        "GITHUB_SHA": sha or _head_of(workspace) or "0" * 40,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_NUMBER": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_WORKFLOW": "driftgate",
        "GITHUB_JOB": "gate",
        "GITHUB_ACTION": "__driftgate",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "GitHub Actions 2",
        "RUNNER_ENVIRONMENT": "github-hosted",
        "RUNNER_TEMP": "/home/runner/work/_temp",
        "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
    }
    if event_name.startswith("pull_request") and pull:
        variables["GITHUB_HEAD_REF"] = pull.get("head", {}).get("ref", "")
        variables["GITHUB_BASE_REF"] = pull.get("base", {}).get("ref", "")
    return variables


def parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIM` blocks.
    A malformed file fails the step on GitHub, so it raises here."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines):
        line = lines[index].removesuffix("\r")
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals > 0 and (heredoc < 0 or equals < heredoc):
            outputs[line[:equals]] = line[equals + 1 :]
        elif heredoc > 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not delimiter:
                raise ValueError(f"GITHUB_OUTPUT: empty delimiter for {name!r}")
            value: list[str] = []
            while True:
                if index >= len(lines):
                    raise ValueError(f"GITHUB_OUTPUT: no closing {delimiter!r} for {name!r}")
                body = lines[index].removesuffix("\r")
                index += 1
                if body == delimiter:
                    break
                value.append(body)
            outputs[name] = "\n".join(value)
        else:
            raise ValueError(f"GITHUB_OUTPUT: invalid line {line!r}")
    return outputs


def root_owned(workspace: Path) -> list[str]:
    """Paths under the workspace owned by root (relative), when the workspace itself is not."""
    if workspace.lstat().st_uid == 0:
        return []  # a root-owned checkout: nothing to tell apart
    found = []
    for path in _walk(workspace):
        if path.lstat().st_uid == 0:
            found.append(str(path.relative_to(workspace)))
    return sorted(found)


# ------------------------------------------------------------------------------ measurement


def first_line_seconds(command: Sequence[str]) -> float:
    """Seconds from starting `command` to the first line it prints (stdout or stderr)."""
    started = time.monotonic()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        elapsed = time.monotonic() - started
        proc.stdout.read()
        proc.wait()  # the exit code does not matter here, only that something was printed
        if not first:
            raise AssertionError(f"{command} printed nothing (exit {proc.returncode})")
    return elapsed


def measure(image: str, runs: int) -> dict[str, Any]:
    """The image's size; for `driftgate --version` and `driftgate demo`, the median seconds
    from `docker run` to the first line, and from `docker start` of a container created
    beforehand (what is left once the storage driver has made the container's file system)."""
    figures: dict[str, Any] = {"image": image, "size_mb": round(image_size(image) / 1e6)}
    base = ["--network", "host", "--entrypoint", "driftgate", image]
    for label, args in (("--version", ["--version"]), ("demo", ["demo"])):
        run = ["docker", "run", "--rm", *base, *args]
        first_line_seconds(run)  # a warm-up: the first run pays for the page cache
        from_run = [first_line_seconds(run) for _ in range(runs)]
        from_start = []
        for _ in range(runs):
            container = _checked("create", *base, *args).strip()
            try:
                from_start.append(first_line_seconds(["docker", "start", "--attach", container]))
            finally:
                _docker("rm", "--force", container)
        figures[label] = {
            "runs": runs,
            "docker_run_to_first_line_s": _spread(from_run),
            "docker_start_to_first_line_s": _spread(from_start),
        }
    return figures


def _spread(times: Sequence[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(times), 3),
        "min": round(min(times), 3),
        "max": round(max(times), 3),
    }


# ------------------------------------------------------------------------------ helpers


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker") is None:
        raise ContainerUnavailable("no docker client on PATH (run tests/container/run.sh)")
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def _checked(*args: str) -> str:
    proc = _docker(*args)
    if proc.returncode != 0:
        raise ContainerUnavailable(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _head_of(workspace: Path) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(workspace), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _walk(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            yield Path(folder) / name


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.lchown(root, uid, gid)
    for path in _walk(root):
        os.lchown(path, uid, gid)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    measuring = sub.add_parser(
        "measure", help="image size, and seconds from `docker run` to the first line"
    )
    measuring.add_argument("--image", default=None, help="default: build it with run.sh")
    measuring.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    image = args.image or ensure_image()
    print(json.dumps(measure(image, args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
