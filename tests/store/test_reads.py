"""Reads of a store file run on read-only connections of their own, one per thread: beside a
write (never seeing it half done) and beside each other; events reads run off the event loop,
so two are answered at once. A store in memory, which one connection alone sees, reads
through the writing connection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftgate.store.db import Store
from driftgate.store.events import EventsPage
from driftgate.store.server import BackgroundStore
from tests.storeapi import UNSTABLE, Api, metric, post_metrics, post_spans, span


def _in_thread(call: Any) -> Any:
    """What `call()` answers on another thread, which must finish within 10 s."""
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the read waited for the write"
    return answers[0] if answers else None


def test_a_read_runs_beside_a_write_and_sees_only_what_was_committed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store.db"))
    try:
        store.projects.create_or_get("before")
        with store.database.tx() as conn:
            conn.execute(
                "INSERT INTO projects (id, name, created_at, updated_at) "
                "VALUES ('x', 'during', '', '')"
            )
            # The write is open: another thread reads at once, without it.
            names = _in_thread(lambda: [p.name for p in store.projects.find(None)])
            assert names == ["before"]
        assert sorted(p.name for p in store.projects.find(None)) == ["before", "during"]
        assert _in_thread(lambda: len(store.projects.find(None))) == 2
    finally:
        store.close()


def test_a_read_connection_cannot_write(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store.db"))
    try:
        with (
            store.database.read() as conn,
            pytest.raises(sqlite3.OperationalError, match="readonly"),
        ):
            conn.execute("DELETE FROM projects")
    finally:
        store.close()


def test_each_thread_reads_on_its_own_connection_closed_with_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store.db"))
    seen: list[sqlite3.Connection] = []

    def read() -> None:
        with store.database.read() as conn:
            seen.append(conn)

    read()
    read()
    _in_thread(read)
    assert seen[0] is seen[1]
    assert seen[2] is not seen[0]
    # The connection of the thread that ended goes when the next one is opened.
    _in_thread(read)
    assert len(store.database._readers) == 2  # this thread's and the last one's
    store.close()
    for conn in seen:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        store.projects.find(None)
    errors: list[Exception] = []

    def fails() -> None:
        try:
            read()
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    _in_thread(fails)
    assert len(errors) == 1


def test_a_store_in_memory_reads_what_it_wrote_from_any_thread() -> None:
    with BackgroundStore(":memory:") as store:
        api = Api(store.url)
        pid = api.project()
        did = api.dataset(pid)["id"]
        api.batch(pid, did, insert_records=[{"id": "r1", "input": {"q": 1}}])
        eid = api.experiment(pid, did)["id"]
        post_spans(api, [span(eid, "s1", "r1")])
        post_metrics(api, eid, [metric("s1", "ok", "boolean", True)])
        assert store.store.database._read_uri is None
        events = api.events(eid)
        assert [m["label"] for m in events["spans"][0]["eval_metrics"]] == ["ok"]
        assert [e["id"] for e in api.listing()["data"]] == [eid]


def test_two_events_reads_are_answered_at_once_off_the_event_loop(tmp_path: Path) -> None:
    with BackgroundStore(str(tmp_path / "store.db")) as store:
        api = Api(store.url)
        pid = api.project()
        did = api.dataset(pid)["id"]
        eid = api.experiment(pid, did)["id"]
        both_in = threading.Barrier(2, timeout=10)
        read = store.store.events.read

        def held(experiment_id: str, *args: Any) -> EventsPage:
            both_in.wait()  # returns only once both reads are in the store together
            return read(experiment_id, *args)

        store.store.events.read = held  # type: ignore[method-assign]
        path = f"{UNSTABLE}/experiments/{eid}/events"
        answers = [
            _start(lambda: httpx.get(store.url + path, timeout=10)),
            _start(lambda: httpx.get(f"{store.url}/api/v2/llm-obs/v3/experiments/{eid}/events")),
        ]
        # Meanwhile the event loop answers others.
        assert httpx.get(store.url, timeout=10).status_code == 200
        for thread, got in answers:
            thread.join(10)
            assert [r.status_code for r in got] == [200]


def _start(call: Any) -> tuple[threading.Thread, list[Any]]:
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(call()))
    thread.start()
    return thread, got


def test_a_stopped_store_leaves_no_reading_thread(tmp_path: Path) -> None:
    """`driftgate` waits for every thread of its process before it exits."""
    with BackgroundStore(str(tmp_path / "store.db")) as store:
        assert Api(store.url).listing()["data"] == []
        readers = [t for t in threading.enumerate() if t.name.startswith("driftgate-store-read")]
        assert readers
    for thread in readers:
        thread.join(10)
        assert not thread.is_alive()
