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

from driftgate.errors import BackendError
from driftgate.experiments.client import ExperimentsClient
from driftgate.experiments.models import ExperimentInfo
from driftgate.llmobs import FINISHED

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
) -> tuple[list[ExperimentInfo], str]:
    """The experiments to gate, and how they were found. `existing` are the commit's
    experiments from before the command started (a re-run of the same commit): never its."""
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
    since = started_at - CLOCK_SKEW
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
    first_delay_s: float = 0.5
    max_delay_s: float = 15.0


def is_finished(info: ExperimentInfo) -> bool:
    """Finished and aggregated. ddtrace reports `failed` when any record raised: such a run
    holds data to compare, so it counts as finished once aggregated; `interrupted` never
    gets more data."""
    if info.status == "interrupted":
        return True
    return info.status in FINISHED and info.aggregate_data is not None


def wait_until_finished(
    client: ExperimentsClient,
    experiments: Sequence[ExperimentInfo],
    policy: WaitPolicy,
    progress: Callable[[str], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[ExperimentInfo]:
    """Poll, with backoff, until every experiment is finished; one list request per poll."""
    current = {e.id: e for e in experiments}
    deadline = clock() + policy.timeout_s
    delay = policy.first_delay_s
    while True:
        pending = [i for i, e in current.items() if not is_finished(e)]
        if not pending:
            return [current[e.id] for e in experiments]
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
        sleep(min(delay, max(remaining, 0.0)))
        delay = min(delay * 2, policy.max_delay_s)
        for info in client.list_experiments(ids=pending, limit=len(pending)):
            current[info.id] = info
