"""The embedded store as a gate starts it (store/deferred.py): the file and the port are
taken at once, the HTTP server comes up on a thread while the user's command starts, and
a request made in between is answered once it is up, never refused or lost."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from driftgate.errors import BackendError
from driftgate.store import server
from driftgate.store.deferred import DeferredStore
from driftgate.store.errors import CannotOpen

PROJECTS = "/api/v2/llm-obs/v1/projects"


def test_a_request_made_before_the_server_is_up_is_answered_once_it_is(tmp_path: Path) -> None:
    store = DeferredStore(str(tmp_path / "store.db"))  # bound, not served yet
    answers: list[httpx.Response] = []
    early = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                store.url + PROJECTS,
                json={"data": {"type": "projects", "attributes": {"name": "early"}}},
                timeout=30,
            )
        )
    )
    early.start()
    early.join(0.3)
    assert early.is_alive()  # waiting in the listen queue, not refused
    with store:
        store.wait()
        early.join(30)
        assert answers[0].status_code == 200, answers[0].text
        listed = httpx.get(store.url + PROJECTS, timeout=30).json()
        assert [p["attributes"]["name"] for p in listed["data"]] == ["early"]


def test_a_server_that_cannot_start_is_said_and_its_port_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: server.BackgroundServer) -> server.BackgroundServer:
        raise RuntimeError("the server did not start: no event loop today")

    monkeypatch.setattr(server.BackgroundServer, "start", broken)
    with DeferredStore(str(tmp_path / "store.db")) as store:
        with pytest.raises(BackendError, match=r"the embedded store could not start: .*no event"):
            store.wait()
        # Refused at once: a command's request must not hang on a server that never comes.
        with pytest.raises(httpx.ConnectError):
            httpx.get(store.url + PROJECTS, timeout=5)


def test_a_file_it_cannot_use_fails_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    conn.commit()
    conn.close()
    with pytest.raises(CannotOpen, match="newer driftgate"):
        DeferredStore(str(db))
