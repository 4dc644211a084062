"""`Store`: the embedded store's data, one SQLite file seen through its resources.

`Store(path)` opens the file (`core.Database`) and exposes `projects`, `datasets`,
`experiments` and `events`; each resource module holds its own data rules and answers typed
rows. JSON:API lives in the HTTP layer (`app.py`, `jsonapi.py`), not here.
"""

from __future__ import annotations

from driftgate.store.core import Database
from driftgate.store.datasets import Datasets
from driftgate.store.events import Events, add_answers
from driftgate.store.experiments import Experiments
from driftgate.store.projects import Projects


class Store:
    """All state of the embedded store. Thread-safe: the resources share one locked
    connection."""

    def __init__(self, path: str = ":memory:") -> None:
        self.database = Database(path, upgrade=add_answers)
        self.projects = Projects(self.database)
        self.datasets = Datasets(self.database)
        self.experiments = Experiments(self.database)
        self.events = Events(self.database)

    @property
    def path(self) -> str:
        return self.database.path

    def close(self) -> None:
        self.database.close()
