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


def base_image() -> str:
    """The base image run.sh builds the Action's image on (it exports the tag it used)."""
    release = os.environ.get("DRIFTGATE_BASE_RELEASE", "trixie")
    return os.environ.get("DRIFTGATE_BASE_IMAGE") or f"driftgate-base:{release}"


@dataclass(frozen=True)
class Layer:
    size: int  # bytes
    created_by: str


def added_layers(image: str, base: str) -> list[Layer]:
    """The layers `image` has above `base`, oldest first (the Dockerfile's order)."""
    base_count = len(
        json.loads(_checked("image", "inspect", "--format", "{{json .RootFS.Layers}}", base))
    )
    rows = _checked("history", "--no-trunc", "--human=false", "--format", "{{json .}}", image)
    history = [json.loads(row) for row in rows.splitlines() if row.strip()][::-1]
    # History rows without a layer of their own (ENV, ENTRYPOINT) have size 0: keep the rows
    # that made a file system layer, and drop the base's.
    with_layers = [row for row in history if not _empty_layer(row)]
    return [Layer(int(row["Size"]), row["CreatedBy"]) for row in with_layers[base_count:]]


def _empty_layer(row: Mapping[str, Any]) -> bool:
    created = str(row["CreatedBy"])
    return "#(nop)" in created and not any(op in created for op in (" COPY ", " ADD "))


def disk_usage(image: str, paths: Sequence[str]) -> dict[str, int]:
    """`du` in a container of `image`: bytes per path (absent paths are left out), counted as
    Docker counts a layer's size (the files' lengths, not the blocks they take)."""
    script = 'for p in "$@"; do [ -e "$p" ] && du -sb "$p"; done; true'
    out = _checked("run", "--rm", "--entrypoint", "sh", image, "-c", script, "du", *paths)
    sizes = {}
    for line in out.splitlines():
        size, path = line.split("\t", 1)
        sizes[path] = int(size)
    return sizes


# ------------------------------------------------------------------------------ other Pythons

# Debian 12's CPython 3.11, whose binaries run on the newer glibc of the image's Debian 13: a
# Python other than the image's that uv finds on PATH, without the download.
BOOKWORM_PYTHON = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11",
)


