"""The store's persistence over `core.Database`: projects, datasets with versioned records,
experiments, their spans and their evaluation metrics.

Every public method runs in one transaction, so a method that returns has durably stored
what it was given. The HTTP layer (`app.py`) validates requests and shapes answers; this
module holds the data rules (versions, deduplication, upserts, filters, aggregation).
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from driftgate.store.aggregate import EvalRow, SummaryRow, aggregate
from driftgate.store.core import Database, new_hex_id, new_id
from driftgate.store.core import dumps as _dumps
from driftgate.store.core import loads as _loads
from driftgate.store.core import now as _now
from driftgate.store.errors import BadRequest, Conflict, NotFound
from driftgate.tags import tag_value

TERMINAL_STATUSES = frozenset({"completed", "failed", "interrupted"})
MAX_PAGE_LIMIT = 5000


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(_dumps(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            f"page[cursor] {cursor!r} is not a cursor this store issued; pass meta.after "
            "from the previous page unchanged"
        ) from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise BadRequest(f"page[cursor] {cursor!r} does not belong to this listing")
    return parts


def clamp_limit(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError as exc:
        raise BadRequest(f"page[limit] must be an integer, got {raw!r}") from exc
    if limit < 1:
        raise BadRequest(f"page[limit] must be at least 1, got {limit}")
    return min(limit, MAX_PAGE_LIMIT)


_SPAN_TAGS = frozenset({"experiment_id", "dataset_record_id", "run_iteration"})


def _span_tags(tags: Sequence[Any]) -> dict[str, str]:
    """The tags the store indexes, in one pass (this runs for every span received)."""
    found: dict[str, str] = {}
    for tag in tags:
        if isinstance(tag, str):
            key, _, value = tag.partition(":")
            if key in _SPAN_TAGS and key not in found:
                found[key] = value
    return found


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


def _content_key(input_data: Any, expected_output: Any, metadata: Any) -> str:
    return hashlib.sha256(_dumps([input_data, expected_output, metadata])).hexdigest()


@dataclass
class ExperimentFilter:
    ids: list[str] = field(default_factory=list)
    name: str | None = None
    experiment: str | None = None
    metadata: Any = None
    project_id: str | None = None
    dataset_id: str | None = None
    parent_ids: list[str] = field(default_factory=list)
    is_deleted: bool = False


class Store:
    """All state of the embedded store. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._database = Database(path)

    def close(self) -> None:
        self._database.close()

    # -- projects ---------------------------------------------------------------------------

    def project_create_or_get(self, name: str, description: str = "") -> dict[str, Any]:
        with self._database.tx() as db:
            row = db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
            if row is None:
                now = _now()
                pid = new_id()
                db.execute(
                    "INSERT INTO projects (id, name, description, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (pid, name, description, now, now),
                )
                row = db.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
            return _project(row)

    def projects(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._database.read() as db:
            if name is None:
                rows = db.execute("SELECT * FROM projects ORDER BY created_at").fetchall()
            else:
                rows = db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchall()
            return [_project(r) for r in rows]

    def _require_project(self, db: sqlite3.Connection, project_id: str) -> None:
        if db.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is None:
            raise NotFound(
                f"project {project_id!r} does not exist; create it with POST .../projects first"
            )

    # -- datasets ---------------------------------------------------------------------------

    def dataset_create(self, project_id: str, name: str, description: str) -> dict[str, Any]:
        """Create a dataset, or return the live one of that name in the project.

        Scripts commonly call `LLMObs.create_dataset` on every run; answering with the
        existing dataset (records then deduplicate against it) keeps record identities stable
        across runs, which is what pairing a candidate with its baseline needs.
        """
        with self._database.tx() as db:
            self._require_project(db, project_id)
            row = db.execute(
                "SELECT * FROM datasets WHERE project_id = ? AND name = ? AND is_deleted = 0 "
                "ORDER BY created_at LIMIT 1",
                (project_id, name),
            ).fetchone()
            if row is None:
                now = _now()
                did = new_id()
                db.execute(
                    "INSERT INTO datasets (id, project_id, name, description, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (did, project_id, name, description, now, now),
                )
                row = db.execute("SELECT * FROM datasets WHERE id = ?", (did,)).fetchone()
            return _dataset(row)

    def datasets(self, project_id: str, name: str | None) -> list[dict[str, Any]]:
        with self._database.read() as db:
            sql = "SELECT * FROM datasets WHERE project_id = ? AND is_deleted = 0"
            args: list[Any] = [project_id]
            if name is not None:
                sql += " AND name = ?"
                args.append(name)
            rows = db.execute(sql + " ORDER BY created_at", args).fetchall()
            return [_dataset(r) for r in rows]

    def datasets_delete(self, dataset_ids: Sequence[str]) -> int:
        with self._database.tx() as db:
            cur = db.executemany(
                "UPDATE datasets SET is_deleted = 1, updated_at = ? WHERE id = ?",
                [(_now(), d) for d in dataset_ids],
            )
            return cur.rowcount

    def _live_dataset(
        self, db: sqlite3.Connection, project_id: str | None, dataset_id: str
    ) -> sqlite3.Row:
        row = db.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None or (project_id is not None and row["project_id"] != project_id):
            where = f" in project {project_id!r}" if project_id else ""
            raise NotFound(f"dataset {dataset_id!r} does not exist{where}")
        if row["is_deleted"]:
            raise Conflict(f"dataset {dataset_id!r} was deleted; create a new dataset")
        return row  # type: ignore[no-any-return]

    def dataset_batch_update(
        self,
        project_id: str | None,
        dataset_id: str,
        inserts: Sequence[dict[str, Any]],
        updates: Sequence[dict[str, Any]],
        deletes: Sequence[str],
        deduplicate: bool = True,
        create_new_version: bool = True,
    ) -> list[dict[str, Any]]:
        """Apply one batch; answer one entry per inserted (or deduplicated) and updated record."""
        with self._database.tx() as db:
            ds = self._live_dataset(db, project_id, dataset_id)
            current: int = ds["current_version"]
            target = current + 1 if (create_new_version or current == 0) else current
            now = _now()
            live = (
                "dataset_id = ? AND version_added <= ? AND "
                "(version_removed IS NULL OR version_removed > ?)"
            )
            changed = False
            answer: list[dict[str, Any]] = []
            seen_in_batch: dict[str, str] = {}

            def close(seq: int) -> None:
                # A row born in the target version is replaced outright, not versioned.
                db.execute(
                    "UPDATE records SET version_removed = ?, updated_at = ? WHERE seq = ? "
                    "AND version_added < ?",
                    (target, now, seq, target),
                )
                db.execute(
                    "DELETE FROM records WHERE seq = ? AND version_added >= ?", (seq, target)
                )

            for i, rec in enumerate(inserts):
                rid = str(rec.get("id") or new_hex_id())
                key = _content_key(
                    rec.get("input"), rec.get("expected_output"), rec.get("metadata")
                )
                same_id = db.execute(
                    f"SELECT seq, content_key, canonical_id FROM records WHERE id = ? AND {live}",
                    (rid, dataset_id, current, current),
                ).fetchone()
                if same_id is not None:
                    if same_id["content_key"] != key:
                        raise Conflict(
                            f"insert_records[{i}]: record {rid!r} already exists with other "
                            "content; send it in update_records to change it"
                        )
                    answer.append(_record_ack(rid, target, same_id["canonical_id"]))
                    continue
                if deduplicate:
                    twin = seen_in_batch.get(key)
                    if twin is None:
                        row = db.execute(
                            f"SELECT canonical_id FROM records WHERE content_key = ? AND {live} "
                            "LIMIT 1",
                            (key, dataset_id, current, current),
                        ).fetchone()
                        twin = row["canonical_id"] if row else None
                    if twin is not None:
                        answer.append(_record_ack(rid, target, twin))
                        continue
                db.execute(
                    "INSERT INTO records (dataset_id, id, canonical_id, content_key, input, "
                    "expected_output, metadata, tags, version_added, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dataset_id,
                        rid,
                        rid,
                        key,
                        _dumps(rec.get("input")),
                        _dumps(rec.get("expected_output")),
                        _dumps(rec.get("metadata")),
                        _dumps(list(rec.get("tags") or [])),
                        target,
                        now,
                        now,
                    ),
                )
                seen_in_batch[key] = rid
                changed = True
                answer.append(_record_ack(rid, target, rid))

            for i, upd in enumerate(updates):
                rid = str(upd.get("id") or "")
                row = db.execute(
                    f"SELECT * FROM records WHERE id = ? AND {live}",
                    (rid, dataset_id, current, current),
                ).fetchone()
                if row is None:
                    raise NotFound(f"update_records[{i}]: record {rid!r} is not in the dataset")
                new_input = _loads(row["input"]) if upd.get("input") is None else upd["input"]
                new_expected = (
                    _loads(row["expected_output"])
                    if upd.get("expected_output") is None
                    else upd["expected_output"]
                )
                new_meta = (
                    _loads(row["metadata"]) if upd.get("metadata") is None else upd["metadata"]
                )
                tags = _apply_tag_ops(_loads(row["tags"]), upd.get("tag_operations") or {})
                close(row["seq"])
                db.execute(
                    "INSERT INTO records (dataset_id, id, canonical_id, content_key, input, "
                    "expected_output, metadata, tags, version_added, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dataset_id,
                        rid,
                        row["canonical_id"],
                        _content_key(new_input, new_expected, new_meta),
                        _dumps(new_input),
                        _dumps(new_expected),
                        _dumps(new_meta),
                        _dumps(tags),
                        target,
                        row["created_at"],
                        now,
                    ),
                )
                changed = True
                answer.append(_record_ack(rid, target, row["canonical_id"]))

            for rid in deletes:
                row = db.execute(
                    f"SELECT seq FROM records WHERE id = ? AND {live}",
                    (str(rid), dataset_id, current, current),
                ).fetchone()
                if row is not None:
                    close(row["seq"])
                    changed = True

            if changed:
                db.execute(
                    "UPDATE datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                    (target, now, dataset_id),
                )
            else:
                # Nothing new: the dataset stays on its version, and so do the acks.
                for ack in answer:
                    ack["attributes"]["version"] = current
            return answer

    def dataset_records(
        self,
        project_id: str,
        dataset_id: str,
        version: int | None,
        tags: Sequence[str],
        after: str | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        with self._database.read() as db:
            ds = self._live_dataset(db, project_id, dataset_id)
            v = ds["current_version"] if version is None else version
            if v > ds["current_version"] or v < 0:
                raise NotFound(
                    f"dataset {dataset_id!r} has no version {v} (current version is "
                    f"{ds['current_version']})"
                )
            sql = (
                "SELECT * FROM records WHERE dataset_id = ? AND version_added <= ? AND "
                "(version_removed IS NULL OR version_removed > ?) AND seq > ?"
            )
            args: list[Any] = [dataset_id, v, v, decode_cursor(after, 1)[0] if after else 0]
            for tag in tags:
                sql += " AND EXISTS (SELECT 1 FROM json_each(records.tags) WHERE value = ?)"
                args.append(tag)
            rows = db.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            cursor = encode_cursor(rows[-1]["seq"]) if more else None
            return [_record(r, dataset_id) for r in rows], cursor

    def dataset_import(
        self, dataset_id: str, rows: Sequence[dict[str, Any]], deduplicate: bool
    ) -> int:
        """Bulk upload (CSV): the rows become a new version; answers how many rows were
        acknowledged (duplicates of live records included)."""
        acks = self.dataset_batch_update(None, dataset_id, rows, [], [], deduplicate, True)
        return len(acks)

    # -- experiments ------------------------------------------------------------------------

    def experiment_create(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with self._database.tx() as db:
            project_id = attrs["project_id"]
            self._require_project(db, project_id)
            ds = self._live_dataset(db, None, attrs["dataset_id"])
            now = _now()
            epoch_ms = int(time.time() * 1000)
            submitted = attrs["name"]
            name = f"{submitted}-{epoch_ms}" if attrs.get("ensure_unique") else submitted
            version = attrs.get("dataset_version")
            eid = new_id()
            db.execute(
                "INSERT INTO experiments (id, project_id, dataset_id, dataset_version, name, "
                "experiment, description, config, metadata, run_count, parent_experiment_id, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    eid,
                    project_id,
                    ds["id"],
                    ds["current_version"] if version is None else version,
                    name,
                    submitted,
                    attrs.get("description") or "",
                    _dumps(attrs.get("config") or {}),
                    _dumps(attrs.get("metadata") or {}),
                    attrs.get("run_count") or 1,
                    attrs.get("parent_experiment_id"),
                    "pending",
                    now,
                    now,
                ),
            )
            return self._experiment_attrs(db, eid)

    def experiment_patch(self, experiment_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        with self._database.tx() as db:
            row = self._experiment_row(db, experiment_id)
            if row["is_deleted"]:
                raise Conflict(f"experiment {experiment_id!r} was deleted; it cannot change")
            sets: dict[str, Any] = {}
            for key in ("status", "error", "name", "description"):
                if key in attrs:
                    sets[key] = attrs[key]
            if "metadata" in attrs:
                sets["metadata"] = _dumps(attrs["metadata"] or {})
            sets["updated_at"] = _now()
            assignments = ", ".join(f"{k} = ?" for k in sets)
            db.execute(
                f"UPDATE experiments SET {assignments} WHERE id = ?",
                [*sets.values(), experiment_id],
            )
            status = sets.get("status", row["status"])
            if status in TERMINAL_STATUSES:
                self._refresh_aggregate(db, experiment_id)
            else:
                db.execute(
                    "UPDATE experiments SET aggregate_data = NULL, aggregate_stale = 0 "
                    "WHERE id = ?",
                    (experiment_id,),
                )
            return self._experiment_attrs(db, experiment_id)

    def experiments_delete(self, experiment_ids: Sequence[str]) -> None:
        with self._database.tx() as db:
            for eid in experiment_ids:
                self._experiment_row(db, eid)
            db.executemany(
                "UPDATE experiments SET is_deleted = 1, updated_at = ? WHERE id = ?",
                [(_now(), e) for e in experiment_ids],
            )

    def experiments(
        self, flt: ExperimentFilter, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first. With a metadata or experiment filter the answer is one page only."""
        sql = "SELECT id, metadata, aggregate_stale, status FROM experiments WHERE is_deleted = ?"
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
        if after:
            sql += " AND seq < ?"
            args.append(decode_cursor(after, 1)[0])
        sql += " ORDER BY seq DESC"
        paged = flt.metadata is None and flt.experiment is None
        if flt.metadata is None:
            sql += " LIMIT ?"
            args.append(limit + 1)
        with self._database.read() as db:
            rows = db.execute(sql, args).fetchall()
            if flt.metadata is not None:
                rows = [r for r in rows if json_contains(_loads(r["metadata"]), flt.metadata)]
            more = len(rows) > limit
            rows = rows[:limit]
            stale = [
                r["id"] for r in rows if r["aggregate_stale"] and r["status"] in TERMINAL_STATUSES
            ]
        if stale:
            with self._database.tx() as db:
                for eid in stale:
                    self._refresh_aggregate(db, eid)
        with self._database.read() as db:
            out = [self._experiment_attrs(db, r["id"]) for r in rows]
            cursor = None
            if paged and more:
                seq = db.execute(
                    "SELECT seq FROM experiments WHERE id = ?", (rows[-1]["id"],)
                ).fetchone()[0]
                cursor = encode_cursor(seq)
            return out, cursor

    def latest_experiment(self, project_name: str, experiment_name: str) -> str:
        with self._database.read() as db:
            row = db.execute(
                "SELECT e.id FROM experiments e JOIN projects p ON p.id = e.project_id "
                "WHERE p.name = ? AND (e.experiment = ? OR e.name = ?) AND e.is_deleted = 0 "
                "ORDER BY e.seq DESC LIMIT 1",
                (project_name, experiment_name, experiment_name),
            ).fetchone()
        if row is None:
            raise NotFound(f"no experiment named {experiment_name!r} in project {project_name!r}")
        return str(row[0])

    def _experiment_row(self, db: sqlite3.Connection, experiment_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            raise NotFound(f"experiment {experiment_id!r} does not exist")
        return row  # type: ignore[no-any-return]

    def _experiment_attrs(self, db: sqlite3.Connection, experiment_id: str) -> dict[str, Any]:
        row = self._experiment_row(db, experiment_id)
        return {
            "id": row["id"],
            "name": row["name"],
            "experiment": row["experiment"],
            "project_id": row["project_id"],
            "dataset_id": row["dataset_id"],
            "dataset_version": row["dataset_version"],
            "description": row["description"],
            "config": _loads(row["config"]),
            "metadata": _loads(row["metadata"]),
            "run_count": row["run_count"],
            "parent_experiment_id": row["parent_experiment_id"],
            "status": row["status"],
            "error": row["error"],
            "is_deleted": bool(row["is_deleted"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "aggregate_data": _loads(row["aggregate_data"]),
        }

    # -- events -----------------------------------------------------------------------------

    def add_metrics(
        self, experiment_id: str, metrics: Sequence[dict[str, Any]], request_tags: Sequence[str]
    ) -> None:
        req_iteration = tag_value(request_tags, "run_iteration")
        req_run_id = tag_value(request_tags, "run_id")
        rows = []
        for m in metrics:
            tags = m.get("tags") or []
            iteration = tag_value(tags, "run_iteration") or req_iteration or "1"
            metric_type = m["metric_type"]
            value = m.get(f"{metric_type}_value")
            error = m.get("error")
            rows.append(
                (
                    experiment_id,
                    m.get("metric_source") or "custom",
                    str(m.get("span_id") or ""),
                    m["label"],
                    _int(iteration, 1),
                    tag_value(tags, "run_id") or req_run_id,
                    metric_type,
                    int(m.get("timestamp_ms") or 0),
                    None if value is None else _dumps(value),
                    m.get("assessment"),
                    1 if error else 0,
                    orjson.dumps(m),
                )
            )
        with self._database.tx() as db:
            self._experiment_row(db, experiment_id)
            # A metric re-posted for the same span and label replaces the older one, as
            # Datadog's readers keep the latest `timestamp_ms`.
            db.executemany(
                "INSERT INTO metrics (experiment_id, source, span_id, label, run_iteration, "
                "run_id, metric_type, timestamp_ms, value, assessment, has_error, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, source, span_id, label, run_iteration) DO UPDATE SET "
                "run_id = excluded.run_id, metric_type = excluded.metric_type, "
                "timestamp_ms = excluded.timestamp_ms, value = excluded.value, "
                "assessment = excluded.assessment, has_error = excluded.has_error, "
                "body = excluded.body WHERE excluded.timestamp_ms >= metrics.timestamp_ms",
                rows,
            )
            self._mark_stale(db, {experiment_id})

    def add_spans(self, spans: Sequence[dict[str, Any]]) -> int:
        """Store the spans that belong to an experiment (tag `experiment_id:`); others are
        ordinary LLM Observability traffic and are not kept. Answers how many were kept."""
        rows = []
        for s in spans:
            found = _span_tags(s.get("tags") or [])
            experiment_id = found.get("experiment_id")
            if not experiment_id:
                continue
            meta = s.get("meta") or {}
            kind = (meta.get("span") or {}).get("kind") if isinstance(meta, dict) else None
            parent = s.get("parent_id")
            is_root = kind == "experiment" or parent in (None, "", "undefined", "0")
            m = s.get("metrics") or {}
            tok_in = _num(m.get("input_tokens"))
            tok_out = _num(m.get("output_tokens"))
            tok_total = _num(m.get("total_tokens"))
            if tok_total is None and (tok_in is not None or tok_out is not None):
                tok_total = (tok_in or 0.0) + (tok_out or 0.0)
            cost = _num(m.get("estimated_total_cost"))
            cost_in, cost_out = (
                _num(m.get("estimated_input_cost")),
                _num(m.get("estimated_output_cost")),
            )
            if cost is None and (cost_in is not None or cost_out is not None):
                cost = (cost_in or 0.0) + (cost_out or 0.0)
            rows.append(
                (
                    experiment_id,
                    str(s["span_id"]),
                    str(s.get("trace_id") or ""),
                    1 if is_root else 0,
                    found.get("dataset_record_id"),
                    _int(found.get("run_iteration"), 1),
                    _int(s.get("start_ns"), 0),
                    _int(s.get("duration"), 0),
                    1 if s.get("status") == "error" else 0,
                    tok_in,
                    tok_out,
                    tok_total,
                    cost,
                    orjson.dumps(s),
                )
            )
        if not rows:
            return 0
        with self._database.tx() as db:
            db.executemany(
                "INSERT INTO spans (experiment_id, span_id, trace_id, is_root, record_id, "
                "run_iteration, start_ns, duration, is_error, input_tokens, output_tokens, "
                "total_tokens, cost, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id, span_id) DO UPDATE SET trace_id = excluded.trace_id, "
                "is_root = excluded.is_root, record_id = excluded.record_id, "
                "run_iteration = excluded.run_iteration, start_ns = excluded.start_ns, "
                "duration = excluded.duration, is_error = excluded.is_error, "
                "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
                "total_tokens = excluded.total_tokens, cost = excluded.cost, body = excluded.body",
                rows,
            )
            self._mark_stale(db, {r[0] for r in rows})
        return len(rows)

    def _mark_stale(self, db: sqlite3.Connection, experiment_ids: set[str]) -> None:
        db.executemany(
            "UPDATE experiments SET aggregate_stale = 1 WHERE id = ? AND aggregate_stale = 0 "
            "AND status IN ('completed', 'failed', 'interrupted')",
            [(e,) for e in experiment_ids],
        )

    def events(
        self, experiment_id: str, after: str | None = None, limit: int | None = None
    ) -> tuple[dict[str, Any], str | None]:
        """Task spans with their evaluations (and their trace's token and cost totals), plus
        the summary evaluations; all runs, ordered by run then start time."""
        with self._database.read() as db:
            self._experiment_row(db, experiment_id)
            sql = (
                "SELECT span_id, trace_id, run_iteration, start_ns, body FROM spans "
                "WHERE experiment_id = ? AND is_root = 1"
            )
            args: list[Any] = [experiment_id]
            if after:
                run, start, span = decode_cursor(after, 3)
                sql += " AND (run_iteration, start_ns, span_id) > (?, ?, ?)"
                args += [run, start, span]
            sql += " ORDER BY run_iteration, start_ns, span_id"
            if limit is not None:
                sql += " LIMIT ?"
                args.append(limit + 1)
            roots = db.execute(sql, args).fetchall()
            more = limit is not None and len(roots) > limit
            roots = roots[:limit] if limit is not None else roots
            span_ids = [r["span_id"] for r in roots]
            trace_ids = list({r["trace_id"] for r in roots})
            evals: dict[str, list[Any]] = {}
            rollup: dict[str, sqlite3.Row] = {}
            for chunk in _chunks(span_ids, 900):
                marks = ", ".join("?" * len(chunk))
                for m in db.execute(
                    "SELECT span_id, run_iteration, run_id, body FROM metrics WHERE "
                    f"experiment_id = ? AND source = 'custom' AND span_id IN ({marks})",
                    [experiment_id, *chunk],
                ):
                    evals.setdefault(m["span_id"], []).append(_metric_out(m))
            for chunk in _chunks(trace_ids, 900):
                marks = ", ".join("?" * len(chunk))
                for t in db.execute(
                    "SELECT trace_id, SUM(input_tokens) AS i, SUM(output_tokens) AS o, "
                    "SUM(total_tokens) AS t, SUM(cost) AS c FROM spans WHERE experiment_id = ? "
                    f"AND trace_id IN ({marks}) GROUP BY trace_id",
                    [experiment_id, *chunk],
                ):
                    rollup[t["trace_id"]] = t
            spans_out = []
            for r in roots:
                span = orjson.loads(r["body"])
                meta = dict(span.get("meta") or {})
                meta.setdefault("error", {})
                if meta["error"] is None:
                    meta["error"] = {}
                totals = rollup.get(r["trace_id"])
                metrics = dict(span.get("metrics") or {})
                if totals is not None:
                    # Only what some span of the trace reported: no usage is not zero usage.
                    for key, column in (
                        ("input_tokens", "i"),
                        ("output_tokens", "o"),
                        ("total_tokens", "t"),
                        ("estimated_total_cost", "c"),
                    ):
                        if totals[column] is not None:
                            metrics[key] = _whole(totals[column])
                spans_out.append(
                    {
                        "span_id": r["span_id"],
                        "trace_id": r["trace_id"],
                        "name": span.get("name", "task"),
                        "start_ns": span.get("start_ns", 0),
                        "duration": span.get("duration", 0),
                        "status": span.get("status", "ok"),
                        "tags": span.get("tags") or [],
                        "meta": meta,
                        "metrics": metrics,
                        "eval_metrics": evals.get(r["span_id"], []),
                    }
                )
            summary = []
            if not after:
                summary = [
                    _metric_out(m)
                    for m in db.execute(
                        "SELECT span_id, run_iteration, run_id, body FROM metrics WHERE "
                        "experiment_id = ? AND source = 'summary' ORDER BY run_iteration, label",
                        (experiment_id,),
                    )
                ]
            cursor = None
            if more:
                last = roots[-1]
                cursor = encode_cursor(last["run_iteration"], last["start_ns"], last["span_id"])
            return {"spans": spans_out, "summary_metrics": summary}, cursor

    def _refresh_aggregate(self, db: sqlite3.Connection, experiment_id: str) -> None:
        t = db.execute(
            "SELECT COUNT(*) AS spans, COALESCE(SUM(is_error * is_root), 0) AS errors, "
            "COALESCE(SUM(total_tokens), 0) AS tok, COALESCE(SUM(input_tokens), 0) AS tin, "
            "COALESCE(SUM(output_tokens), 0) AS tout, "
            "COALESCE(SUM(duration * is_root), 0) AS dur, COALESCE(SUM(cost), 0) AS cost "
            "FROM spans WHERE experiment_id = ?",
            (experiment_id,),
        ).fetchone()
        totals: dict[str, int | float] = {
            "total_spans": t["spans"],
            "total_errors": t["errors"],
            "total_tokens": _whole(t["tok"]),
            "total_input_tokens": _whole(t["tin"]),
            "total_output_tokens": _whole(t["tout"]),
            "total_duration_ns": t["dur"],
            "estimated_total_cost": _whole(t["cost"]),
        }
        evals = [
            EvalRow(
                record=r["record_id"] or r["span_id"],
                run=r["run_iteration"],
                label=r["label"],
                metric_type=r["metric_type"],
                value=_loads(r["value"]),
                assessment=r["assessment"],
                has_error=bool(r["has_error"]),
            )
            for r in db.execute(
                "SELECT m.span_id, m.run_iteration, m.label, m.metric_type, m.value, "
                "m.assessment, m.has_error, s.record_id FROM metrics m LEFT JOIN spans s "
                "ON s.experiment_id = m.experiment_id AND s.span_id = m.span_id "
                "WHERE m.experiment_id = ? AND m.source = 'custom'",
                (experiment_id,),
            )
        ]
        summaries = [
            SummaryRow(
                run=r["run_iteration"],
                label=r["label"],
                metric_type=r["metric_type"],
                value=_loads(r["value"]),
                has_error=bool(r["has_error"]),
            )
            for r in db.execute(
                "SELECT run_iteration, label, metric_type, value, has_error FROM metrics "
                "WHERE experiment_id = ? AND source = 'summary'",
                (experiment_id,),
            )
        ]
        db.execute(
            "UPDATE experiments SET aggregate_data = ?, aggregate_stale = 0 WHERE id = ?",
            (_dumps(aggregate(totals, evals, summaries)), experiment_id),
        )


def _project(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "description", "created_at", "updated_at")}


def _dataset(row: sqlite3.Row) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "id",
            "project_id",
            "name",
            "description",
            "current_version",
            "created_at",
            "updated_at",
        )
    }


def _record(row: sqlite3.Row, dataset_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "dataset_id": dataset_id,
        "canonical_id": row["canonical_id"],
        "input": _loads(row["input"]),
        "expected_output": _loads(row["expected_output"]),
        "metadata": _loads(row["metadata"]),
        "tags": _loads(row["tags"]),
        "version": row["version_added"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _record_ack(rid: str, version: int, canonical_id: str) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "datasets",
        "attributes": {"version": version, "canonical_id": canonical_id},
    }


def _metric_out(row: sqlite3.Row) -> dict[str, Any]:
    metric: dict[str, Any] = orjson.loads(row["body"])
    metric["run_iteration"] = row["run_iteration"]
    if row["run_id"]:
        metric["run_id"] = row["run_id"]
    return metric


def _apply_tag_ops(tags: list[str], ops: dict[str, Any]) -> list[str]:
    if "set" in ops:
        tags = list(ops["set"] or [])
    for tag in ops.get("add") or []:
        if tag not in tags:
            tags.append(tag)
    remove = set(ops.get("remove") or [])
    return [t for t in tags if t not in remove]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
