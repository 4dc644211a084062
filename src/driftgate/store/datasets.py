"""Datasets and their versioned records: create-or-get, listing, soft delete, batch updates
(inserts with deduplication, updates, deletes), the CSV import, and reading a version.
Touches the `datasets` and `records` tables; checks `projects` through `projects.require`.

`require_live` is for experiments, which are made on a live dataset.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from driftgate.store import projects
from driftgate.store.core import Database, Page, dumps, loads, new_hex_id, new_id, now, typed
from driftgate.store.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    project_id: str
    name: str
    description: str
    current_version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Record:
    """A record as of the version read."""

    id: str
    dataset_id: str
    canonical_id: str
    input: Any
    expected_output: Any
    metadata: Any
    tags: list[str]
    version: int  # the version that gave the record this content
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to insert; without an id it gets a new one."""

    input: Any
    expected_output: Any = None
    metadata: Any = None
    tags: Sequence[str] = ()
    id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordChange:
    """An update of a live record: fields left None keep their value; tags are set (when
    `set_tags` is not None), then added, then removed."""

    id: str
    input: Any = None
    expected_output: Any = None
    metadata: Any = None
    set_tags: Sequence[str] | None = None
    add_tags: Sequence[str] = ()
    remove_tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class RecordAck:
    """What a batch answers for one inserted (or deduplicated) or updated record."""

    id: str
    version: int
    canonical_id: str


