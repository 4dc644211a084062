"""Which run a candidate is compared with, and why; and, when there is none, why not.

First that yields a finished, clean run wins: an explicit reference (an id, or a run's or an
experiment's name when only one run bears it); the merge-base commit and its first-parent
ancestors matched against the newest runs of the same logical experiment; the newest run
recorded on the base branch.

"The same logical experiment" is the same `experiment` value (ddtrace's logical name, shared
by every run of `LLMObs.experiment(name=...)`) in the same project. For scripts that name
every run `<pipeline>-<run-id>` themselves (`DRIFTGATE_EXPERIMENT_NAME`), every run's
`experiment` differs, so the pipeline's other runs are candidates too: runs named the same
way, and runs tagged `ci.pipeline:<pipeline>` or with metadata `pipeline`. These only add
candidates; nothing is ever guessed from a name's prefix (`--pipeline support-bot` does not
make `support-bot-eval` a per-run name), and a pipeline that records several experiments
under fixed names keeps them apart.

Runs recorded from a working tree with uncommitted changes (`git.dirty:true`) are never
chosen unless named explicitly. When no run qualifies, `BaselineChoice.considered` lists the
runs that were looked at and why each was passed over, and the reason says what to change.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftgate.errors import UsageError
from driftgate.experiments.backend import NotFoundError
from driftgate.experiments.models import ConsideredRun, ExperimentInfo

if TYPE_CHECKING:
    from driftgate.experiments.client import ExperimentsClient

MAX_LISTED = 5000
MAX_CONSIDERED = 10
"""Runs listed in a `no_baseline` explanation (the newest); the reason counts them all."""
MAX_NEAR = 3
NEAR_CUTOFF = 0.6  # difflib's own default
# A run id as driftgate makes them (ci/context.py): GitHub's numeric run id, or a local run's
# `local-<UTC time to the microsecond>`; `-<attempt>` on a re-run.
_RUN_ID = r"(?:\d+|local-\d{8}T\d{6}\.\d{6}Z)(?:-\d+)?"
_LOCAL_PER_RUN = re.compile(r"(.+)-local-\d{8}T\d{6}\.\d{6}Z(?:-\d+)?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SHOWN_IDS = 10


@dataclass(frozen=True)
class BaselineChoice:
    experiment: ExperimentInfo | None
    reason: str
    run: int | None = None  # a single run chosen with ID@N
    considered: tuple[ConsideredRun, ...] = ()
    """Without a baseline: the runs looked at (newest first) and why none qualified."""
    older: tuple[ExperimentInfo, ...] = ()
    """With `resolve(pool=K)`: up to K - 1 earlier base-branch runs to pool with
    `experiment` (the same logical experiment and dataset, at its commit or its first-parent
    ancestors), nearest first. Empty for a baseline that is one run by nature: named
    explicitly, or the base branch's newest run found without the commit history."""


class RefError(UsageError, ValueError):
    """An experiment reference that cannot be read or is ambiguous (a usage error)."""


def split_run(ref: str) -> tuple[str, int | None]:
    """`ID@3` names run 3 of experiment ID; a plain ID names all its runs."""
    ident, sep, run = ref.strip().partition("@")
    if not sep:
        return ident, None
    if not run.isdigit() or int(run) < 1:
        raise RefError(f"{ref!r}: the run after @ must be a number from 1, as in {ident}@2")
    return ident, int(run)


