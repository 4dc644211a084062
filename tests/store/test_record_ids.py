"""A new record's canonical id in the embedded store is derived from its project's and
dataset's names, its content and how many live records of that content came before it: the
same dataset created in two stores (a runner whose cache was evicted, a fresh clone) gives
its records the same canonical ids, which ddtrace tags its task spans with, so that runs
recorded in either pair record by record (the data branch's history). The record's own id is
the one the client sent (ddtrace sends random ones)."""

from __future__ import annotations

from pathlib import Path

from driftgate.store.datasets import NewRecord, RecordChange
from driftgate.store.db import Store

RECORDS = [NewRecord(input={"q": f"question {i}"}, expected_output=str(i)) for i in range(5)]


def _ids(db: Path, records: list[NewRecord], *, project: str = "p", name: str = "d") -> list[str]:
    store = Store(str(db))
    try:
        pid = store.projects.create_or_get(project).id
        did = store.datasets.create(pid, name, "").id
        return [a.canonical_id for a in store.datasets.batch_update(pid, did, records, [], [])]
    finally:
        store.close()


def test_the_same_records_get_the_same_ids_in_two_stores(tmp_path: Path) -> None:
    first = _ids(tmp_path / "a.db", RECORDS)
    assert _ids(tmp_path / "b.db", RECORDS) == first
    assert len(set(first)) == len(first)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)
    # Another dataset or project name, another content: other ids.
    assert set(_ids(tmp_path / "c.db", RECORDS, name="other")).isdisjoint(first)
    assert set(_ids(tmp_path / "d.db", RECORDS, project="q")).isdisjoint(first)
    moved = [NewRecord(input=r.input, expected_output="x") for r in RECORDS]
    assert set(_ids(tmp_path / "e.db", moved)).isdisjoint(first)


def test_ids_a_client_sends_are_kept_and_duplicates_get_ids_of_their_own(tmp_path: Path) -> None:
    sent = [
        NewRecord(input=r.input, expected_output=r.expected_output, id=f"r{i}")
        for i, r in enumerate(RECORDS)
    ]
    store = Store(str(tmp_path / "sent.db"))
    try:
        pid = store.projects.create_or_get("p").id
        did = store.datasets.create(pid, "d", "").id
        acks = store.datasets.batch_update(pid, did, sent, [], [])
    finally:
        store.close()
    assert [a.id for a in acks] == [f"r{i}" for i in range(5)]
    assert [a.canonical_id for a in acks] == _ids(tmp_path / "a.db", RECORDS)
    store = Store(str(tmp_path / "b.db"))
    try:
        pid = store.projects.create_or_get("p").id
        did = store.datasets.create(pid, "d", "").id
        twice = [NewRecord(input={"q": 1}), NewRecord(input={"q": 1})]
        acks = store.datasets.batch_update(pid, did, twice, [], [], deduplicate=False)
        assert len({a.canonical_id for a in acks}) == 2
        # Deduplicated, the same content answers with the live record's canonical id.
        again = store.datasets.batch_update(pid, did, twice[:1], [], [])
        assert again[0].canonical_id == acks[0].canonical_id
    finally:
        store.close()


def test_an_updated_records_old_content_inserted_again_gets_a_new_id(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "a.db"))
    try:
        pid = store.projects.create_or_get("p").id
        did = store.datasets.create(pid, "d", "").id
        (first,) = store.datasets.batch_update(pid, did, [NewRecord(input="old")], [], [])
        store.datasets.batch_update(pid, did, [], [RecordChange(first.id, input="new")], [])
        (again,) = store.datasets.batch_update(pid, did, [NewRecord(input="old")], [], [])
        assert again.canonical_id != first.canonical_id
    finally:
        store.close()
