"""Where the Action's `setup` and `command` run: never in driftgate's own environment.

The image (see the Dockerfile) holds two virtual environments on its Python: driftgate's own,
which is not on PATH, and the run environment (`DRIFTGATE_RUN_VENV`), where ddtrace is
preinstalled and `setup` installs. The `python-version` input asks for another Python: uv makes
an environment on it (downloading that CPython when no interpreter of that version is on the
machine), installs the run environment's ddtrace into it (checked against the lock's hashes,
`DRIFTGATE_RUN_REQUIREMENTS`) with the same `pip` shim, and the commands run there.

The commands also get their download caches in the workspace (`.driftgate/cache/`: uv's, pip's
and uv's Pythons), unless the workflow chose other places, so that actions/cache can keep them
between runs.

Only this module runs uv; the session just gets the environment the commands run with. Outside
the image (no `DRIFTGATE_RUN_VENV`) the commands get the environment as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from driftgate.action.workflow import InputError
from driftgate.session import CACHE_DIR

RUN_VENV = "DRIFTGATE_RUN_VENV"
"""The image's run environment (/opt/venv): set in the image, and only there."""
RUN_REQUIREMENTS = "DRIFTGATE_RUN_REQUIREMENTS"
"""The lock exported with hashes: pins the ddtrace an environment on another Python gets."""
CACHES = {"UV_CACHE_DIR": "uv", "PIP_CACHE_DIR": "pip", "UV_PYTHON_INSTALL_DIR": "python"}
"""The variables the commands get, unless the workflow set them: folders of `CACHE_DIR`."""
VERSION = re.compile(r"[0-9]+\.[0-9]+(\.[0-9]+)?")
"""What `python-version` accepts: 3.12, or 3.12.4."""
PIP_SHIM = "pip_shim.sh"

Progress = Callable[[str], None]


class PythonEnvError(InputError):
    """The Python that `python-version` asks for cannot be had; the message names the input,
    what uv said and what to change."""


def check_version(value: str) -> str:
    """`value` if it is a version `python-version` accepts; the error says what is."""
    if not VERSION.fullmatch(value):
        raise PythonEnvError(
            f"Value '{value[:40]}' is not supported for input python-version; expected a "
            "CPython version: major.minor (3.12) or major.minor.patch (3.12.4), or nothing for "
            "the image's Python"
        )
    return value