def lookup(client: ExperimentsClient, ref: str) -> tuple[ExperimentInfo, int | None]:
    """The run `ref` names (`ID`, `ID@N`), where ID may also be a run's name (the report
    shows it) or an experiment's logical name, when exactly one run bears it. Several:
    `RefError` listing their ids. None: the backend's not-found error."""
    ident, run = split_run(ref)
    by_id = _UUID.fullmatch(ident) is not None
    if by_id:
        found = client.list_experiments(ids=[ident], limit=1)
        if found:
            return found[0], run
    for key in ("name", "experiment"):
        query: dict[str, Any] = {key: ident}
        named = client.list_experiments(limit=_SHOWN_IDS + 1, **query)
        if len(named) == 1:
            return named[0], run
        if named:
            ids = ", ".join(
                f"{e.id} ({e.name or e.experiment}, {e.created_at or 'undated'})"
                for e in named[:_SHOWN_IDS]
            )
            more = " and more" if len(named) > _SHOWN_IDS else ""
            what = "runs are named" if key == "name" else "runs belong to the experiment"
            raise RefError(
                f"{ident!r} is ambiguous: {len(named)}{'+' if more else ''} {what} {ident!r}: "
                f"{ids}{more}; pass one of these ids"
            )
    if by_id:
        return client.get_experiment(ident), run  # raises the not-found error
    try:
        return client.get_experiment(ident), run
    except NotFoundError:
        raise NotFoundError(
            f"no experiment has the id or name {ident!r} in {client.backend.describe()}; "
            "check it (and DD_SITE, or DD_LLMOBS_OVERRIDE_ORIGIN for the embedded store)"
        ) from None


def per_run_pipeline(info: ExperimentInfo, pipeline: str | None = None) -> str | None:
    """The pipeline whose per-run name (`<pipeline>-<run-id>`) `info.experiment` is: checked
    against `pipeline` and the run's own pipeline tag and metadata; a local run's id is
    recognisable on its own. None for a fixed name (most scripts)."""
    meta = (info.metadata or {}).get("pipeline")
    for name in (pipeline, info.tag("ci.pipeline"), meta if isinstance(meta, str) else None):
        if name and re.fullmatch(re.escape(name) + "-" + _RUN_ID, info.experiment):
            return name
    local = _LOCAL_PER_RUN.fullmatch(info.experiment)
    return local.group(1) if local else None


def _pipelines(info: ExperimentInfo) -> set[str]:
    meta = (info.metadata or {}).get("pipeline")
    return {p for p in (info.tag("ci.pipeline"), meta) if isinstance(p, str) and p}


def _same_project(candidate: ExperimentInfo, other: ExperimentInfo) -> bool:
    return not (candidate.project_id and other.project_id) or (
        candidate.project_id == other.project_id
    )


def check_explicit(
    client: ExperimentsClient, ref: str, where: str | None = None
) -> tuple[ExperimentInfo, int | None]:
    """The experiment (and run) an explicit baseline `ref` names, read before anything runs:
    a wrong one must cost a second, not the experiment's run. `ref` is read as `lookup` reads
    it (an id, or an unambiguous name). `RefError` (exit 2) when `ref` is malformed, names no
    experiment in the backend (`where`, for the message) or several, or a run the experiment
    does not have."""
    ident, _ = split_run(ref)
    if not ident:
        raise RefError(f"{ref!r} names no experiment: give its id, as in ID or ID@2")
    try:
        info, run = lookup(client, ref)
    except NotFoundError:
        raise RefError(
            f"no experiment {ident!r} in {where or client.backend.describe()}: give the id "
            "or name of a recorded run (the report shows both, and `driftgate compare` takes "
            "either), or leave the baseline out to resolve it from the base branch"
        ) from None
    runs = info.run_count
    if run is not None and runs and run > runs:
        raise RefError(
            f"experiment {info.name or ident!r} has no run {run}: it has {runs} "
            f"run{'s' if runs != 1 else ''} (use @1 to @{runs}, or no @ for all of them)"
        )
    return info, run


def same_logical(candidate: ExperimentInfo, other: ExperimentInfo, pipeline: str | None) -> bool:
    if not _same_project(candidate, other):
        return False
    if other.experiment == candidate.experiment:
        return True
    named_per_run = per_run_pipeline(candidate, pipeline)
    if named_per_run is None:
        return False
    return per_run_pipeline(other, named_per_run) == named_per_run or (
        named_per_run in _pipelines(other)
    )


