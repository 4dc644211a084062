"""`driftgate demo`: a pull request gated end to end, offline, in a temporary git repository.

It records the bundled example on `main` (the baseline), switches the example to a weaker
model on a branch, and runs the gate on that branch the way a pull request is gated. Each
step is a real `driftgate run --local` process, as a user would type it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

RUN_VENV = "DRIFTGATE_RUN_VENV"
"""The Action image's run environment (as `driftgate.action.python_env` names it; not imported
from there, which would import the session)."""
EXAMPLE_MODEL = 'MODEL = os.environ.get("CAPITALS_MODEL", "atlas-small")'
BRANCH_MODEL = 'MODEL = os.environ.get("CAPITALS_MODEL", "atlas-tiny")'


def bundled_example() -> Path:
    """The capitals example: packaged in the wheel, or beside the sources in a checkout."""
    packaged = resources.files("driftgate") / "_bundled" / "capitals" / "experiment.py"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "examples" / "capitals" / "experiment.py"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )


def example_python() -> str | None:
    """A Python with ddtrace for the example: driftgate's own, else (in the Action's image,
    where driftgate's environment has no ddtrace) the image's run environment."""
    if importlib.util.find_spec("ddtrace") is not None:
        return sys.executable
    run_venv = os.environ.get(RUN_VENV)
    if run_venv and (Path(run_venv) / "bin" / "python").is_file():
        return str(Path(run_venv) / "bin" / "python")
    return None


def _gate(repo: Path, python: str) -> tuple[int, str]:
    """`driftgate run --local` in `repo`, as a user would run it; its exit code and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate.cli",
            "run",
            "--local",
            "--pipeline",
            "capitals",
            "--",
            python,
            "experiment.py",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(keep: str | None = None) -> int:
    python = example_python()
    if python is None:
        print(
            "driftgate: error: the demo runs a ddtrace script, and ddtrace is not installed "
            "here; run uvx --from 'driftgate[ddtrace]' driftgate demo (or pipx run --spec "
            "'driftgate[ddtrace]' driftgate demo, or pip install 'driftgate[ddtrace]')",
            file=sys.stderr,
        )
        return 2
    if shutil.which("git") is None:
        print("driftgate: error: the demo needs git on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="driftgate-demo-") as tmp:
        repo = Path(keep).resolve() if keep else Path(tmp) / "capitals-app"
        repo.mkdir(parents=True, exist_ok=True)
        return _demo(repo, python, kept=keep is not None)


def _demo(repo: Path, python: str, *, kept: bool = False) -> int:
    source = bundled_example().read_text()
    if EXAMPLE_MODEL not in source:
        print(
            "driftgate: error: the bundled example changed; the demo cannot edit it",
            file=sys.stderr,
        )
        return 3
    (repo / "experiment.py").write_text(source)
    (repo / ".gitignore").write_text(".driftgate/\n")
    _git(repo, "init", "--quiet", "--initial-branch", "main")
    _git(repo, "config", "user.email", "demo@driftgate.invalid")
    _git(repo, "config", "user.name", "driftgate demo")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "capitals experiment on atlas-small")

    _say(f"1. main: record the baseline (driftgate run --local -- python experiment.py, in {repo})")
    code, out = _gate(repo, python)
    verdict = _verdict(repo)
    if code != 0 or verdict != "no_baseline":
        _say(out)
        print(
            f"driftgate: error: recording the baseline ended with {verdict} (exit {code})",
            file=sys.stderr,
        )
        return 3
    _say("   recorded; nothing to compare with yet (verdict no_baseline, exit 0)\n")

    _say("2. branch smaller-model: switch the example to atlas-tiny, and commit")
    _git(repo, "checkout", "--quiet", "-b", "smaller-model")
    (repo / "experiment.py").write_text(source.replace(EXAMPLE_MODEL, BRANCH_MODEL))
    _git(repo, "commit", "--quiet", "-am", "use the smaller model")
    _say("")

    _say("3. the pull request: gate smaller-model against main")
    code, out = _gate(repo, python)
    report = (repo / ".driftgate" / "report" / "report.md").read_text()
    _say(_indent(report))
    verdict = _verdict(repo)
    _say(
        f"driftgate exited {code} (verdict {verdict}): "
        + ("this pull request would be blocked." if code == 1 else "it would pass.")
    )
    _say(f"Reports: {repo / '.driftgate' / 'report'}/report.md and report.json")
    # The report's links are `driftgate serve`'s pages on the demo repository's store,
    # which is gone once the demo ends unless it was kept.
    if kept:
        _say(f"To open the links above: cd {repo} && driftgate serve")
    else:
        _say("The links above need the demo's store: driftgate demo --keep DIR keeps it.")
    if verdict != "fail":
        _say(out)
        print(
            "driftgate: error: the demo expected the gate to catch the regression", file=sys.stderr
        )
        return 1
    return 0


def _verdict(repo: Path) -> str:
    path = repo / ".driftgate" / "report" / "report.json"
    return str(json.loads(path.read_text())["verdict"]) if path.exists() else "missing"


def _indent(text: str) -> str:
    return re.sub(r"(?m)^", "   ", text.rstrip())
