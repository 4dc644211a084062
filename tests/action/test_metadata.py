"""action.yml, the code and the README agree: every input is read and documented, every
output is written and documented, and the image runs `driftgate action` directly."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
# The Action's package: its inputs are read and its outputs written somewhere in it.
ENTRYPOINT = "\n".join(
    p.read_text() for p in sorted((ROOT / "src" / "driftgate" / "action").glob("*.py"))
)
README = (ROOT / "README.md").read_text()


def test_every_input_is_read_by_the_entrypoint() -> None:
    for name in ACTION["inputs"]:
        assert f'"{name}"' in ENTRYPOINT, f"input {name} is declared but never read"


def test_every_input_the_entrypoint_reads_is_declared() -> None:
    read = set(re.findall(r'get_\w*input\(\s*env,\s*"([a-z-]+)"', ENTRYPOINT))
    read |= set(re.findall(r'get\(env,\s*"([a-z-]+)"', ENTRYPOINT))
    assert read == set(ACTION["inputs"])


def test_every_input_and_output_is_in_the_readme() -> None:
    for name in [*ACTION["inputs"], *ACTION["outputs"]]:
        assert f"| `{name}` |" in README, f"{name} is not in the README's tables"


def test_every_output_is_written() -> None:
    for name in ACTION["outputs"]:
        assert f'"{name}"' in ENTRYPOINT, f"output {name} is declared but never written"


def test_secrets_and_defaults() -> None:
    inputs = ACTION["inputs"]
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["api-url"]["default"] == "${{ github.api_url }}"
    # Publish mode runs no command: editors and linters must not ask for one.
    assert inputs["command"]["required"] is False
    assert inputs["artifact-name"]["default"] == "driftgate-report"
    for secret in ("dd-api-key", "dd-app-key"):
        assert inputs[secret]["default"] == ""


def test_the_image_runs_the_entrypoint_in_exec_form() -> None:
    assert ACTION["runs"]["using"] == "docker"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["/opt/driftgate/bin/driftgate", "action"\]$', dockerfile, re.M)
    assert not re.search(r"^(USER|WORKDIR)\b", dockerfile, re.M)
    assert "ARG BASE_IMAGE" in dockerfile