def usable(info: ExperimentInfo) -> bool:
    """A run that holds data to compare with: finished, not interrupted. Not whether the
    backend has aggregated it: Datadog may add `aggregate_data` late or never, and the
    comparison reads the events."""
    return info.status in ("completed", "failed")


def _unusable(info: ExperimentInfo) -> str:
    if info.status == "interrupted":
        return "interrupted before it finished"
    if info.status in ("completed", "failed"):
        return f"{info.status}, but its results are not aggregated yet"
    return f"not finished ({info.status or 'no status'})"


def history(
    client: ExperimentsClient, candidate: ExperimentInfo, pipeline: str | None
) -> list[ExperimentInfo]:
    """Runs of the candidate's logical experiment, newest first (one request; four for a
    per-run-named candidate, whose untagged runs only a listing of the project finds)."""
    runs: dict[str, ExperimentInfo] = {}
    queries: list[dict[str, Any]] = [{"experiment": candidate.experiment}]
    named_per_run = per_run_pipeline(candidate, pipeline)
    if named_per_run:
        queries += [
            {"metadata": {"tags": [f"ci.pipeline:{named_per_run}"]}},
            {"metadata": {"pipeline": named_per_run}},
            {},
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
    pool: int = 1,
) -> BaselineChoice:
    """`ancestors` is the merge-base and its first-parent ancestors, newest first; on the
    base branch itself (`on_base_branch`), the head's ancestors, the head excluded. With
    `pool` > 1, the choice also names the earlier runs to pool with it (`older`)."""
    if explicit:
        chosen, run = lookup(client, explicit)
        reason = f"chosen explicitly ({explicit})"
        if chosen.dirty:
            reason += (
                "; it was recorded from a working tree with uncommitted changes "
                "(git.dirty), so it is used only because it was named"
            )
        return BaselineChoice(chosen, reason, run)
    skip = {candidate.id, *exclude}
    earlier = [r for r in history(client, candidate, pipeline) if r.id not in skip]
    passed_over: list[ConsideredRun] = []
    runs = []
    for info in earlier:
        if not usable(info):
            passed_over.append(ConsideredRun.of(info, _unusable(info)))
        elif info.dirty:
            why = "recorded from a working tree with uncommitted changes (git.dirty)"
            passed_over.append(ConsideredRun.of(info, why))
        else:
            runs.append(info)
    newest_at: dict[str, ExperimentInfo] = {}
    for run_info in runs:
        if run_info.commit:
            newest_at.setdefault(run_info.commit, run_info)
    for distance, sha in enumerate(ancestors):
        found = newest_at.get(sha) or _by_prefix(newest_at, sha)
        if found is not None:
            older = _older(runs, found, ancestors[distance:], pool - 1)
            on = f" on {base_branch}" if base_branch else ""
            if on_base_branch:
                back = distance + 1
                where = "the previous commit" if back == 1 else f"{back} commits before the head"
            elif distance == 0:
                where = "the merge-base"
            else:
                where = f"{distance} commit{'s' if distance > 1 else ''} before the merge-base"
            return BaselineChoice(found, f"the newest run at {sha[:12]}, {where}{on}", older=older)
    search = _Search(candidate, ancestors, base_branch, on_base_branch)
    if base_branch:
        # A run at the candidate's own commit is a re-run, never its baseline (as above).
        for run_info in runs:
            if run_info.branch == base_branch and not search.at_head(run_info):
                reason = f"the newest run recorded on {base_branch}"
                if ancestors:
                    reason += " (none at the merge-base or its ancestors)"
                return BaselineChoice(run_info, reason)
    for run_info in runs:
        passed_over.append(ConsideredRun.of(run_info, search.off_history(run_info)))
    passed_over.sort(key=lambda c: c.created_at or "", reverse=True)
    if passed_over:
        reason = search.none_qualified(passed_over)
    else:
        reason, passed_over = _first_run(client, candidate, search)
    if candidate.dirty:
        reason += (
            "; this run was recorded from uncommitted changes (git.dirty), so it will not be "
            "a baseline either: commit them and run again"
        )
    return BaselineChoice(None, reason, considered=tuple(passed_over[:MAX_CONSIDERED]))


