"""The store's SQLite file: the connection, the schema (created or checked at open), and the
rules every resource module follows to use it.

Every write goes through `Database.tx()`, one transaction per call, so a method that returns
has durably stored what it was given (WAL, synchronous=FULL), on the one writing connection,
behind a lock. Reads go through `Database.read()`: on a file, a read-only connection of the
reading thread's own, so that reads run at once on several cores (SQLite releases the
interpreter's lock) and beside a write, each on one snapshot of the committed data (WAL); on
`:memory:`, which one connection alone sees, the writing one, behind the lock.
Here too: JSON (de)serialising for BLOB columns, timestamps, ids, and `Page`. Nothing in this
module knows what a project, dataset or experiment is beyond the tables' definitions.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from driftgate.store.errors import Busy, CannotOpen, InsufficientStorage

log = logging.getLogger("driftgate.store")

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")

SCHEMA_VERSION = 3
"""2: task spans and evaluations are also kept as they are answered (`answer` columns), and
a trace's usage is summed from an index. 3: a task span's `metrics` with its trace's usage
(`answer_usage`) and its evaluations (`span_evals`) are kept as they are answered too."""

# The range of SQLite's INTEGER (64-bit signed): what a request may put in an indexed column.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    current_version INTEGER NOT NULL DEFAULT 0,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_by_name ON datasets (project_id, name);
-- One row per (record, version range): a change closes the old row at the new version and
-- opens a new one, so every past version stays readable.
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL,
    id TEXT NOT NULL,
    canonical_id TEXT NOT NULL,
    content_key TEXT NOT NULL,
    input BLOB,
    expected_output BLOB,
    metadata BLOB,
    tags BLOB NOT NULL,
    version_added INTEGER NOT NULL,
    version_removed INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_id ON records (dataset_id, id);
CREATE INDEX IF NOT EXISTS records_by_content ON records (dataset_id, content_key);
CREATE TABLE IF NOT EXISTS experiments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    dataset_version INTEGER NOT NULL,
    name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    description TEXT NOT NULL,
    config BLOB NOT NULL,
    metadata BLOB NOT NULL,
    run_count INTEGER NOT NULL,
    parent_experiment_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    aggregate_data BLOB,
    aggregate_stale INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS experiments_by_experiment ON experiments (experiment, seq);
CREATE INDEX IF NOT EXISTS experiments_by_name ON experiments (name, seq);
CREATE TABLE IF NOT EXISTS spans (
    experiment_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    is_root INTEGER NOT NULL,
    record_id TEXT,
    run_iteration INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    is_error INTEGER NOT NULL,
    input_tokens REAL,
    output_tokens REAL,
    total_tokens REAL,
    cost REAL,
    body BLOB NOT NULL,
    answer BLOB,
    answer_metrics BLOB,
    answer_usage BLOB,
    UNIQUE (experiment_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_roots
    ON spans (experiment_id, is_root, run_iteration, start_ns, span_id);
-- Covers the token and cost sums of a trace, which every events read makes for each span.
CREATE INDEX IF NOT EXISTS spans_usage
    ON spans (experiment_id, trace_id, input_tokens, output_tokens, total_tokens, cost);
-- A task span's evaluations as answered, joined by commas (none: no row), by the span's rowid.
-- Kept apart from the span, in rows written whole: they mostly arrive after it, and a span's
-- row that grew then would split its page (ddtrace's traffic doubled the spans' pages); here
-- they come in the order of their spans, so they are appended.
CREATE TABLE IF NOT EXISTS span_evals (span INTEGER PRIMARY KEY, evals BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (
    experiment_id TEXT NOT NULL,
    source TEXT NOT NULL,
    span_id TEXT NOT NULL,
    label TEXT NOT NULL,
    run_iteration INTEGER NOT NULL,
    run_id TEXT,
    metric_type TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    value BLOB,
    assessment TEXT,
    has_error INTEGER NOT NULL,
    body BLOB NOT NULL,
    answer BLOB,
    UNIQUE (experiment_id, source, span_id, label, run_iteration)
);
"""

# What a file of an older schema lacks, by the version that added it. The rows it already
# holds are then completed by the caller's `upgrade`, in the same transaction.
_UPGRADES = {
    2: (
        "ALTER TABLE spans ADD COLUMN answer BLOB",
        "ALTER TABLE spans ADD COLUMN answer_metrics BLOB",
        "ALTER TABLE metrics ADD COLUMN answer BLOB",
        "DROP INDEX IF EXISTS spans_by_trace",
        "CREATE INDEX IF NOT EXISTS spans_usage "
        "ON spans (experiment_id, trace_id, input_tokens, output_tokens, total_tokens, cost)",
    ),
    3: (
        "ALTER TABLE spans ADD COLUMN answer_usage BLOB",
        "CREATE TABLE span_evals (span INTEGER PRIMARY KEY, evals BLOB NOT NULL)",
    ),
}

