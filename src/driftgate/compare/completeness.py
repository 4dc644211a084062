"""Whether each run of an experiment has a task span for every record of its dataset, and
what a shortfall does to the verdict. Pure.

ddtrace sends task spans in batches and gives up on a batch when the backend stays
unreachable, yet marks the experiment `completed` and exits 0: a run can then hold 220 of
300 records, and a comparison over what is left looks as sound as a full one. The edge
(`experiments/client.py`) counts the records of the dataset version the experiment ran on;
here each run's task spans are held against that count. A shortfall is a flag in the report
at the configured level (`incomplete`: `warn` by default, `fail`, or `off`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from driftgate.compare.schema import ExperimentRef, RunRecords
from driftgate.config import Level
from driftgate.experiments.models import ExperimentData
from driftgate.verdict import Verdict

__all__ = ["flags", "judge", "runs_recorded", "shortfall", "shortfalls"]


def runs_recorded(data: ExperimentData) -> list[RunRecords]:
    """The task spans of each run read: the one run selected, else every run the
    experiment was made with (a run that lost all its spans counts, with 0)."""
    found = dict(zip(*np.unique(data.run_iteration, return_counts=True), strict=True))
    if data.run is not None:
        runs = [data.run]
    else:
        last = max([data.info.run_count or 1, *(int(r) for r in found)])
        runs = list(range(1, last + 1))
    return [RunRecords(run=run, records=int(found.get(run, 0))) for run in runs]


def shortfalls(ref: ExperimentRef | None) -> list[RunRecords]:
    """The runs of `ref` with fewer task spans than its dataset version has records."""
    if ref is None or ref.dataset_records is None:
        return []
    return [r for r in ref.records_per_run if r.records < ref.dataset_records]


def shortfall(ref: ExperimentRef | None) -> str:
    """`run 2: 284 of 300 records, run 3: 0 of 300 records`; empty when complete."""
    if ref is None:
        return ""
    return ", ".join(
        f"run {r.run}: {r.records} of {ref.dataset_records} records" for r in shortfalls(ref)
    )


def _sides(
    candidate: ExperimentRef | None, baseline: ExperimentRef | None
) -> Iterable[tuple[str, ExperimentRef]]:
    for side, ref in (("candidate", candidate), ("baseline", baseline)):
        if ref is not None and shortfalls(ref):
            yield side, ref


def flags(
    candidate: ExperimentRef | None, baseline: ExperimentRef | None, level: Level
) -> list[str]:
    """One flag per incomplete side, saying which runs lack how many records and what to
    do; none at level `off`."""
    if level == "off":
        return []
    found = []
    for side, ref in _sides(candidate, baseline):
        version = f" version {ref.dataset_version}" if ref.dataset_version is not None else ""
        consequence = (
            'the gate fails (incomplete = "fail")'
            if level == "fail"
            else "its figures cover only the records it has"
        )
        found.append(
            f"the {side} is incomplete: {shortfall(ref)} of its dataset{version}; task spans "
            "were lost (ddtrace gives up when the backend is unreachable and still exits 0), "
            f"so {consequence}: run the experiment again"
        )
    return found


def judge(
    verdict: Verdict,
    candidate: ExperimentRef | None,
    baseline: ExperimentRef | None,
    level: Level,
) -> Verdict:
    """The verdict once an incomplete side counts: at `fail` the gate fails; at `warn` a
    pass becomes a warning (a report without a baseline keeps its verdict and the flag);
    an error stays an error."""
    if level == "off" or verdict == "error" or not any(_sides(candidate, baseline)):
        return verdict
    if level == "fail":
        return "fail"
    return "warn" if verdict == "pass" else verdict
