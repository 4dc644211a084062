"""The user's command runs in an environment of its own, never driftgate's: the image's run
environment (ddtrace preinstalled, `pip` is uv's), or one on the Python `python-version` names.
A setup that pins numpy 1.26 and pydantic 1.x (driftgate's own environment has numpy 2 and
pydantic 2) gates fine on Python 3.11; asking for a Python uv would have to download goes to
the download mirror, and a failed download is one line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.container.harness import Result, git, offline_python, run_action
from tests.container.test_scenarios import PIPELINE, REPO, commit
from tests.events import push_event
from tests.fakes.github import FakeGitHub

pytestmark = pytest.mark.container

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "arith_experiment.py"

# What the command sees of its environment, written to the workspace for the test to read.
PROBE = """\
import json, os, sys
seen = {"python": "%d.%d" % sys.version_info[:2], "prefix": sys.prefix,
        "path": os.environ["PATH"], "virtual_env": os.environ.get("VIRTUAL_ENV")}
for name in ("numpy", "pydantic", "ddtrace", "driftgate"):
    try:
        module = __import__(name)
    except ImportError as exc:
        seen[name] = "ImportError: " + str(exc)
    else:
        seen[name] = str(getattr(module, "__version__", getattr(module, "VERSION", "?")))
with open("seen-run-env.json", "w") as f:
    json.dump(seen, f)
"""


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as running:
        running.add_repo(REPO)
        yield running


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "experiment.py").write_text(SCRIPT.read_text())
    (folder / "probe.py").write_text(PROBE)
    (folder / ".gitignore").write_text(".driftgate/\nseen-*.json\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.name", "ci")
    git(folder, "config", "user.email", "ci@driftgate.invalid")
    git(folder, "add", ".")
    return folder


def inputs(fake: FakeGitHub, **more: str) -> dict[str, str]:
    return {
        "command": "python probe.py && python experiment.py",
        "pipeline": PIPELINE,
        "github-token": fake.token("write"),
        "api-url": fake.api_url,
        **more,
    }


def on_push(
    image: str,
    workspace: Path,
    fake: FakeGitHub,
    values: dict[str, str],
    mounts: Sequence[tuple[Path, str]] = (),
) -> Result:
    """The Action on a push to main one commit after the first, with `inputs(**values)`."""
    first = commit(workspace, fake, "the arithmetic experiment")
    head = commit(workspace, fake, "main, again")
    return run_action(
        workspace,
        push_event(REPO, head, first),
        inputs(fake, **values),
        {"GITHUB_API_URL": fake.api_url},
        image=image,
        mounts=mounts,
    )


def test_setup_pins_numpy_1_26_and_pydantic_1_on_python_3_11_and_the_gate_works(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    result = on_push(
        action_image,
        workspace,
        fake,
        {"setup": 'pip install "numpy==1.26.4" "pydantic>=1.10,<2"', "python-version": "3.11"},
        # Debian 12's Python 3.11, on PATH where uv looks: no download.
        mounts=offline_python("3.11"),
    )
    assert result.exit_code == 0, result.output
    assert result.outputs["verdict"] == "no_baseline"  # recorded: the gate found the experiment
    assert result.outputs["experiment-id"]
    (made,) = [line for line in result.stdout.splitlines() if "python-version 3.11: Python" in line]
    print(f"\n{made}\nthe whole step: {result.seconds:.1f} s")
    seen = json.loads((workspace / "seen-run-env.json").read_text())
    assert seen["python"] == "3.11"
    assert seen["numpy"] == "1.26.4"
    assert seen["pydantic"].startswith("1.")
    assert seen["ddtrace"] == "4.16.0"  # the run environment's, installed from the lock
    assert seen["driftgate"].startswith("ImportError")
    assert seen["virtual_env"] == seen["prefix"] == "/opt/venv-3.11"
    assert seen["path"].split(":")[0] == "/opt/venv-3.11/bin"
    assert "/opt/venv/bin" not in seen["path"].split(":")
    assert "/opt/driftgate/bin" not in seen["path"].split(":")
    # setup's downloads are in the workspace's cache, for actions/cache; handed back with the rest.
    assert any((workspace / ".driftgate" / "cache" / "uv").iterdir())
    assert result.root_owned == []


def test_by_default_the_command_runs_in_the_run_environment_where_pip_is_uvs(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    result = on_push(action_image, workspace, fake, {"setup": 'pip install "pydantic>=1.10,<2"'})
    assert result.exit_code == 0, result.output
    seen = json.loads((workspace / "seen-run-env.json").read_text())
    assert seen["python"] == "3.13"
    assert seen["prefix"] == seen["virtual_env"] == "/opt/venv"
    assert seen["pydantic"].startswith("1.")  # driftgate's own is pydantic 2
    assert seen["ddtrace"] == "4.16.0"
    assert seen["driftgate"].startswith("ImportError")
    assert seen["numpy"].startswith("ImportError")  # driftgate's own has numpy
    assert result.root_owned == []


def test_python_m_pip_fails_saying_what_to_write(
    action_image: str, workspace: Path, fake: FakeGitHub
) -> None:
    result = on_push(action_image, workspace, fake, {"setup": "python -m pip install pyyaml"})
    assert result.exit_code == 1, result.output
    assert result.outputs["verdict"] == "error"
    assert "No module named pip" in result.output  # the command's own output, in the log
    (error,) = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert "the setup command failed: `python -m pip install pyyaml` exited with status 1" in error
    assert error.endswith("write `pip install ...` or `uv pip install ...` instead")
    report = json.loads((workspace / ".driftgate" / "report" / "report.json").read_text())
    assert report["experiments"][0]["warnings"][0].endswith("`uv pip install ...` instead")


class _Mirror(BaseHTTPRequestHandler):
    """A CPython download mirror that has nothing: records each request, answers 404."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_error(404)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Mirror", (_Mirror,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_python_that_must_be_downloaded_comes_from_the_mirror_and_a_failure_is_one_line(
    action_image: str, workspace: Path, fake: FakeGitHub, mirror: tuple[str, list[str]]
) -> None:
    url, seen = mirror
    first = commit(workspace, fake, "the arithmetic experiment")
    head = commit(workspace, fake, "main, again")
    result = run_action(
        workspace,
        push_event(REPO, head, first),
        inputs(fake, **{"python-version": "3.12"}),
        {"GITHUB_API_URL": fake.api_url, "UV_PYTHON_INSTALL_MIRROR": url},
        image=action_image,
    )
    assert result.exit_code == 2, result.output
    # uv asked the mirror for a CPython 3.12 build for this machine.
    assert any("cpython-3.12." in path and "linux" in path for path in seen), seen
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, result.output
    (error,) = errors
    print(f"\n{error}")
    assert "Input python-version: uv could not make a Python 3.12 environment" in error
    assert "404" in error
    assert "leave it empty for the image's Python 3.13" in error
    assert not (workspace / "seen-run-env.json").exists()  # nothing ran
    assert fake.check_runs(REPO, head) == []