_READ_MMAP = 1 << 30

Upgrade = Callable[[sqlite3.Connection, int], None]
"""Completes the rows of a file written under an older schema (the version it had), inside
the transaction that upgrades it."""


class Database:
    """One SQLite file, or `:memory:`. Thread-safe: writes share one connection behind a
    lock; reads of a file in WAL mode have a read-only connection per thread.

    A file written under an older schema is upgraded when opened: its tables get what they
    lack, and `upgrade` completes the rows they hold, in one transaction (a failed upgrade
    leaves the file as it was)."""

    def __init__(self, path: str = ":memory:", upgrade: Upgrade | None = None) -> None:
        self.path = path
        self._upgrade = upgrade
        self._lock = threading.RLock()
        # Where reads open their own connections; None: they use the writing one (a
        # database in memory or a temporary one, private to its connection, or a file not
        # in WAL mode, whose readers would wait for the writer).
        self._read_uri: str | None = None
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _cannot_open(path, exc) from exc
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._conn.close()
            raise _cannot_open(path, exc) from exc
        except CannotOpen:
            self._conn.close()
            raise

    def _setup(self) -> None:
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 5000")
        if self.path != ":memory:":
            (mode,) = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if self.path != "" and str(mode).lower() == "wal":
                # Absolute now: the process may change directory before a read opens it.
                self._read_uri = f"{Path(self.path).absolute().as_uri()}?mode=ro"
        self._conn.execute("PRAGMA synchronous = FULL")
        # The version first: a newer file is refused, an older one upgraded, before the
        # schema below touches either.
        version = None
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            version = None if row is None else int(row[0])
        if version is not None and version > SCHEMA_VERSION:
            raise CannotOpen(
                f"{self.path} was written by a newer driftgate (schema {version}); upgrade "
                "driftgate or point --db at another file"
            )
        if version is not None and version < SCHEMA_VERSION:
            self._upgrade_from(version)
        self._conn.executescript(_SCHEMA)
        if version is None:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def _upgrade_from(self, version: int) -> None:
        try:
            self._upgrade_rows(version)
        except (Busy, InsufficientStorage) as exc:
            raise CannotOpen(
                f"cannot upgrade the store's database {self.path} from schema {version}: "
                f"{exc.detail}"
            ) from exc
        except (sqlite3.Error, ValueError) as exc:
            # Nothing was changed (one transaction); a row the upgrade cannot read says so.
            raise CannotOpen(
                f"cannot upgrade the store's database {self.path} from schema {version} "
                f"({exc}); it is left as it was: open it with the driftgate that wrote it, or "
                "point --db at another file"
            ) from exc

    def _upgrade_rows(self, version: int) -> None:
        with self.tx() as conn:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _UPGRADES[target]:
                    conn.execute(statement)
            if self._upgrade is not None:
                self._upgrade(conn, version)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
        log.info("upgraded %s from schema %d to %d", self.path, version, SCHEMA_VERSION)

    def reading_threads(self) -> ThreadPoolExecutor:
        """Threads for reads that should not hold their caller (the store's event loop):
        four, as a gate reads two experiments, each a page ahead of its parsing, and kept,
        with their connections and caches, from one read to the next until `close`. (Not
        starlette's thread pool: its first use imports anyio's streams and sockets, 0.07 s
        of a gate's first read; and its threads outlive the store.)"""
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="driftgate-store-read")
            return self._pool

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            if self._pool is not None:
                # Its threads end now: a process joins its threads before it exits.
                self._pool.shutdown(wait=False, cancel_futures=True)
            for _, conn in self._readers:
                conn.close()
            self._readers.clear()
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads only, in one read transaction: what the block reads is one
        snapshot of the committed data, however many statements it takes."""
        if self._read_uri is None:
            with self._lock:
                yield self._conn
            return
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection, opened on its first read."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        assert self._read_uri is not None
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            # The connections of threads that have ended (a thread pool lets idle ones go).
            for thread, old in [r for r in self._readers if not r[0].is_alive()]:
                old.close()
                self._readers.remove((thread, old))
            conn = sqlite3.connect(
                self._read_uri, uri=True, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            # Pages read from the file's mapping rather than copied into the connection's
            # cache: an events page's SQL in about 60% of the time. (Only reads map it: the
            # store never truncates the file, which would fault a mapping.)
            conn.execute(f"PRAGMA mmap_size = {_READ_MMAP}")
            self._readers.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        BEGIN IMMEDIATE takes the write lock up front, so a second process on the same file
        fails here (after the busy timeout) rather than halfway through the block.
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _full(exc) or Busy(
                    f"the store's database is locked by another writer ({exc}); retry shortly"
                ) from exc
            try:
                yield self._conn
            except sqlite3.Error as exc:
                self._rollback()
                full = _full(exc)
                if full is None:
                    raise
                raise full from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                raise _full(exc) or Busy(f"could not commit ({exc}); retry shortly") from exc

    def _rollback(self) -> None:
        """End the failed transaction, if SQLite has not already: a failed COMMIT, and a
        statement that met a full disk, roll it back themselves, and a ROLLBACK then would
        raise and hide the error that says what happened."""
        if not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("the store could not roll back a failed transaction")


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _full(exc: sqlite3.Error) -> InsufficientStorage | None:
    """The answer for a write that met a full disk (SQLite rolled it back), else None."""
    if not _is_full(exc):
        return None
    return InsufficientStorage(
        "the disk under the store's database is full, so nothing of this request was stored; "
        "free some space (the store goes on without a restart) and retry"
    )


def _cannot_open(path: str, exc: sqlite3.Error) -> CannotOpen:
    if _is_full(exc):
        return CannotOpen(
            f"cannot set up the store's database {path}: the disk is full; free some space "
            "or point --db at another disk"
        )
    return CannotOpen(
        f"cannot open the store's database {path} ({exc}); point --db at another file"
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def new_hex_id() -> str:
    return uuid.uuid4().hex


# How deep a stored JSON value may nest. orjson reads 1024 levels but writes only 254, and
# an answer nests a stored value a few levels deeper than it was stored (an evaluation sits
# at data.attributes.spans[i].eval_metrics[j]): a deeper value is cut here, at store time,
# rather than failing its whole request (ddtrace sends a batch of spans at once) or a read.
MAX_DEPTH = 128
# Levels an answer may add above a stored value: 6 at most (an evaluation in an events
# read), and a margin.
_HEADROOM = 8
TRUNCATED = f"[driftgate: truncated, nested deeper than {MAX_DEPTH} levels]"


def dumps(value: Any) -> bytes:
    # Sorted keys: equal JSON values get equal bytes, which content keys rely on.
    return dump_body(value, orjson.OPT_SORT_KEYS)


def dump_body(value: Any, option: int = 0) -> bytes:
    """`value` as JSON, cut at MAX_DEPTH (marked with TRUNCATED) when it is too deep to be
    answered. The check costs nothing when the value fits: it is written inside _HEADROOM
    lists, whose brackets are then sliced off (orjson writes compactly)."""
    try:
        wrapped = orjson.dumps(_nest(value, _HEADROOM), option=option)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" not in str(exc):
            raise
        log.warning("a stored value was nested too deep; kept it cut at %d levels", MAX_DEPTH)
        return orjson.dumps(truncated(value, MAX_DEPTH), option=option)
    return wrapped[_HEADROOM:-_HEADROOM]


def _nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


def truncated(value: Any, depth: int) -> Any:
    """`value` with every list or object below `depth` levels replaced by TRUNCATED."""
    if not isinstance(value, dict | list):
        return value
    if depth <= 0:
        return TRUNCATED
    if isinstance(value, dict):
        return {k: truncated(v, depth - 1) for k, v in value.items()}
    return [truncated(v, depth - 1) for v in value]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    """A typed row's fields, in their declared order (looked up once per class: a listing
    makes thousands of rows, and `dataclasses.fields` builds its tuple at every call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def typed(cls: type[D], row: sqlite3.Row, *, json: Collection[str] = (), **given: Any) -> D:
    """The typed row `cls` from a SQLite row: each field from the column of its name (JSON
    columns decoded), unless its value is `given`."""
    values = dict(given)
    for name in field_names(cls):
        if name not in values:
            values[name] = loads(row[name]) if name in json else row[name]
    return cls(**values)


def loads(blob: bytes | None) -> Any:
    return None if blob is None else orjson.loads(blob)


R = TypeVar("R")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Page(Generic[R, K]):
    """One page of a keyset-paged listing: its rows, and the key of its last row when more
    rows follow (pass it as `after` to get the next page), else None."""

    rows: list[R]
    next_after: K | None