def command_environment(
    env: Mapping[str, str],
    workspace: Path,
    python_version: str | None,
    *,
    progress: Progress,
    timeout_s: float | None = None,
    uv: str = "uv",
) -> dict[str, str]:
    """`env` as the commands get it in the image: the chosen environment's `bin` first on
    PATH (and driftgate's own absent), `VIRTUAL_ENV`, and the caches in the workspace. Makes
    the environment of `python_version` first when the image's Python is not that version."""
    variables = dict(env)
    run_venv = env.get(RUN_VENV)
    if not run_venv:
        if python_version:
            raise PythonEnvError(
                f"Input python-version: {python_version} needs the Action's image, whose uv "
                "makes that environment; outside it, set up that Python before driftgate runs"
            )
        return variables
    for name, folder in CACHES.items():
        if not env.get(name):
            variables[name] = str(workspace / CACHE_DIR / folder)
    run = Path(run_venv)
    image_python = venv_version(run)
    venv = run
    if python_version and not satisfies(python_version, image_python):
        venv = run.parent / f"venv-{python_version}"
        _make(venv, python_version, image_python, variables, env, progress, timeout_s, uv)
    hidden = {str(run / "bin"), str(venv / "bin"), *_own_bin()}
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p not in hidden]
    variables["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    variables["VIRTUAL_ENV"] = str(venv)
    return variables


def venv_version(venv: Path) -> str | None:
    """The Python version a virtual environment was made with (its `pyvenv.cfg`: `version`
    from Python's venv, `version_info` from uv's)."""
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version", "version_info"):
            return value.strip()
    return None


def satisfies(request: str, version: str | None) -> bool:
    """Whether `version` (3.13.5) is what `request` (3.13, or 3.13.5) asks for."""
    if version is None:
        return False
    wanted = request.split(".")
    return version.split(".")[: len(wanted)] == wanted


def ddtrace_pin(requirements: Path) -> str:
    """The `ddtrace==X` line of the exported lock."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        found = re.match(r"ddtrace==[^\s;\\]+", line)
        if found:
            return found.group(0)
    raise PythonEnvError(f"Input python-version: {requirements} pins no ddtrace (a broken image)")


def write_pip_shim(bin_dir: Path) -> None:
    """`pip` and `pip3` in `bin_dir`: uv's pip interface for that environment."""
    shim = (resources.files("driftgate.action") / PIP_SHIM).read_text(encoding="utf-8")
    pip = bin_dir / "pip"
    pip.write_text(shim, encoding="utf-8")
    pip.chmod(0o755)
    pip3 = bin_dir / "pip3"
    pip3.unlink(missing_ok=True)
    pip3.symlink_to("pip")


def _make(
    venv: Path,
    version: str,
    image_python: str | None,
    variables: Mapping[str, str],
    env: Mapping[str, str],
    progress: Progress,
    timeout_s: float | None,
    uv: str,
) -> None:
    requirements = Path(env.get(RUN_REQUIREMENTS) or "")
    if not requirements.is_file():
        raise PythonEnvError(
            f"Input python-version: {RUN_REQUIREMENTS} names no file ({requirements}); "
            "the image is broken: use a released one"
        )
    pin = ddtrace_pin(requirements)
    started = time.monotonic()
    progress(f"python-version {version}: making its environment with uv, with {pin}")
    # The workflow's own choice of downloads wins; by default uv may download that CPython.
    uv_env = {"UV_PYTHON_DOWNLOADS": "automatic", **variables}
    fix = (
        "set python-version to a CPython uv can install (`uv python list`; it downloads them "
        "from GitHub, or from UV_PYTHON_INSTALL_MIRROR), or leave it empty for the image's "
        f"Python {_major_minor(image_python)}"
    )
    _uv(
        [uv, "venv", "--clear", "--quiet", "--no-config", "--python", version, str(venv)],
        uv_env,
        timeout_s,
        f"Input python-version: uv could not make a Python {version} environment",
        fix,
    )
    _uv(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-config",
            "--python",
            str(venv / "bin" / "python"),
            "--require-hashes",
            "--constraints",
            str(requirements),
            pin,
        ],
        uv_env,
        timeout_s,
        f"Input python-version: uv could not install {pin} into the Python {version} environment",
        f"set python-version to a Python {pin.split('==')[0]} {pin.split('==')[1]} supports, "
        f"or leave it empty for the image's Python {_major_minor(image_python)}",
    )
    write_pip_shim(venv / "bin")
    made = venv_version(venv) or version
    progress(
        f"python-version {version}: Python {made} at {venv} ({time.monotonic() - started:.1f} s)"
    )


def _uv(
    command: Sequence[str],
    env: Mapping[str, str],
    timeout_s: float | None,
    what: str,
    fix: str,
) -> None:
    try:
        proc = subprocess.run(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PythonEnvError(f"{what}: uv did not finish within {timeout_s:.0f} s; {fix}") from None
    except OSError as exc:
        raise PythonEnvError(
            f"{what}: {command[0]} could not start ({exc.strerror}); {fix}"
        ) from None
    if proc.returncode != 0:
        raise PythonEnvError(f"{what}: {said(proc.stderr or proc.stdout)}; {fix}")


def said(output: str, limit: int = 400) -> str:
    """uv's error on one line: its `error:` line and the causes under it (warnings and
    progress before it are left out)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    kept = lines[start:] if start is not None else lines[-3:]
    text = " ".join(line.removeprefix("error:").strip() for line in kept) or "no message"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _own_bin() -> list[str]:
    """driftgate's own environment's `bin`, when driftgate runs from a virtual environment."""
    return [str(Path(sys.prefix) / "bin")] if sys.prefix != sys.base_prefix else []


def _major_minor(version: str | None) -> str:
    return ".".join(version.split(".")[:2]) if version else "(unknown)"
