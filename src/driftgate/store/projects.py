"""Projects: create-or-get by name, and listing. Touches the `projects` table only.

`require` is for the other resources, whose rows belong to a project.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from driftgate.store.core import Database, new_id, now, typed
from driftgate.store.errors import NotFound


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str
    created_at: str
    updated_at: str


class Projects:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create_or_get(self, name: str, description: str = "") -> Project:
        with self._db.tx() as conn:
            row = conn.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
            if row is None:
                stamp = now()
                pid = new_id()
                conn.execute(
                    "INSERT INTO projects (id, name, description, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (pid, name, description, stamp, stamp),
                )
                row = conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
            return _project(row)

    def find(self, name: str | None = None) -> list[Project]:
        """All projects, oldest first, or the one named `name` (then at most one)."""
        with self._db.read() as conn:
            if name is None:
                rows = conn.execute("SELECT * FROM projects ORDER BY created_at").fetchall()
            else:
                rows = conn.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchall()
            return [_project(r) for r in rows]


def require(conn: sqlite3.Connection, project_id: str) -> None:
    if conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is None:
        raise NotFound(
            f"project {project_id!r} does not exist; create it with POST .../projects first"
        )


def _project(row: sqlite3.Row) -> Project:
    return typed(Project, row)
