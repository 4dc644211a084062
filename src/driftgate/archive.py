"""`driftgate history`: a pipeline's recorded runs listed with their headline figures,
exported as compact files (experiments/compact.py, the data branch's layout), and imported
into another backend (experiments/transfer.py), so that a team moves its history from the
embedded store to Datadog or back.

The backend is opened by the session (`open_backend`), as for `compare` and `records`; the
command line only wires. Files are read and written here, within bounds, and every file
that cannot be read is refused before anything is imported, in one line that names it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from driftgate.ci.git import GitError, default_branch
from driftgate.errors import UsageError
from driftgate.experiments.backend import NotFoundError
from driftgate.experiments.compact import (
    CompactError,
    CompactRun,
    decode_run,
    encode_run,
    origin_id,
    pipeline_of,
    recorded_at,
    run_path,
)
from driftgate.experiments.transfer import MAX_RUNS, Imported, import_run, pipeline_runs
from driftgate.report.history import RunLine, run_line
from driftgate.session import StoreChoice, open_backend

__all__ = [
    "MAX_FILE",
    "Exported",
    "HistoryRequest",
    "ImportedFile",
    "Listing",
    "export_runs",
    "import_files",
    "list_runs",
]

MAX_FILE = 512 * 1024 * 1024
"""The largest run file imported (about half a million record-runs)."""
USABLE = ("completed", "failed")


@dataclass(frozen=True)
class HistoryRequest:
    """Which runs (`list`, `export`), and where they live (every subcommand)."""

    db: Path
    store: StoreChoice = "datadog"
    pipeline: str | None = None
    branch: str | None = None
    """None: the repository's default branch (every branch when there is none)."""
    all_branches: bool = False
    limit: int = 20
    directory: Path = Path()
    """Where git is asked for the default branch."""
    backend_fix: str = "use the embedded store"

    def checked(self) -> HistoryRequest:
        if not 1 <= self.limit <= MAX_RUNS:
            raise UsageError(f"--limit {self.limit}: give a number of runs from 1 to {MAX_RUNS}")
        return self


@dataclass(frozen=True)
class Listing:
    lines: list[RunLine]
    pipeline: str | None
    branch: str | None
    backend: str
    notes: tuple[str, ...] = ()


def _branch(request: HistoryRequest) -> tuple[str | None, tuple[str, ...]]:
    """The branch to list, and what was assumed to find it."""
    if request.all_branches or request.branch:
        return (None if request.all_branches else request.branch), ()
    try:
        found = default_branch(request.directory)
    except GitError:
        found = None
    if found is None:
        return None, (
            "no default branch found (not in a git repository with origin/HEAD, main or "
            "master): every branch is listed; pass --branch to choose one",
        )
    return found, ()


def list_runs(request: HistoryRequest, env: Mapping[str, str]) -> Listing:
    """The newest runs of the pipeline on the branch, each with its figures (its events
    are read: one run at a time, `request.limit` at most)."""
    request = request.checked()
    branch, notes = _branch(request)
    lines = []
    with open_backend(request.store, env, request.db, fix=request.backend_fix) as backend:
        client = backend.client
        runs = pipeline_runs(client, pipeline=request.pipeline, branch=branch, limit=request.limit)
        for info in runs:
            data = None
            if info.status in USABLE:
                try:
                    data = client.experiment_data(info.id)
                except NotFoundError:
                    notes += (
                        f"{info.name or info.id} has no events to read: listed without figures",
                    )
            lines.append(run_line(info, data))
    return Listing(lines, request.pipeline, branch, backend.name, notes)


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int
    size: int


def export_runs(
    request: HistoryRequest,
    out: Path,
    env: Mapping[str, str],
    progress: Callable[[str], None],
) -> tuple[list[Exported], tuple[str, ...]]:
    """One compact file per finished run listed, at its data-branch path under `out`
    (written whole or not at all); what was left out, said."""
    request = request.checked()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a folder (it is created if missing)")
    branch, notes = _branch(request)
    written = []
    with open_backend(request.store, env, request.db, fix=request.backend_fix) as backend:
        client = backend.client
        runs = pipeline_runs(client, pipeline=request.pipeline, branch=branch, limit=request.limit)
        unfinished = [i for i in runs if i.status not in USABLE]
        if unfinished:
            names = ", ".join(f"{i.name or i.id} ({i.status or 'no status'})" for i in unfinished)
            notes += (f"not exported, as they did not finish: {names}",)
        for info in runs:
            if info.status not in USABLE:
                continue
            data = client.experiment_data(info.id)
            try:
                blob = encode_run(info, data)
            except CompactError as exc:
                notes += (f"not exported: {info.name or info.id}: {exc}",)
                continue
            path = out / run_path(
                pipeline_of(info), recorded_at(info), info.commit, origin_id(info)
            )
            _write(path, blob)
            progress(f"wrote {path} ({data.rows} record-runs, {len(blob):,} bytes)")
            written.append(Exported(path, data.rows, len(blob)))
    return written, notes


def _write(path: Path, blob: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".driftgate-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(
            f"cannot write {path} ({exc.strerror}); give --out a folder you can write to"
        ) from None


@dataclass(frozen=True)
class ImportedFile:
    path: Path
    run: CompactRun
    outcome: Imported


def read_files(paths: Sequence[Path]) -> list[tuple[Path, CompactRun]]:
    """Every run file `paths` name (a folder: the `.jsonl` files under it), decoded, oldest
    run first. The first that cannot be read stops everything, named, before anything is
    imported."""
    if not paths:
        raise UsageError(
            "history import: name the folder `driftgate history export` wrote, or files"
        )
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
            if not found:
                raise UsageError(
                    f"history import: {path} holds no run files (*.jsonl); give the folder "
                    "`driftgate history export --out` wrote"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(
                f"history import: {path} does not exist; give the folder `driftgate history "
                "export --out` wrote, or files in it"
            )
    runs = []
    for path in dict.fromkeys(files):
        try:
            size = path.stat().st_size
            if size > MAX_FILE:
                raise UsageError(
                    f"history import: {path} is {size:,} bytes, more than a run file may be "
                    f"({MAX_FILE:,}); is it one `driftgate history export` wrote?"
                )
            blob = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"history import: cannot read {path} ({exc.strerror})") from None
        try:
            runs.append((path, decode_run(blob)))
        except CompactError as exc:
            raise UsageError(
                f"history import: {path}: {exc}; nothing was imported (remove the file or "
                "export it again)"
            ) from None
    return sorted(runs, key=lambda item: (item[1].recorded_at or "", str(item[0])))


def import_files(
    paths: Sequence[Path],
    request: HistoryRequest,
    env: Mapping[str, str],
    progress: Callable[[str], None],
    now_ns: Callable[[], int],
) -> tuple[list[ImportedFile], str]:
    """Each run file into the backend, oldest first; a run already there is skipped and
    said. Answers what was done and the backend's name."""
    runs = read_files(paths)
    done = []
    with open_backend(request.store, env, request.db, fix=request.backend_fix) as backend:
        for path, run in runs:
            outcome = import_run(backend.client, run, now_ns=now_ns())
            if outcome.skipped:
                progress(f"skipped {path}: {outcome.skipped}")
            else:
                how = "completed the import of" if outcome.resumed else "imported"
                progress(
                    f"{how} {path} as experiment {outcome.experiment_id} "
                    f"({run.data.rows} record-runs)"
                )
            done.append(ImportedFile(path, run, outcome))
    return done, backend.name
