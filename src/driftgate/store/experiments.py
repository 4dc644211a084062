"""Experiments: create, patch (status, and with it the aggregate), soft delete, the filtered
listing, and the newest run of a name. Touches the `experiments` table; checks `projects` and
`datasets` through their modules, and has `events.refresh_aggregate` compute `aggregate_data`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from driftgate.llmobs import FINISHED
from driftgate.store import datasets, projects
from driftgate.store.core import Database, Page, dumps, loads, new_id, now, typed
from driftgate.store.errors import Conflict, NotFound
from driftgate.store.events import refresh_aggregate


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str  # the run's name: `experiment`, plus `-<epoch_ms>` when made unique
    experiment: str  # the name it was submitted under
    project_id: str
    dataset_id: str
    dataset_version: int
    description: str
    config: dict[str, Any]
    metadata: dict[str, Any]
    run_count: int
    parent_experiment_id: str | None
    status: str
    error: str | None
    is_deleted: bool
    created_at: str
    updated_at: str
    aggregate_data: dict[str, Any] | None  # None until the experiment finished


class ExperimentChanges(TypedDict, total=False):
    """What a patch changes; absent keys keep their value."""

    status: str
    error: str | None
    name: str
    description: str | None
    metadata: dict[str, Any] | None  # None empties it


@dataclass(frozen=True, slots=True)
class ExperimentFilter:
    """Which experiments a listing answers: all conditions given must hold."""

    ids: Sequence[str] = ()
    name: str | None = None
    experiment: str | None = None
    metadata: Any = None  # a JSON value the metadata must contain, as JSONB's `@>`
    project_id: str | None = None
    dataset_id: str | None = None
    parent_ids: Sequence[str] = ()
    is_deleted: bool = False


class Experiments:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        project_id: str,
        dataset_id: str,
        name: str,
        ensure_unique: bool = False,
        dataset_version: int | None = None,
        description: str = "",
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        run_count: int = 1,
        parent_experiment_id: str | None = None,
    ) -> Experiment:
        """A new `pending` experiment on the dataset's current version unless one is given."""
        with self._db.tx() as conn:
            projects.require(conn, project_id)
            ds = datasets.require_live(conn, None, dataset_id)
            stamp = now()
            epoch_ms = int(time.time() * 1000)
            run_name = f"{name}-{epoch_ms}" if ensure_unique else name
            eid = new_id()
            conn.execute(
                "INSERT INTO experiments (id, project_id, dataset_id, dataset_version, name, "
                "experiment, description, config, metadata, run_count, parent_experiment_id, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    eid,
                    project_id,
                    ds.id,
                    ds.current_version if dataset_version is None else dataset_version,
                    run_name,
                    name,
                    description,
                    dumps(config or {}),
                    dumps(metadata or {}),
                    run_count,
                    parent_experiment_id,
                    "pending",
                    stamp,
                    stamp,
                ),
            )
            return _experiment(_row(conn, eid))

    def patch(self, experiment_id: str, changes: ExperimentChanges) -> Experiment:
        """Apply `changes`. Reaching a terminal status computes `aggregate_data`; leaving one
        clears it."""
        with self._db.tx() as conn:
            row = _row(conn, experiment_id)
            if row["is_deleted"]:
                raise Conflict(f"experiment {experiment_id!r} was deleted; it cannot change")
            sets: dict[str, Any] = {}
            for key in ("status", "error", "name", "description"):
                if key in changes:
                    sets[key] = changes.get(key)
            if "metadata" in changes:
                sets["metadata"] = dumps(changes["metadata"] or {})
            sets["updated_at"] = now()
            assignments = ", ".join(f"{k} = ?" for k in sets)
            conn.execute(
                f"UPDATE experiments SET {assignments} WHERE id = ?",
                [*sets.values(), experiment_id],
            )
            status = sets.get("status", row["status"])
            if status in FINISHED:
                refresh_aggregate(conn, experiment_id)
            else:
                conn.execute(
                    "UPDATE experiments SET aggregate_data = NULL, aggregate_stale = 0 "
                    "WHERE id = ?",
                    (experiment_id,),
                )
            return _experiment(_row(conn, experiment_id))

    def delete(self, experiment_ids: Sequence[str]) -> None:
        """Soft delete, all or none: an unknown id refuses the whole call."""
        with self._db.tx() as conn:
            for eid in experiment_ids:
                _row(conn, eid)
            conn.executemany(
                "UPDATE experiments SET is_deleted = 1, updated_at = ? WHERE id = ?",
                [(now(), e) for e in experiment_ids],
            )

    def find(self, flt: ExperimentFilter, after: int | None, limit: int) -> Page[Experiment, int]:
        """Newest first, at most `limit`, older than the key `after`; `next_after` whenever
        more rows match, whatever the filter (ddtrace's `list_experiments` pages at 100 and
        follows the cursor: an answer cut without one would lose runs silently). Stale
        aggregates of the rows answered are computed first, so a listing always shows them
        fresh.
        """
        sql = (
            "SELECT id, seq, metadata, aggregate_stale, status FROM experiments "
            "WHERE is_deleted = ?"
        )
        args: list[Any] = [1 if flt.is_deleted else 0]
        for column, value in (
            ("name", flt.name),
            ("experiment", flt.experiment),
            ("project_id", flt.project_id),
            ("dataset_id", flt.dataset_id),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        for column, values in (("id", flt.ids), ("parent_experiment_id", flt.parent_ids)):
            if values:
                sql += f" AND {column} IN ({', '.join('?' * len(values))})"
                args.extend(values)
        if after is not None:
            sql += " AND seq < ?"
            args.append(after)
        sql += " ORDER BY seq DESC"
        if flt.metadata is None:
            sql += " LIMIT ?"
            args.append(limit + 1)
        with self._db.read() as conn:
            rows: list[sqlite3.Row] = []
            # Containment is checked here, row by row newest first, up to one row past the
            # page: that row only says that a next page exists.
            for row in conn.execute(sql, args):
                if flt.metadata is None or json_contains(loads(row["metadata"]), flt.metadata):
                    rows.append(row)
                    if len(rows) > limit:
                        break
            more = len(rows) > limit
            rows = rows[:limit]
            stale = [r["id"] for r in rows if r["aggregate_stale"] and r["status"] in FINISHED]
        if stale:
            with self._db.tx() as conn:
                for eid in stale:
                    refresh_aggregate(conn, eid)
        with self._db.read() as conn:
            found = [_experiment(_row(conn, r["id"])) for r in rows]
        return Page(found, rows[-1]["seq"] if more else None)

    def latest_id(self, project_name: str, experiment_name: str) -> str:
        """The newest live experiment submitted or named `experiment_name` in the project."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT e.id FROM experiments e JOIN projects p ON p.id = e.project_id "
                "WHERE p.name = ? AND (e.experiment = ? OR e.name = ?) AND e.is_deleted = 0 "
                "ORDER BY e.seq DESC LIMIT 1",
                (project_name, experiment_name, experiment_name),
            ).fetchone()
        if row is None:
            raise NotFound(f"no experiment named {experiment_name!r} in project {project_name!r}")
        return str(row[0])


def json_contains(container: Any, contained: Any) -> bool:
    """PostgreSQL's JSONB `@>`: objects by key subset, arrays by element containment."""
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            key in container and json_contains(container[key], value)
            for key, value in contained.items()
        )
    if isinstance(contained, list):
        if not isinstance(container, list):
            return False
        return all(any(json_contains(item, want) for item in container) for want in contained)
    if isinstance(container, list) and not isinstance(contained, dict | list):
        # JSONB lets an array contain a bare scalar.
        return contained in container
    return bool(container == contained and type(container) is type(contained))


def _row(conn: sqlite3.Connection, experiment_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
    if row is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    return row  # type: ignore[no-any-return]


def _experiment(row: sqlite3.Row) -> Experiment:
    json = ("config", "metadata", "aggregate_data")
    return typed(Experiment, row, json=json, is_deleted=bool(row["is_deleted"]))
