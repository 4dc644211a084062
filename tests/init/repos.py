"""Real repositories the way teams lay them out, for `driftgate init` to set up: each builder
makes one under a folder and says how init is run on it (the arguments, from where).

Git runs with no user or system configuration (`isolated_git`), so that a developer's
`init.defaultBranch` cannot change what the tests see; a test that wants a setting sets it in
the repository.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from driftgate.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "capitals" / "experiment.py"

# A script as teams write one: ddtrace's API, a fixed experiment name.
SUPPORT_BOT = '''\
"""The support bot's offline evaluation."""
import os

from ddtrace.llmobs import LLMObs

EXPERIMENT = "support-bot-eval"


def answer(input_data, config):
    return "Please restart the router."


def helpful(input_data, output_data, expected_output):
    return output_data == expected_output


def polite(input_data, output_data, expected_output):
    return 1.0


def main():
    LLMObs.enable(ml_app="support-bot", agentless_enabled=True)
    dataset = LLMObs.pull_dataset(dataset_name="support-tickets")
    experiment = LLMObs.experiment(
        name=EXPERIMENT,
        task=answer,
        dataset=dataset,
        evaluators=[helpful, polite],
        runs=3,
    )
    experiment.run(jobs=8)


if __name__ == "__main__":
    main()
'''

APP = "def handler(event):\n    return {'ok': True}\n"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return proc.stdout.strip()


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No user or system git configuration, a fixed identity."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "gitconfig"
    config.touch()
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def new_repo(path: Path, files: dict[str, str], branch: str = "main") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "--quiet", f"--initial-branch={branch}")
    write(path, files)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--allow-empty", "-m", "the project")
    return path


def clone_of(tmp: Path, files: dict[str, str], default: str, name: str = "project") -> Path:
    """A clone of a remote whose default branch (its HEAD) is `default`, checked out on a
    feature branch: only origin/HEAD can say which branch is the default."""
    work = new_repo(tmp / "upstream-work", files, branch=default)
    remote = tmp / "remote.git"
    git(tmp, "init", "--quiet", "--bare", f"--initial-branch={default}", str(remote))
    git(work, "push", "--quiet", str(remote), default)
    clone = tmp / name
    git(tmp, "clone", "--quiet", str(remote), str(clone))
    git(clone, "checkout", "--quiet", "-b", "feature/faster-answers")
    return clone


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_init(*args: str, cwd: Path) -> Ran:
    """`driftgate init ARGS` in `cwd`, in this process (as the command line runs it)."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["init", *args])
    finally:
        os.chdir(previous)
    return Ran(code, out.getvalue(), err.getvalue())


@dataclass
class Layout:
    """A repository built under a folder, and how init is run on it."""

    name: str
    build: Callable[[Path], Path]  # -> the repository's root
    args: tuple[str, ...] = ()
    cwd: str = "."  # relative to the root
    expect: dict[str, str] = field(default_factory=dict)  # the gate step's inputs


def _evals_dir(tmp: Path) -> Path:
    # The common layout, with what must never be taken for a script: a virtual environment,
    # node_modules, a build folder, each holding ddtrace's own code.
    ddtrace_inside = "from ddtrace.llmobs import LLMObs\nLLMObs.experiment(name='vendored')\n"
    return new_repo(
        tmp / "support-bot",
        {
            "evals/experiment.py": SUPPORT_BOT,
            "evals/requirements.txt": "ddtrace>=4.14\nopenai>=1.0\n",
            "app/handler.py": APP,
            ".venv/lib/python3.11/site-packages/ddtrace/llmobs/_experiment.py": ddtrace_inside,
            ".venv/pyvenv.cfg": "home = /usr/bin\n",
            "node_modules/some-tool/helper.py": ddtrace_inside,
            "build/lib/evals/experiment.py": ddtrace_inside,
            "py311/pyvenv.cfg": "home = /usr/bin\n",
            "py311/lib/thing.py": ddtrace_inside,
        },
    )


def _src_package(tmp: Path) -> Path:
    pyproject = '[project]\nname = "support-bot"\nversion = "1.0"\ndependencies = ["ddtrace"]\n'
    return new_repo(
        tmp / "support-bot",
        {
            "pyproject.toml": pyproject,
            "src/support_bot/__init__.py": "",
            "src/support_bot/evals/run_eval.py": SUPPORT_BOT,
            "src/support_bot/bot.py": APP,
        },
    )


def _several(tmp: Path) -> Path:
    nightly = SUPPORT_BOT.replace('"support-bot-eval"', '"support-bot-nightly"')
    mocked = (
        "from unittest import mock\nfrom ddtrace.llmobs import LLMObs\n\n"
        "def test_it():\n    with mock.patch.object(LLMObs, 'experiment'):\n"
        "        LLMObs.experiment(name='x')\n"
    )
    uploads = (
        "from ddtrace.llmobs import LLMObs\n"
        "LLMObs.create_dataset(dataset_name='tickets', records=[])\n"
    )
    return new_repo(
        tmp / "support-bot",
        {
            "tests/test_evals.py": mocked,
            "datasets/upload.py": uploads,
            "scripts/nightly/eval_nightly.py": nightly,
            "evals/run.py": SUPPORT_BOT,
            "requirements.txt": "ddtrace\n",
        },
    )


def _monorepo(tmp: Path) -> Path:
    return new_repo(
        tmp / "platform",
        {
            "services/bot/evals/experiment.py": SUPPORT_BOT,
            "services/bot/requirements.txt": "ddtrace\n",
            "services/search/evals/ranker.py": SUPPORT_BOT.replace("support-bot", "ranker"),
            "services/search/requirements.txt": "ddtrace\n",
            "web/app.py": APP,
        },
    )


def _develop(tmp: Path) -> Path:
    return clone_of(tmp, {"evals/experiment.py": SUPPORT_BOT}, "develop")


def _master(tmp: Path) -> Path:
    return clone_of(tmp, {"experiment.py": EXAMPLE.read_text()}, "master")


def _hostile(tmp: Path) -> Path:
    """Names a shell or YAML would read as code, and files that would hang or crash a naive
    reader: init must take the one script whose name a workflow can hold, quoted."""
    root = new_repo(tmp / "hostile", {"README.md": "# hostile\n"})
    chosen = 'evals/it\'s "$(touch pwned)" & `id`.py'
    write(
        root,
        {
            chosen: SUPPORT_BOT.replace(
                'EXPERIMENT = "support-bot-eval"', 'EXPERIMENT = "eval: ${{ secrets.TOKEN }}\\n"'
            ),
            # Deeper than the chosen one: never preferred, but listed.
            "evals/more/${{ github.token }}.py": SUPPORT_BOT,
            "evals/more/new\nline.py": SUPPORT_BOT,
            # Undecodable and nested beyond the parser: read, never a crash.
            "evals/more/garbage.py": "from ddtrace.llmobs import LLMObs\n"
            + "LLMObs.experiment(name="
            + "(" * 5000
            + "\n",
        },
    )
    (root / "evals" / "more" / "binary.py").write_bytes(
        b"from ddtrace.llmobs import LLMObs\n\xff\xfe\x00LLMObs.experiment(\x80\n"
    )
    os.mkfifo(root / "evals" / "pipe.py")
    (root / "evals" / "zero.py").symlink_to("/dev/zero")
    (root / "evals" / "more").joinpath(os.fsdecode(b"latin-\xe9.py")).write_text(SUPPORT_BOT)
    return root


LAYOUTS = [
    Layout(
        "evals-dir",
        _evals_dir,
        expect={
            "command": "python evals/experiment.py",
            "pipeline": "support-bot-eval",
            "setup": "pip install -r evals/requirements.txt",
        },
    ),
    Layout(
        "src-package",
        _src_package,
        expect={
            "command": "python src/support_bot/evals/run_eval.py",
            "pipeline": "support-bot-eval",
            "setup": "pip install .",
        },
    ),
    Layout(
        "several",
        _several,
        expect={
            "command": "python evals/run.py",
            "pipeline": "support-bot-eval",
            "setup": "pip install -r requirements.txt",
        },
    ),
    Layout(
        "monorepo",
        _monorepo,
        args=("services/bot",),
        expect={
            "command": "python evals/experiment.py",
            "pipeline": "support-bot-eval",
            "setup": "pip install -r requirements.txt",
            "working-directory": "services/bot",
        },
    ),
    Layout(
        "develop",
        _develop,
        expect={"command": "python evals/experiment.py", "pipeline": "support-bot-eval"},
    ),
    Layout("master", _master, expect={"command": "python experiment.py", "pipeline": "capitals"}),
    Layout(
        "hostile",
        _hostile,
        args=("--fork-publish",),
        expect={
            "command": "python 'evals/it'\"'\"'s \"$(touch pwned)\" & `id`.py'",
            "pipeline": "eval-secrets.TOKEN",
        },
    ),
]