def cache_dir() -> Path:
    """Where run.sh keeps what it builds between runs (the same default)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "driftgate"
    return Path(os.environ.get("DRIFTGATE_CONTAINER_CACHE") or default / "container")


def offline_python(version: str = "3.11") -> list[tuple[Path, str]]:
    """CPython `version` from the host's Debian archive (`apt-get download`, unpacked with
    `dpkg -x`, kept in the cache), as the mounts that put it where Debian puts it in a container:
    /usr/bin/python<version> and its standard library, /usr/lib/python<version> (the libraries
    its modules link are in the image's Debian too; its decimal module carries its own)."""
    root = cache_dir() / f"python{version}-debian"
    if not (root / "usr" / "bin" / f"python{version}").exists():
        _unpack_python(root, [p.replace("3.11", version) for p in BOOKWORM_PYTHON])
    return [
        (root / "usr" / "bin" / f"python{version}", f"/usr/bin/python{version}"),
        (root / "usr" / "lib" / f"python{version}", f"/usr/lib/python{version}"),
    ]


def _unpack_python(root: Path, packages: Sequence[str]) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise ContainerUnavailable(
            "a Python other than the image's comes from apt: no apt-get here"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix="unpack.") as temp:
        work = Path(temp)
        got = subprocess.run(
            ["apt-get", "download", *packages],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if got.returncode != 0:
            raise ContainerUnavailable(
                f"apt-get download {' '.join(packages)} failed (this host's Debian archive must "
                f"have them): {_tail(got.stderr, 5)}"
            )
        tree = work / "tree"
        for deb in sorted(work.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(tree)], check=True, capture_output=True)
        tree.rename(root)


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


def git(workspace: Path, *args: str) -> str:
    """git in a test's workspace, as the test's user: the harness hands the workspace to the
    runner's uid before each run, so git's ownership check is waived here."""
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.strip()


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
    mounts: Sequence[tuple[Path, str]] = (),
) -> Result:
    """Run the image once as the runner runs a Docker action step, and collect what it left.

    `event` is the webhook payload; `event_name` defaults to what the payload looks like
    (pull_request, workflow_run or push). `inputs` are action.yml's names (`fail-on`), `env`
    adds or overrides variables (GITHUB_API_URL for a fake, say). `entrypoint` and `args`
    replace the image's ENTRYPOINT and the step's args, for probes. `signal_when`: once it
    answers true (polled), the container gets SIGTERM, as the runner sends it when the
    workflow is cancelled; `Result.signalled_after` says how long it took to end then.
    `mounts`: more (host path, container path) pairs, mounted read-only. When
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
        for host, inside in mounts:
            command += ["-v", f"{host}:{inside}:ro"]
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


def sizes(image: str, base: str) -> str:
    """The image's size as Markdown for docs/container.md: the base, each layer above it, and
    what each environment's packages (and their bytecode) take, largest first."""
    mb = 1e6
    lines = [
        f"base `{base}`: {image_size(base) / mb:.1f} MB; image: {image_size(image) / mb:.1f} MB",
        "",
        "| layer | MB |",
        "|---|---:|",
    ]
    lines += [
        f"| `{_short(layer.created_by)}` | {layer.size / mb:.1f} |"
        for layer in added_layers(image, base)
    ]
    script = (
        "for env in /opt/driftgate /opt/venv; do "
        'for p in "$env"/lib/python3*/site-packages/*; do du -sb "$p"; done; '
        'for p in /opt/pycache"$env"/lib/python3*/site-packages/*; do du -sb "$p"; done; '
        "done; du -sb /opt/pycache/usr /usr/local/bin/uv /usr/local/bin/uvx /usr/bin/git "
        "/usr/lib/git-core; true"
    )
    out = _checked("run", "--rm", "--entrypoint", "sh", image, "-c", script)
    rows: dict[tuple[str, str], list[int]] = {}
    for line in out.splitlines():
        size, path = line.split("\t", 1)
        bytecode = path.startswith("/opt/pycache/opt/")
        env = (
            "/opt/driftgate"
            if "/opt/driftgate/" in path
            else "/opt/venv"
            if "/opt/venv/" in path
            else "-"
        )
        name = _package(path.rsplit("/", 1)[-1]) if "site-packages" in path else path
        row = rows.setdefault((env, name), [0, 0])
        row[1 if bytecode else 0] += int(size)
    lines += ["", "| environment | package | files MB | bytecode MB |", "|---|---|---:|---:|"]
    for (env, name), (files, bytecode) in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        if sum((files, bytecode)) >= 200_000:
            lines.append(f"| {env} | {name} | {files / mb:.1f} | {bytecode / mb:.1f} |")
    small = sum(sum(v) for v in rows.values() if sum(v) < 200_000)
    lines.append(f"| both | everything under 0.2 MB | {small / mb:.1f} | |")
    return "\n".join(lines)


def _package(entry: str) -> str:
    """A site-packages entry's distribution, roughly: `numpy.libs`, `numpy-2.5.5.dist-info`
    and `numpy` are numpy; `typing_extensions.py` is typing_extensions."""
    name = entry.removesuffix(".py").removesuffix(".libs")
    name = name.split("-")[0] if name.endswith(".dist-info") else name
    return name.split(".")[0].lower().replace("-", "_")


def _short(created_by: str) -> str:
    text = created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ")
    return text[:70].replace("|", "\\|")


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
    sizing = sub.add_parser("sizes", help="the image's size by layer and by package (Markdown)")
    sizing.add_argument("--image", default=None, help="default: build it with run.sh")
    sizing.add_argument("--base", default=None, help="default: run.sh's base image")
    args = parser.parse_args(argv)
    image = args.image or ensure_image()
    if args.command == "sizes":
        print(sizes(image, args.base or base_image()))
    else:
        print(json.dumps(measure(image, args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
