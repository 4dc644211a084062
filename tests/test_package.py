"""The distributions the release publishes (release.yml: `uv build`, then PyPI), built here
the same way and checked as a user gets them: the wheel's entry point, the files it must
carry (the bundled example, the templates), its metadata, and the `driftgate` command run
from a fresh virtual environment with only that wheel installed.

Offline: the build runs without isolation on the development environment's hatchling (a
dev dependency for this), and the new environment borrows the development environment's
installed dependencies through a .pth file rather than downloading them; the wheel itself,
not the source tree, is what it imports (checked).
"""

from __future__ import annotations

import email
import email.message
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cmarkgfm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
VERSION = PROJECT["version"]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: the release builds with `uv build` (pip install uv)")
    out = tmp_path_factory.mktemp("dist")
    # As the release does (the sdist, then the wheel from it), without isolation: offline.
    run(uv, "build", "--offline", "--no-build-isolation", "--python", sys.executable,
        "--out-dir", out, ROOT)  # fmt: skip
    return Dist(
        wheel=out / f"driftgate-{VERSION}-py3-none-any.whl",
        sdist=out / f"driftgate-{VERSION}.tar.gz",
    )


def metadata(dist: Dist) -> email.message.Message:
    with zipfile.ZipFile(dist.wheel) as wheel:
        text = wheel.read(f"driftgate-{VERSION}.dist-info/METADATA").decode()
    return email.message_from_string(text)


def test_the_wheel_carries_the_package_the_example_and_the_templates(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"driftgate-{VERSION}.dist-info/entry_points.txt").decode()
    assert "driftgate/_bundled/capitals/experiment.py" in names  # `driftgate demo`
    for template in ("evals.yml.j2", "evals-publish.yml.j2", "driftgate.toml.j2"):
        assert f"driftgate/init/templates/{template}" in names
    assert "driftgate/report/templates/comment.md.j2" in names
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src").rglob("*.py")}
    assert sources <= names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/"))]
    assert "[console_scripts]\ndriftgate = driftgate.cli:entry" in entry_points


def test_the_sdist_builds_the_same_wheel_and_ships_no_tool_state(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "examples/capitals/experiment.py"} <= names
    assert "src/driftgate/init/templates/evals.yml.j2" in names
    tops = {name.split("/")[0] for name in names}
    assert tops <= {
        "src",
        "examples",
        "docs",
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
        ".gitignore",
    }
    assert "LICENSE" in tops


def test_the_metadata_pypi_shows(dist: Dist) -> None:
    meta = metadata(dist)
    assert meta["Name"] == "driftgate"
    assert meta["Version"] == VERSION
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Intended Audience :: Developers" in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(url.startswith("https://github.com/") for url in urls.values())
    requires = meta.get_all("Requires-Dist") or []
    for dependency in PROJECT["dependencies"]:
        assert dependency in requires
    assert any(r.startswith("ddtrace") and "extra == 'ddtrace'" in r for r in requires)


def test_the_readme_renders_as_pypi_shows_it(dist: Dist) -> None:
    """PyPI renders a text/markdown description with cmarkgfm, GitHub's own renderer: the
    description is the README, whole, and renders its headings, tables and code."""
    meta = metadata(dist)
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.strip() == (ROOT / "README.md").read_text().strip()
    html = cmarkgfm.github_flavored_markdown_to_html(description)
    assert "<h1>driftgate</h1>" in html
    assert "<h2>Install</h2>" in html
    assert "<table>" in html
    assert '<code class="language-console">' in html or "<pre" in html


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed (no dependencies fetched: the
    development environment's are put on its path after its own site-packages)."""
    folder = tmp_path_factory.mktemp("venv") / "env"
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    python = folder / "bin" / "python"
    uv = shutil.which("uv")
    assert uv is not None
    run(uv, "pip", "install", "--offline", "--no-deps", "--python", python, dist.wheel)
    own = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    # A path line in a .pth file is appended to sys.path (the .pth files there are not
    # read, so the development environment's editable driftgate stays out).
    (Path(own) / "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder


def clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_", "VIRTUAL"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_command_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    env = clean_env(venv)
    driftgate = venv / "bin" / "driftgate"
    assert run(driftgate, "--version", env=env, cwd=tmp_path).strip() == f"driftgate {VERSION}"
    assert "--fork-publish" in run(driftgate, "init", "--help", env=env, cwd=tmp_path)
    imported = run(venv / "bin" / "python", "-c", "import driftgate; print(driftgate.__file__)",
                   env=env, cwd=tmp_path)  # fmt: skip
    assert imported.startswith(str(venv)), f"driftgate came from {imported}, not the wheel"
    # The templates travel in the wheel: init writes a workflow from them.
    project = tmp_path / "project"
    (project / "evals").mkdir(parents=True)
    (project / "evals" / "run.py").write_text(
        "from ddtrace.llmobs import LLMObs\nLLMObs.experiment(name='bot', task=t, dataset=d, "
        "evaluators=[])\n"
    )
    out = run(driftgate, "init", "--dry-run", "--branch", "main", env=env, cwd=project)
    gate = yaml.safe_load(out.split("--- .github/workflows/evals.yml\n", 1)[1].split("\n--- ")[0])
    assert gate["jobs"]["gate"]["steps"][2]["with"]["pipeline"] == "bot"


def test_without_ddtrace_the_demo_says_how_to_run_it(dist: Dist, tmp_path: Path) -> None:
    """`uvx driftgate demo` without the extra: one line naming the command that works."""
    folder = tmp_path / "bare"
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    uv = shutil.which("uv")
    assert uv is not None
    run(uv, "pip", "install", "--offline", "--no-deps", "--python", folder / "bin" / "python",
        dist.wheel)  # fmt: skip
    proc = subprocess.run(
        [folder / "bin" / "driftgate", "demo"],
        env=clean_env(folder),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "uvx --from 'driftgate[ddtrace]' driftgate demo" in proc.stderr


@pytest.mark.slow
def test_the_demo_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    """What `uvx --from 'driftgate[ddtrace]' driftgate demo` runs: the bundled example from
    the wheel, gated end to end."""
    out = run(venv / "bin" / "driftgate", "demo", env=clean_env(venv), cwd=tmp_path)
    assert "## driftgate: FAIL (capitals-" in out
    assert "this pull request would be blocked" in out


def test_the_release_publishes_to_pypi_by_trusted_publishing() -> None:
    """release.yml: the distributions are built in a job without any write permission, and
    published by PyPI's own action in a job that may only mint an OIDC token, in the `pypi`
    environment, with no password; only once the image is out (a PyPI version cannot be
    replaced, an image tag can)."""
    workflow = yaml.safe_load(RELEASE.read_text())
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    build = jobs["dist"]
    assert build["permissions"] == {"contents": "read"}
    runs = [str(step.get("run", "")) for step in build["steps"]]
    assert any(r.strip() == "uv build --no-build-isolation" for r in runs)
    assert any("uv run --frozen pytest tests/test_package.py" in r for r in runs)
    publish = jobs["pypi"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert set(publish["needs"]) == {"dist", "image"}
    (step,) = [s for s in publish["steps"] if "pypa/gh-action-pypi-publish" in s.get("uses", "")]
    assert "password" not in (step.get("with") or {})
    assert jobs["image"]["permissions"] == {"contents": "write", "packages": "write"}
