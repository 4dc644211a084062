"""The base branch's history in the data branch, for a gate on the embedded store.

The embedded store lives in a file that `actions/cache` keeps for 7 days unused; a data
branch of the repository (`driftgate-data`, docs/history.md) keeps every base-branch run for
good, in driftgate's compact format. Two moments of a gate use it:

- `HistoryBranch.restore`, before the baselines are resolved, when the store lacks runs the
  baseline could pool (an evicted cache, a fresh clone, a new runner): the pipeline's runs at
  the merge-base and its first-parent ancestors are read from the branch (fetched: a
  read-only token suffices, forks' runs included) and created in the store through the
  experiments API (`experiments/transfer.py`). The baseline is then resolved exactly as for
  runs the store kept itself.
- `HistoryBranch.record`, after a gate on the base branch: each run the command recorded is
  added to the branch as one file, with retention by count per pipeline (`contents: write`;
  concurrent writers rebased and retried by `ci/databranch.py`).

Neither can fail a gate: every outcome, the missing branch and the refused push included, is
a note for the log and the report, which says what was done or what is missing and the fix.
May touch: git (through `ci/databranch.py`), the backend (through its client).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from driftgate.ci.databranch import DataBranch
from driftgate.experiments.client import ExperimentsClient
from driftgate.experiments.compact import (
    CompactError,
    CompactRun,
    decode_run,
    encode_run,
    path_commit,
    pipeline_folder,
    run_path,
    to_drop,
)
from driftgate.experiments.models import ExperimentData, ExperimentInfo
from driftgate.experiments.transfer import import_run

_COMMIT12 = 12  # as a run file's name gives it (`run_path`)


@dataclass(frozen=True)
class HistoryBranch:
    branch: DataBranch
    pipeline: str
    keep: int
    """Runs of the pipeline kept (`[history] keep`)."""

    @property
    def name(self) -> str:
        return self.branch.branch

    def restore(
        self, client: ExperimentsClient, ancestors: Sequence[str], wanted: int
    ) -> tuple[str, ...]:
        """Create in the backend the newest `wanted` runs of the pipeline at `ancestors`
        (nearest first) that the branch holds; the notes say what was read and added."""
        if not ancestors or wanted <= 0:
            return ()
        rank = {sha[:_COMMIT12]: i for i, sha in reversed(list(enumerate(ancestors)))}
        read = self.branch.read(
            pipeline_folder(self.pipeline), select=lambda path: path_commit(path) in rank
        )
        if not read.ok:
            return (
                *read.notes,
                "baselines come only from the runs the embedded store holds "
                "(restored by actions/cache, when it was)",
            )
        runs: list[CompactRun] = []
        notes: list[str] = []
        for path, blob in sorted(read.files.items()):
            try:
                runs.append(decode_run(blob))
            except CompactError as exc:
                notes.append(f"{self.name}: {path} is not a readable run, skipped: {exc}")
        # Nearest commit first, then newest first at each: the runs a baseline would pool.
        runs.sort(key=lambda r: r.recorded_at or "", reverse=True)
        runs.sort(key=lambda r: rank.get((r.commit or "")[:_COMMIT12], len(rank)))
        chosen = runs[:wanted]
        if not chosen:
            where = f"at the merge-base or its {len(ancestors) - 1} ancestors"
            return (
                *notes,
                f"{self.name} holds no run of {self.pipeline} {where} "
                f"({read.notes[0] if read.notes else 'nothing read'})",
            )
        added, present = 0, 0
        # Oldest first, so that the store's own order (its creation times) is the runs'.
        for run in reversed(chosen):
            done = import_run(client, run, now_ns=time.time_ns())
            if done.skipped:
                present += 1
            else:
                added += 1
        there = f", {present} already in the store" if present else ""
        return (
            *notes,
            f"history: {_runs(len(chosen))} of {self.pipeline} at the merge-base and its "
            f"ancestors read from the {self.name} branch, {added} added to the embedded "
            f"store{there}",
        )

    def record(
        self,
        runs: Sequence[tuple[ExperimentInfo, ExperimentData]],
        *,
        commit: str,
        branch: str | None,
    ) -> tuple[str, ...]:
        """Add `runs` (recorded at `commit` on the base branch `branch`) to the data branch,
        and drop all but the newest `keep` of each pipeline."""
        if not runs:
            return ()
        files: dict[str, bytes] = {}
        notes: list[str] = []
        for info, data in runs:
            try:
                blob = encode_run(info, data, pipeline=self.pipeline, commit=commit, branch=branch)
            except CompactError as exc:
                notes.append(f"{info.name or info.id} is not kept in {self.name}: {exc}")
                continue
            files[run_path(self.pipeline, info.created_at, commit, info.id)] = blob
        if not files:
            return tuple(notes)
        wrote = self.branch.write(
            files,
            message=f"driftgate: {_runs(len(files))} of {self.pipeline} at {commit[:12]}",
            # The format's own retention: only run files of its layout are ever dropped.
            retention=lambda paths: to_drop(paths, self.keep),
        )
        if not wrote.ok:
            return (*notes, *wrote.notes)
        tries = f" ({wrote.attempts} attempts: other runs pushed meanwhile)"
        dropped = f"; {len(wrote.removed)} older beyond the newest {self.keep} removed"
        return (
            *notes,
            f"history: {_runs(len(wrote.added))} of {self.pipeline} kept in the {self.name} "
            f"branch at {(wrote.commit or '')[:12]}"
            + (tries if wrote.attempts > 1 else "")
            + (dropped if wrote.removed else ""),
        )


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"