def _older(
    runs: Sequence[ExperimentInfo],
    chosen: ExperimentInfo,
    ancestors: Sequence[str],
    count: int,
) -> tuple[ExperimentInfo, ...]:
    """Up to `count` runs to pool with `chosen`: the other runs at its commit, then at each
    older ancestor in turn, newest first at each; only runs of the same dataset (a run of
    another dataset measures other records). Whether the runs agree (the same config, no
    shift) is the comparison's to judge: it sees the data (`compare_pooled`)."""
    if count <= 0 or chosen.commit is None:
        return ()
    by_commit: dict[str, list[ExperimentInfo]] = {}
    for info in runs:  # newest first
        # A copy from the data branch is on a copy of the dataset (`imported`).
        same = info.dataset_id == chosen.dataset_id or info.imported or chosen.imported
        if info.commit and info.id != chosen.id and same:
            by_commit.setdefault(info.commit, []).append(info)
    found: list[ExperimentInfo] = []
    for sha in ancestors:
        # Some scripts record abbreviated commits (as `_by_prefix` allows).
        found += by_commit.get(sha) or next(
            (at for c, at in by_commit.items() if len(c) >= 7 and sha.startswith(c)), []
        )
        if len(found) >= count:
            break
    return tuple(found[:count])


@dataclass(frozen=True)
class _Search:
    """What the search looked through, for the words of a `no_baseline`."""

    candidate: ExperimentInfo
    ancestors: Sequence[str]
    base_branch: str | None
    on_base_branch: bool

    @property
    def base(self) -> str:
        return self.base_branch or "the base branch"

    @property
    def looked(self) -> str:
        if not self.ancestors and self.on_base_branch:
            # The first commit, or a history that could not be read (a note says which).
            return f"no commit of {self.base} before this one to search"
        if not self.ancestors:
            return f"no commit history was available, so only runs recorded on {self.base} count"
        first = self.ancestors[0][:12]
        if self.on_base_branch:
            return f"searched the {len(self.ancestors)} commits of {self.base} before this one"
        return f"searched the merge-base {first} and {len(self.ancestors) - 1} earlier commits"

    def at_head(self, info: ExperimentInfo) -> bool:
        head, commit = self.candidate.commit, info.commit
        return bool(head and commit and (head.startswith(commit) or commit.startswith(head)))

    def off_history(self, info: ExperimentInfo) -> str:
        commit = info.commit
        if not commit:
            return "no commit recorded (neither tag git.commit.sha nor metadata commit)"
        if self.at_head(info):
            return f"at this very commit {commit[:12]}: a commit is not its own baseline"
        on = f" on {info.branch}" if info.branch else ""
        if not self.ancestors:
            return f"at {commit[:12]}{on}, not recorded on {self.base}"
        return f"at {commit[:12]}{on}, not an ancestor of the merge-base on {self.base}"

    def none_qualified(self, passed_over: Sequence[ConsideredRun]) -> str:
        name = self.candidate.experiment
        counts = Counter(_kind(c.why) for c in passed_over)
        parts = [f"{n} {what}" for what, n in counts.most_common()]
        verb = "exists" if len(passed_over) == 1 else "exist"
        head = (
            f"{_runs(len(passed_over))} of {name!r} {verb} but none qualified "
            f"({'; '.join(parts)}; {self.looked})"
        )
        top = counts.most_common(1)[0][0]
        if top == _AT_HEAD:
            sha = (self.candidate.commit or "")[:12]
            fix = (
                f"the earlier runs at {sha} are this commit's own: the baseline is a run at an "
                f"earlier commit of {self.base}, and none has one yet; the next commit on "
                f"{self.base} will compare with this run"
            )
        elif top == _DIRTY:
            fix = (
                f"commit your changes and run again on {self.base} to record a clean baseline, "
                "or name a run with --baseline to use it anyway"
            )
        elif top == _UNFINISHED:
            fix = "wait until they finish, or look for a crashed script, then run again"
        elif top == _NO_COMMIT:
            fix = (
                "let ddtrace tag the commit (driftgate sets DD_GIT_COMMIT_SHA for it) or pass "
                "DRIFTGATE_METADATA as the experiment's metadata"
            )
        else:
            fix = (
                f"record a run on {self.base} (run the gate there, or merge first), or name one "
                "with --baseline"
            )
        return f"{head}: {fix}"