class Datasets:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, project_id: str, name: str, description: str) -> Dataset:
        """Create a dataset, or return the live one of that name in the project.

        Scripts commonly call `LLMObs.create_dataset` on every run; answering with the
        existing dataset (records then deduplicate against it) keeps record identities stable
        across runs, which is what pairing a candidate with its baseline needs.
        """
        with self._db.tx() as conn:
            projects.require(conn, project_id)
            row = conn.execute(
                "SELECT * FROM datasets WHERE project_id = ? AND name = ? AND is_deleted = 0 "
                "ORDER BY created_at LIMIT 1",
                (project_id, name),
            ).fetchone()
            if row is None:
                stamp = now()
                did = new_id()
                conn.execute(
                    "INSERT INTO datasets (id, project_id, name, description, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (did, project_id, name, description, stamp, stamp),
                )
                row = conn.execute("SELECT * FROM datasets WHERE id = ?", (did,)).fetchone()
            return _dataset(row)

    def find(self, project_id: str, name: str | None) -> list[Dataset]:
        """The project's live datasets, oldest first; only those named `name` if given."""
        with self._db.read() as conn:
            sql = "SELECT * FROM datasets WHERE project_id = ? AND is_deleted = 0"
            args: list[Any] = [project_id]
            if name is not None:
                sql += " AND name = ?"
                args.append(name)
            rows = conn.execute(sql + " ORDER BY created_at", args).fetchall()
            return [_dataset(r) for r in rows]

    def delete(self, dataset_ids: Sequence[str]) -> int:
        """Soft delete; unknown ids are ignored. Answers how many datasets were marked."""
        with self._db.tx() as conn:
            cur = conn.executemany(
                "UPDATE datasets SET is_deleted = 1, updated_at = ? WHERE id = ?",
                [(now(), d) for d in dataset_ids],
            )
            return cur.rowcount

    def batch_update(
        self,
        project_id: str | None,
        dataset_id: str,
        inserts: Sequence[NewRecord],
        updates: Sequence[RecordChange],
        deletes: Sequence[str],
        deduplicate: bool = True,
        create_new_version: bool = True,
    ) -> list[RecordAck]:
        """Apply one batch; answer one entry per inserted (or deduplicated) and updated record.

        `project_id` None skips checking which project the dataset belongs to.
        """
        with self._db.tx() as conn:
            dataset = require_live(conn, project_id, dataset_id)
            current = dataset.current_version
            target = current + 1 if (create_new_version or current == 0) else current
            stamp = now()
            live = (
                "dataset_id = ? AND version_added <= ? AND "
                "(version_removed IS NULL OR version_removed > ?)"
            )
            canonical_ids = _CanonicalIds(conn, dataset, live, current)
            changed = False
            acked: list[tuple[str, str]] = []  # (id, canonical_id), in the batch's order
            seen_in_batch: dict[str, str] = {}

            def close(seq: int) -> None:
                # A row born in the target version is replaced outright, not versioned.
                conn.execute(
                    "UPDATE records SET version_removed = ?, updated_at = ? WHERE seq = ? "
                    "AND version_added < ?",
                    (target, stamp, seq, target),
                )
                conn.execute(
                    "DELETE FROM records WHERE seq = ? AND version_added >= ?", (seq, target)
                )

            for i, rec in enumerate(inserts):
                key = _content_key(rec.input, rec.expected_output, rec.metadata)
                rid = rec.id or new_hex_id()
                same_id = conn.execute(
                    f"SELECT seq, content_key, canonical_id FROM records WHERE id = ? AND {live}",
                    (rid, dataset_id, current, current),
                ).fetchone()
                if same_id is not None:
                    if same_id["content_key"] != key:
                        raise Conflict(
                            f"insert_records[{i}]: record {rid!r} already exists with other "
                            "content; send it in update_records to change it"
                        )
                    acked.append((rid, same_id["canonical_id"]))
                    continue
                if deduplicate:
                    twin = seen_in_batch.get(key)
                    if twin is None:
                        row = conn.execute(
                            f"SELECT canonical_id FROM records WHERE content_key = ? AND {live} "
                            "LIMIT 1",
                            (key, dataset_id, current, current),
                        ).fetchone()
                        twin = row["canonical_id"] if row else None
                    if twin is not None:
                        acked.append((rid, twin))
                        continue
                conn.execute(
                    "INSERT INTO records (dataset_id, id, canonical_id, content_key, input, "
                    "expected_output, metadata, tags, version_added, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dataset_id,
                        rid,
                        canonical := canonical_ids.new(key),
                        key,
                        dumps(rec.input),
                        dumps(rec.expected_output),
                        dumps(rec.metadata),
                        dumps(list(rec.tags)),
                        target,
                        stamp,
                        stamp,
                    ),
                )
                seen_in_batch[key] = canonical
                changed = True
                acked.append((rid, canonical))

            for i, upd in enumerate(updates):
                row = conn.execute(
                    f"SELECT * FROM records WHERE id = ? AND {live}",
                    (upd.id, dataset_id, current, current),
                ).fetchone()
                if row is None:
                    raise NotFound(f"update_records[{i}]: record {upd.id!r} is not in the dataset")
                new_input = loads(row["input"]) if upd.input is None else upd.input
                new_expected = (
                    loads(row["expected_output"])
                    if upd.expected_output is None
                    else upd.expected_output
                )
                new_meta = loads(row["metadata"]) if upd.metadata is None else upd.metadata
                tags = _changed_tags(loads(row["tags"]), upd)
                close(row["seq"])
                conn.execute(
                    "INSERT INTO records (dataset_id, id, canonical_id, content_key, input, "
                    "expected_output, metadata, tags, version_added, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dataset_id,
                        upd.id,
                        row["canonical_id"],
                        _content_key(new_input, new_expected, new_meta),
                        dumps(new_input),
                        dumps(new_expected),
                        dumps(new_meta),
                        dumps(tags),
                        target,
                        row["created_at"],
                        stamp,
                    ),
                )
                changed = True
                acked.append((upd.id, row["canonical_id"]))

            for rid in deletes:
                row = conn.execute(
                    f"SELECT seq FROM records WHERE id = ? AND {live}",
                    (rid, dataset_id, current, current),
                ).fetchone()
                if row is not None:
                    close(row["seq"])
                    changed = True

            if changed:
                conn.execute(
                    "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                    (target, stamp, dataset_id),
                )
            # Nothing new: the dataset stays on its version, and so do the acks.
            version = target if changed else current
            return [RecordAck(rid, version, canonical) for rid, canonical in acked]

    def import_rows(self, dataset_id: str, rows: Sequence[NewRecord], deduplicate: bool) -> int:
        """Bulk upload (CSV): the rows become a new version; answers how many rows were
        acknowledged (duplicates of live records included)."""
        return len(self.batch_update(None, dataset_id, rows, [], [], deduplicate, True))

    def records(
        self,
        project_id: str,
        dataset_id: str,
        version: int | None,
        tags: Sequence[str],
        after: int | None,
        limit: int,
    ) -> Page[Record, int]:
        """The records of `version` (default: the current one) that carry every tag in
        `tags`, in insertion order, from after the key `after`, at most `limit`."""
        with self._db.read() as conn:
            ds = require_live(conn, project_id, dataset_id)
            v = ds.current_version if version is None else version
            if v > ds.current_version or v < 0:
                raise NotFound(
                    f"dataset {dataset_id!r} has no version {v} (current version is "
                    f"{ds.current_version})"
                )
            sql = (
                "SELECT * FROM records WHERE dataset_id = ? AND version_added <= ? AND "
                "(version_removed IS NULL OR version_removed > ?) AND seq > ?"
            )
            args: list[Any] = [dataset_id, v, v, 0 if after is None else after]
            for tag in tags:
                sql += " AND EXISTS (SELECT 1 FROM json_each(records.tags) WHERE value = ?)"
                args.append(tag)
            rows = conn.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            return Page([_record(r, dataset_id) for r in rows], rows[-1]["seq"] if more else None)


