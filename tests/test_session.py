"""The one backend choice every entry point shares (session.open_backend), with the real
store and the real client."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftgate.errors import UsageError
from driftgate.session import EMBEDDED, NoBackend, open_backend


def test_auto_without_keys_serves_the_embedded_store_and_points_the_command_at_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state" / "store.db"
    with open_backend("auto", {"HOME": "/nowhere"}, db, fix="x") as backend:
        assert backend.embedded and backend.name == EMBEDDED
        url = backend.command_env["DD_LLMOBS_OVERRIDE_ORIGIN"]
        assert url.startswith("http://127.0.0.1:")
        # ddtrace drops experiment data without keys: placeholders, never a real key.
        assert backend.command_env["DD_API_KEY"] == backend.command_env["DD_APP_KEY"]
        assert backend.command_env["HOME"] == "/nowhere"
        assert backend.client.list_experiments() == []
    assert db.exists()


def test_a_key_the_user_set_is_kept_for_the_embedded_store(tmp_path: Path) -> None:
    env = {"DD_API_KEY": "mine", "DD_APM_TRACING_ENABLED": "true"}
    with open_backend("embedded", env, tmp_path / "store.db", fix="x") as backend:
        assert backend.embedded
        assert backend.command_env["DD_API_KEY"] == "mine"
        assert backend.command_env["DD_APM_TRACING_ENABLED"] == "true"


@pytest.mark.parametrize("choice", ["auto", "datadog"])
def test_an_override_origin_wins_as_it_does_for_ddtrace(choice: str, tmp_path: Path) -> None:
    env = {"DD_LLMOBS_OVERRIDE_ORIGIN": "http://127.0.0.1:9"}
    with open_backend(choice, env, tmp_path / "store.db", fix="x") as backend:  # type: ignore[arg-type]
        assert not backend.embedded
        assert backend.command_env == {}
        assert backend.name == "the experiments API at http://127.0.0.1:9"
    assert not (tmp_path / "store.db").exists()


def test_auto_with_a_key_is_datadog(tmp_path: Path) -> None:
    env = {"DD_API_KEY": "k", "DD_APP_KEY": "a", "DD_SITE": "datadoghq.eu"}
    with open_backend("auto", env, tmp_path / "store.db", fix="x") as backend:
        assert not backend.embedded and backend.name == "Datadog (datadoghq.eu)"
        assert backend.experiment_url("abc") == "https://app.datadoghq.eu/llm/experiments/abc"


def test_datadog_without_a_key_says_what_to_set_and_how_to_go_local(tmp_path: Path) -> None:
    with (
        pytest.raises(NoBackend, match=r"set DD_API_KEY and DD_APP_KEY .* or pass --local$"),
        open_backend("datadog", {}, tmp_path / "store.db", fix="pass --local"),
    ):
        pass
    assert issubclass(NoBackend, UsageError)  # exit 2, a message, never a traceback
