"""Align two experiments by record: one index over the union of record keys, and per-record
means of any per-row column (runs averaged), all with numpy grouping (no per-row loops
beyond building the key index once)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftgate.experiments.models import BoolArray, ExperimentData, FloatArray

# Below this share of records in both runs, a paired test would rest on a minority of the
# data chosen by whatever made the others go missing; compare the runs as independent samples.
MIN_PAIRED_SHARE = 0.5

Codes = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Alignment:
    """Both experiments' rows mapped onto one record index.

    `keys[i]` is record i; `baseline_codes[row]` / `candidate_codes[row]` give each row's
    record. `in_baseline` / `in_candidate` say which records each side has.
    """

    keys: list[str]
    baseline_codes: Codes
    candidate_codes: Codes
    in_baseline: BoolArray
    in_candidate: BoolArray

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def in_both(self) -> BoolArray:
        return self.in_baseline & self.in_candidate


def align(baseline: ExperimentData, candidate: ExperimentData) -> Alignment:
    index: dict[str, int] = {}
    # The one unavoidable pass over the rows in Python: strings have no vectorised hash.
    base = np.fromiter(
        (index.setdefault(k, len(index)) for k in baseline.record_key),
        dtype=np.intp,
        count=baseline.rows,
    )
    cand = np.fromiter(
        (index.setdefault(k, len(index)) for k in candidate.record_key),
        dtype=np.intp,
        count=candidate.rows,
    )
    size = len(index)
    return Alignment(
        keys=list(index),
        baseline_codes=base,
        candidate_codes=cand,
        in_baseline=np.bincount(base, minlength=size) > 0,
        in_candidate=np.bincount(cand, minlength=size) > 0,
    )


def record_means(codes: Codes, values: FloatArray, size: int) -> tuple[FloatArray, FloatArray]:
    """Per-record mean of the finite values and their count; NaN where a record has none."""
    ok = np.isfinite(values)
    counts = np.bincount(codes[ok], minlength=size).astype(np.float64)
    sums = np.bincount(codes[ok], weights=values[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return means, counts


def first_rows(codes: Codes, run_iteration: npt.NDArray[np.int32], size: int) -> Codes:
    """For each record, the row of its earliest run (-1 where the record has no row)."""
    first = np.full(size, -1, dtype=np.intp)
    if len(codes) == 0:
        return first
    order = np.lexsort((run_iteration, codes))
    records, where = np.unique(codes[order], return_index=True)
    first[records] = order[where]
    return first


def enough_pairs(n_pairs: int, n_baseline: int, n_candidate: int) -> bool:
    """Whether at least half of the larger side's records are paired."""
    larger = max(n_baseline, n_candidate)
    return larger > 0 and n_pairs >= MIN_PAIRED_SHARE * larger