def require_live(conn: sqlite3.Connection, project_id: str | None, dataset_id: str) -> Dataset:
    """The dataset, if it exists (in that project, unless `project_id` is None) and is not
    deleted; else NotFound or Conflict."""
    row = conn.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
    if row is None or (project_id is not None and row["project_id"] != project_id):
        where = f" in project {project_id!r}" if project_id else ""
        raise NotFound(f"dataset {dataset_id!r} does not exist{where}")
    if row["is_deleted"]:
        raise Conflict(f"dataset {dataset_id!r} was deleted; create a new dataset")
    return _dataset(row)


class _CanonicalIds:
    """New records' canonical ids within one batch. The n-th live record of a content in a
    dataset gets the same one in every store, so that a run recorded in a fresh store (an
    evicted cache, a new runner) pairs record by record with the runs recorded elsewhere and
    kept in the data branch. ddtrace sends random record ids, kept as sent, and tags its
    spans with the canonical id."""

    def __init__(self, conn: sqlite3.Connection, dataset: Dataset, live: str, version: int) -> None:
        self._conn, self._dataset_id = conn, dataset.id
        self._scope = _id_scope(conn, dataset)
        self._live, self._version = live, version
        self._next: dict[str, int] = {}  # content key -> the occurrence the next one gets
        self._taken: set[str] | None = None

    def new(self, content_key: str) -> str:
        conn, live, v = self._conn, self._live, self._version
        if content_key not in self._next:
            self._next[content_key] = conn.execute(
                f"SELECT count(*) FROM records WHERE content_key = ? AND {live}",
                (content_key, self._dataset_id, v, v),
            ).fetchone()[0]
        if self._taken is None:
            # Read once a batch: a derived id may be held by a record whose content changed
            # since (an update keeps its canonical id).
            self._taken = {
                row[0]
                for row in conn.execute(
                    f"SELECT canonical_id FROM records WHERE {live}", (self._dataset_id, v, v)
                )
            }
        n = self._next[content_key]
        while (found := _derived_id(self._scope, content_key, n)) in self._taken:
            n += 1
        self._next[content_key] = n + 1
        self._taken.add(found)
        return found


def _id_scope(conn: sqlite3.Connection, dataset: Dataset) -> str:
    """What a record's derived id is unique within: the project's and the dataset's names
    (their ids differ from store to store)."""
    row = conn.execute("SELECT name FROM projects WHERE id = ?", (dataset.project_id,)).fetchone()
    return f"{row['name'] if row else dataset.project_id}\0{dataset.name}"


def _derived_id(scope: str, content_key: str, occurrence: int) -> str:
    digest = hashlib.sha256(f"{scope}\0{content_key}\0{occurrence}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=5).hex


def _content_key(input_data: Any, expected_output: Any, metadata: Any) -> str:
    return hashlib.sha256(dumps([input_data, expected_output, metadata])).hexdigest()


def _changed_tags(tags: list[str], change: RecordChange) -> list[str]:
    if change.set_tags is not None:
        tags = list(change.set_tags)
    for tag in change.add_tags:
        if tag not in tags:
            tags.append(tag)
    remove = set(change.remove_tags)
    return [t for t in tags if t not in remove]


def _dataset(row: sqlite3.Row) -> Dataset:
    return typed(Dataset, row)


def _record(row: sqlite3.Row, dataset_id: str) -> Record:
    json = ("input", "expected_output", "metadata", "tags")
    return typed(Record, row, json=json, dataset_id=dataset_id, version=row["version_added"])
