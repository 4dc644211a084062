"""Which records changed: counts, ids, and the flipped records shown with their texts.

A record flips on a pass-rate metric (or the task error rate) when its run-averaged value
crosses one half: it mostly passed and now mostly fails, or the reverse; with one run, that
is pass -> fail. On a score metric a record counts as changed when its score moved by at
least half the range of baseline scores (two points on a 1-5 scale, 0.5 on 0-1), so that
run-to-run jitter does not fill the list. Only gated evaluator metrics and the task error
rate are considered.

Each record shown carries every run's output on each side, grouped ("Wellington" from two
runs, "Auckland" from one), and the task's error message for the runs that raised: a
record whose pass rate went from 67% to 33% shows what changed between the runs, and a
task that raised shows why rather than an empty output.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from driftgate.compare.measure import Measurement
from driftgate.compare.pairing import Alignment, Codes, first_rows
from driftgate.compare.schema import FlippedRecord, MetricChange, Records, RunOutputs
from driftgate.experiments.events import short_text
from driftgate.experiments.models import BoolArray, ExperimentData

MAX_IDS = 200
MAX_FLIPPED = 20
MAX_TEXT = 200
SCORE_CHANGE_SHARE_OF_RANGE = 0.5
# Distinct outputs kept per side of a record: runs that agree make one, and a record with
# more than this many different answers has told the reviewer what they need.
MAX_OUTPUTS = 10
# What a run that raised without a message shows.
NO_MESSAGE = "the task raised (no message recorded)"


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """One line of at most `limit` characters, for a record shown in the report."""
    return short_text(" ".join(text.split()), limit)


# Records flip on what they answer (evaluators) and on whether the task ran at all; a record
# that spent one token more did not "regress", budgets speak for the whole experiment.
FLIP_KINDS = frozenset({"boolean", "score", "categorical", "errors"})


def _flips(m: Measurement) -> tuple[BoolArray, BoolArray] | None:
    """(worse, better) per record of the alignment, or None if the metric has no records."""
    if m.per_record is None or m.level == "off" or m.direction == "none":
        return None
    if m.kind not in FLIP_KINDS:
        return None
    base, cand = m.per_record
    both = np.isfinite(base) & np.isfinite(cand)
    if not both.any():
        return None
    sign = -1.0 if m.direction == "lower" else 1.0
    if m.rate:
        was, now = base >= 0.5, cand >= 0.5
        up, down = ~was & now & both, was & ~now & both
        return (up, down) if sign < 0 else (down, up)
    spread = float(np.ptp(base[both]))
    if spread <= 0:
        return None
    change = np.where(both, (cand - base) * sign, 0.0)
    threshold = SCORE_CHANGE_SHARE_OF_RANGE * spread
    return change <= -threshold, change >= threshold


def _outputs(data: ExperimentData, codes: Codes, record: int) -> tuple[int, list[RunOutputs]]:
    """How many runs `record` has on this side, and their outputs grouped, the most frequent
    first (ties in run order)."""
    rows = np.flatnonzero(codes == record)
    rows = rows[np.argsort(data.run_iteration[rows], kind="stable")]
    counts: Counter[tuple[str, str | None]] = Counter()
    for row in rows.tolist():
        error = None
        if data.task_error[row]:
            error = shorten(data.error_message[row] or "") or NO_MESSAGE
        counts[(shorten(data.output_text[row]), error)] += 1
    grouped = [
        RunOutputs(output=output, runs=runs, error=error)
        for (output, error), runs in counts.most_common(MAX_OUTPUTS)
    ]
    return len(rows), grouped


def record_changes(
    measurements: list[Measurement],
    alignment: Alignment,
    baseline: ExperimentData,
    candidate: ExperimentData,
) -> Records:
    size = alignment.size
    worse_any = np.zeros(size, dtype=bool)
    better_any = np.zeros(size, dtype=bool)
    per_metric: list[tuple[Measurement, BoolArray, BoolArray]] = []
    for m in measurements:
        flips = _flips(m)
        if flips is None:
            continue
        worse, better = flips
        per_metric.append((m, worse, better))
        worse_any |= worse
        better_any |= better
    keys = alignment.keys
    regressed = np.flatnonzero(worse_any)
    improved = np.flatnonzero(better_any)
    base_only = np.flatnonzero(alignment.in_baseline & ~alignment.in_candidate)
    cand_only = np.flatnonzero(alignment.in_candidate & ~alignment.in_baseline)

    base_first = first_rows(alignment.baseline_codes, baseline.run_iteration, size)
    cand_first = first_rows(alignment.candidate_codes, candidate.run_iteration, size)
    shown = [(int(i), "regressed") for i in regressed[:MAX_FLIPPED]]
    shown += [(int(i), "improved") for i in improved[: MAX_FLIPPED - len(shown)]]
    flipped = []
    for record, direction in shown:
        changes = [
            MetricChange(
                name=m.name,
                baseline=float(m.per_record[0][record]) if m.per_record else None,
                candidate=float(m.per_record[1][record]) if m.per_record else None,
            )
            for m, worse, better in per_metric
            if (worse if direction == "regressed" else better)[record]
        ]
        b_row, c_row = int(base_first[record]), int(cand_first[record])
        b_runs, b_outputs = _outputs(baseline, alignment.baseline_codes, record)
        c_runs, c_outputs = _outputs(candidate, alignment.candidate_codes, record)
        flipped.append(
            FlippedRecord(
                id=keys[record],
                direction="regressed" if direction == "regressed" else "improved",
                changes=changes,
                input=shorten(candidate.input_text[c_row]),
                expected=shorten(candidate.expected_text[c_row]),
                baseline_output=shorten(baseline.output_text[b_row]),
                candidate_output=shorten(candidate.output_text[c_row]),
                baseline_runs=b_runs,
                candidate_runs=c_runs,
                baseline_outputs=b_outputs,
                candidate_outputs=c_outputs,
                tags=list(candidate.record_tags[c_row]) if candidate.record_tags else [],
            )
        )
    return Records(
        compared=int(alignment.in_both.sum()),
        regressed=[keys[i] for i in regressed[:MAX_IDS]],
        improved=[keys[i] for i in improved[:MAX_IDS]],
        flipped=flipped,
        regressed_count=len(regressed),
        improved_count=len(improved),
        baseline_only=len(base_only),
        candidate_only=len(cand_only),
        baseline_only_ids=[keys[i] for i in base_only[:MAX_IDS]],
        candidate_only_ids=[keys[i] for i in cand_only[:MAX_IDS]],
        truncated=max(len(regressed), len(improved), len(base_only), len(cand_only)) > MAX_IDS
        or len(regressed) + len(improved) > len(flipped),
    )
