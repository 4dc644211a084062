from __future__ import annotations

from pathlib import Path

import pytest

from tests.init.repos import isolate_git


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch, tmp_path / "git-home")