_AT_HEAD, _DIRTY, _UNFINISHED, _NO_COMMIT, _ELSEWHERE = (
    "at this very commit",
    "recorded from a dirty working tree",
    "not finished",
    "without a commit",
    "on other branches or commits",
)


def _kind(why: str) -> str:
    if why.startswith("at this very commit"):
        return _AT_HEAD
    if "uncommitted changes" in why:
        return _DIRTY
    if why.startswith(("not finished", "interrupted")) or "not aggregated" in why:
        return _UNFINISHED
    if why.startswith("no commit recorded"):
        return _NO_COMMIT
    if why.startswith("in another project"):
        return "in another project"
    return _ELSEWHERE


def _runs(count: int) -> str:
    return f"{count} other run{'' if count == 1 else 's'}"


def _first_run(
    client: ExperimentsClient, candidate: ExperimentInfo, search: _Search
) -> tuple[str, list[ConsideredRun]]:
    """No other run of the experiment in its project: say whether it exists elsewhere
    (another project) or under a near name, else that this is its first run."""
    name = candidate.experiment
    elsewhere = [
        ConsideredRun.of(info, f"in another project ({info.project_id})")
        for info in client.list_experiments(experiment=name, limit=_SHOWN_IDS)
        if info.id != candidate.id and not _same_project(candidate, info)
    ]
    if elsewhere:
        return (
            f"no other run of {name!r} in this project ({candidate.project_id}); "
            f"{len(elsewhere)} run(s) of it are in another project: a baseline comes from the "
            "same project, so record with the same project_name (LLMObs.enable), or name one "
            "with --baseline",
            elsewhere,
        )
    listed = client.list_experiments(project_id=candidate.project_id or None, limit=MAX_LISTED)
    by_name: dict[str, list[ExperimentInfo]] = {}
    for info in listed:
        if info.id != candidate.id and info.experiment != name:
            by_name.setdefault(info.experiment, []).append(info)
    near = difflib.get_close_matches(name, list(by_name), n=MAX_NEAR, cutoff=NEAR_CUTOFF)
    if near:
        considered = [
            ConsideredRun.of(info, f"another experiment name ({info.experiment!r})")
            for other in near
            for info in by_name[other][:3]
        ]
        names = ", ".join(f"{n!r} ({len(by_name[n])} run(s))" for n in near)
        return (
            f"no other run of {name!r}; runs of near names exist: {names}. If one of them is "
            f"this experiment under another name, give the script's LLMObs.experiment the same "
            "name as before, or compare with one once with --baseline",
            considered,
        )
    first = (
        f"this is the first run of {name!r} ({search.looked}); record one on {search.base}: "
        f"later runs compare with it"
    )
    if search.on_base_branch:
        first = (
            f"this is the first run of {name!r} ({search.looked}): the next commit on "
            f"{search.base} and pull requests from it compare with it"
        )
    return first, []


def _by_prefix(newest_at: dict[str, ExperimentInfo], sha: str) -> ExperimentInfo | None:
    # Some scripts record abbreviated commits; match them against the full sha.
    for commit, info in newest_at.items():
        if len(commit) >= 7 and sha.startswith(commit):
            return info
    return None
