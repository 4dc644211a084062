"""Which experiments a command recorded, and waiting until each has finished.

In order: the ids in Datadog experiment URLs the command printed (ddtrace's
`experiment.url`); else the experiments created since the command started whose metadata
names the head commit (tag `git.commit.sha:<sha>`, or key `commit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from driftgate.errors import BackendError
from driftgate.experiments.models import ExperimentInfo
from driftgate.llmobs import FINISHED

if TYPE_CHECKING:
    from driftgate.experiments.client import ExperimentsClient

# Clocks of the CI machine and of the backend disagree a little; a run is "since the command
# started" within this margin.
CLOCK_SKEW = timedelta(minutes=2)


class DiscoveryError(BackendError):
    """The command's experiments could not be found or did not finish (exit code 3)."""


def for_commit(client: ExperimentsClient, head_sha: str) -> dict[str, ExperimentInfo]:
    """Experiments whose metadata names `head_sha`: tag `git.commit.sha` or key `commit`."""
    found: dict[str, ExperimentInfo] = {}
    for metadata in ({"tags": [f"git.commit.sha:{head_sha}"]}, {"commit": head_sha}):
        for info in client.list_experiments(metadata=metadata, limit=5000):
            found.setdefault(info.id, info)
    return found


def find_experiments(
    client: ExperimentsClient,
    printed_ids: Sequence[str],
    head_sha: str | None,
    started_at: datetime,
    existing: Set[str] = frozenset(),
    *,
    skew: timedelta = CLOCK_SKEW,
) -> tuple[list[ExperimentInfo], str]:
    """The experiments to gate, and how they were found. `existing` are the commit's
    experiments from before the command started (a re-run of the same commit): never its.
    `skew`: how far the backend's clock may be behind this machine's."""
    if printed_ids:
        found = client.list_experiments(ids=list(printed_ids), limit=len(printed_ids))
        by_id = {e.id: e for e in found}
        missing = [i for i in printed_ids if i not in by_id]
        if missing:
            raise DiscoveryError(
                f"the command printed experiment {missing[0]}, which "
                f"{client.backend.describe()} does not know; was it recorded elsewhere "
                "(check DD_SITE, or DD_LLMOBS_OVERRIDE_ORIGIN)?"
            )
        return [by_id[i] for i in printed_ids], "the experiment URLs the command printed"
    if not head_sha:
        return [], "no experiment URL was printed and the head commit is unknown"
    since = started_at - skew
    seen = [
        info
        for info in for_commit(client, head_sha).values()
        if info.id not in existing
        and ((created := _parse_time(info.created_at)) is None or created >= since)
    ]
    # Oldest first: the order the command recorded them in.
    ordered = sorted(seen, key=lambda e: e.created_at or "")
    return ordered, f"experiments created since the command started for commit {head_sha[:12]}"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class WaitPolicy:
    timeout_s: float = 600.0
    first_delay_s: float = 0.05
    """The first poll comes this soon (then twice as late each time): a run that finishes
    as the command ends is seen at once, and one that takes minutes costs a few requests
    more."""
    max_delay_s: float = 15.0
    aggregate_s: float = 60.0
    """How long, past a terminal status, to wait for the backend's `aggregate_data` (within
    `timeout_s`). Nothing promises when Datadog aggregates, and the gate compares from the
    events, so the wait is bounded; the aggregate's arrival is only a sign that Datadog has
    taken in the run's spans."""


def is_finished(info: ExperimentInfo) -> bool:
    """A terminal status: `completed`, `failed` (ddtrace's word for a run where a record or
    an evaluator raised: it holds data to compare) or `interrupted` (never gets more data).
    `aggregate_data` is not waited for here: Datadog may add it late, or never."""
    return info.status in FINISHED


def _aggregating(info: ExperimentInfo) -> bool:
    return info.status in ("completed", "failed") and info.aggregate_data is None


def wait_until_finished(
    client: ExperimentsClient,
    experiments: Sequence[ExperimentInfo],
    policy: WaitPolicy,
    progress: Callable[[str], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    notice: Callable[[str], None] = lambda _: None,
) -> list[ExperimentInfo]:
    """Poll, with backoff, until every experiment has a terminal status (one list request
    per poll), then a bounded while for the backend's aggregates; `notice` says which were
    compared without one."""
    current = {e.id: e for e in experiments}
    deadline = clock() + policy.timeout_s
    delay = policy.first_delay_s

    def poll(pending: list[str], remaining: float) -> None:
        nonlocal delay
        sleep(min(delay, max(remaining, 0.0)))
        delay = min(delay * 2, policy.max_delay_s)
        for info in client.list_experiments(ids=pending, limit=len(pending)):
            current[info.id] = info

    while True:
        pending = [i for i, e in current.items() if not is_finished(e)]
        if not pending:
            break
        remaining = deadline - clock()
        if remaining <= 0:
            states = ", ".join(f"{i} is {current[i].status or 'unknown'}" for i in pending)
            raise DiscoveryError(
                f"experiments did not finish within {policy.timeout_s:.0f} s ({states}); "
                "raise the wait limit (--wait / the wait-minutes input) if they are still "
                "running, or look for a crashed script"
            )
        progress(
            f"waiting for {len(pending)} experiment{'s' if len(pending) > 1 else ''} to "
            f"finish ({', '.join(f'{current[i].name or i}: {current[i].status}' for i in pending)})"
        )
        poll(pending, remaining)
    started = clock()
    aggregate_deadline = min(deadline, started + policy.aggregate_s)
    while pending := [i for i, e in current.items() if _aggregating(e)]:
        remaining = aggregate_deadline - clock()
        if remaining <= 0:
            waited = clock() - started
            for i in pending:
                notice(
                    f"{current[i].name or i} finished ({current[i].status}) but "
                    f"{client.backend.describe()} had not aggregated it after {waited:.0f} s "
                    "more: compared from its events without waiting longer (the gate never "
                    "needs the aggregate; spans still being taken in would be missing, so "
                    "re-run the job if its record counts look short)"
                )
            break
        progress(
            f"waiting up to {policy.aggregate_s:.0f} s for {client.backend.describe()} to "
            f"aggregate {len(pending)} finished experiment{'s' if len(pending) > 1 else ''}"
        )
        poll(pending, remaining)
    return [current[e.id] for e in experiments]
