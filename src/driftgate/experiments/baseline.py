"""Which run a candidate is compared with, and why.

First that yields a finished run wins: an explicit id; the merge-base commit and its
first-parent ancestors matched against the newest runs of the same logical experiment (one
list request); the newest run recorded on the base branch. "The same logical experiment"
is the same `experiment` value, or, for scripts that name every run `<pipeline>-<run-id>`
themselves, the same pipeline (tag `ci.pipeline:<pipeline>`, metadata key `pipeline`, or
that name prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from driftgate.errors import UsageError
from driftgate.experiments.client import ExperimentsClient, NotFoundError
from driftgate.experiments.models import ExperimentInfo

MAX_LISTED = 5000


@dataclass(frozen=True)
class BaselineChoice:
    experiment: ExperimentInfo | None
    reason: str
    run: int | None = None  # a single run chosen with ID@N


class RefError(UsageError, ValueError):
    """An experiment reference that cannot be read (a usage error)."""


def split_run(ref: str) -> tuple[str, int | None]:
    """`ID@3` names run 3 of experiment ID; a plain ID names all its runs."""
    ident, sep, run = ref.strip().partition("@")
    if not sep:
        return ident, None
    if not run.isdigit() or int(run) < 1:
        raise RefError(f"{ref!r}: the run after @ must be a number from 1, as in {ident}@2")
    return ident, int(run)


def check_explicit(
    client: ExperimentsClient, ref: str, where: str | None = None
) -> tuple[ExperimentInfo, int | None]:
    """The experiment (and run) an explicit baseline `ref` names, read before anything runs:
    a wrong one must cost a second, not the experiment's run. `RefError` (exit 2) when `ref`
    is malformed, names no experiment in the backend (`where`, for the message), or a run
    the experiment does not have."""
    ident, run = split_run(ref)
    if not ident:
        raise RefError(f"{ref!r} names no experiment: give its id, as in ID or ID@2")
    try:
        info = client.get_experiment(ident)
    except NotFoundError:
        raise RefError(
            f"no experiment {ident!r} in {where or client.backend.describe()}: give the id of "
            "a recorded run (the report shows it, and `driftgate compare` takes it), or "
            "leave the baseline out to resolve it from the base branch"
        ) from None
    runs = info.run_count
    if run is not None and runs and run > runs:
        raise RefError(
            f"experiment {info.name or ident!r} has no run {run}: it has {runs} "
            f"run{'s' if runs != 1 else ''} (use @1 to @{runs}, or no @ for all of them)"
        )
    return info, run


def _per_run_named(candidate: ExperimentInfo, pipeline: str | None) -> bool:
    return bool(pipeline) and candidate.experiment.startswith(f"{pipeline}-")


def same_logical(candidate: ExperimentInfo, other: ExperimentInfo, pipeline: str | None) -> bool:
    if candidate.project_id and other.project_id and candidate.project_id != other.project_id:
        return False
    if other.experiment == candidate.experiment:
        return True
    if not _per_run_named(candidate, pipeline):
        return False
    return (
        other.tag("ci.pipeline") == pipeline
        or (other.metadata or {}).get("pipeline") == pipeline
        or other.experiment.startswith(f"{pipeline}-")
    )


def usable(info: ExperimentInfo) -> bool:
    """A run that holds data to compare with: finished, not interrupted. Not whether the
    backend has aggregated it: Datadog may add `aggregate_data` late or never, and the
    comparison reads the events."""
    return info.status in ("completed", "failed")


def history(
    client: ExperimentsClient, candidate: ExperimentInfo, pipeline: str | None
) -> list[ExperimentInfo]:
    """Runs of the candidate's logical experiment, newest first (one or two requests)."""
    runs: dict[str, ExperimentInfo] = {}
    queries: list[dict[str, Any]] = [{"experiment": candidate.experiment}]
    if _per_run_named(candidate, pipeline):
        queries = [
            {"metadata": {"tags": [f"ci.pipeline:{pipeline}"]}},
            {"metadata": {"pipeline": pipeline}},
        ]
    for query in queries:
        for info in client.list_experiments(
            project_id=candidate.project_id or None, limit=MAX_LISTED, **query
        ):
            if same_logical(candidate, info, pipeline):
                runs.setdefault(info.id, info)
    return sorted(runs.values(), key=lambda e: e.created_at or "", reverse=True)


def resolve(
    client: ExperimentsClient,
    candidate: ExperimentInfo,
    *,
    explicit: str | None = None,
    ancestors: Sequence[str] = (),
    base_branch: str | None = None,
    pipeline: str | None = None,
    exclude: Sequence[str] = (),
    on_base_branch: bool = False,
) -> BaselineChoice:
    """`ancestors` is the merge-base and its first-parent ancestors, newest first; on the
    base branch itself (`on_base_branch`), the head's ancestors, the head excluded."""
    if explicit:
        ident, run = split_run(explicit)
        chosen = client.get_experiment(ident)
        return BaselineChoice(chosen, f"chosen explicitly ({explicit})", run)
    skip = {candidate.id, *exclude}
    runs = [r for r in history(client, candidate, pipeline) if r.id not in skip and usable(r)]
    newest_at: dict[str, ExperimentInfo] = {}
    for run_info in runs:
        if run_info.commit:
            newest_at.setdefault(run_info.commit, run_info)
    for distance, sha in enumerate(ancestors):
        found = newest_at.get(sha) or _by_prefix(newest_at, sha)
        if found is not None:
            on = f" on {base_branch}" if base_branch else ""
            if on_base_branch:
                back = distance + 1
                where = "the previous commit" if back == 1 else f"{back} commits before the head"
            elif distance == 0:
                where = "the merge-base"
            else:
                where = f"{distance} commit{'s' if distance > 1 else ''} before the merge-base"
            return BaselineChoice(found, f"the newest run at {sha[:12]}, {where}{on}")
    if base_branch:
        for run_info in runs:
            if (
                run_info.tag("git.branch") == base_branch
                or (run_info.metadata or {}).get("branch") == base_branch
            ):
                reason = f"the newest run recorded on {base_branch}"
                if ancestors:
                    reason += " (none at the merge-base or its ancestors)"
                return BaselineChoice(run_info, reason)
    looked = (
        f"{len(ancestors)} commits of {base_branch or 'the base branch'}"
        if ancestors
        else "no commit history"
    )
    return BaselineChoice(
        None,
        f"no finished run of {candidate.experiment!r} found ({looked}, "
        f"{len(runs)} earlier runs in all); record one on the base branch first",
    )


def _by_prefix(newest_at: dict[str, ExperimentInfo], sha: str) -> ExperimentInfo | None:
    # Some scripts record abbreviated commits; match them against the full sha.
    for commit, info in newest_at.items():
        if len(commit) >= 7 and sha.startswith(commit):
            return info
    return None
