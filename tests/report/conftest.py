"""Golden files: `DRIFTGATE_UPDATE_GOLDEN=1 uv run pytest tests/report` rewrites them from the
current rendering; review the diff before committing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    update = os.environ.get("DRIFTGATE_UPDATE_GOLDEN") == "1"

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"{name} has no golden file: run with DRIFTGATE_UPDATE_GOLDEN=1"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"{name} differs from its golden file; if the change is intended, regenerate with "
            "DRIFTGATE_UPDATE_GOLDEN=1 uv run pytest tests/report and review the diff"
        )

    return check
