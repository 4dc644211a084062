"""One measured quantity before the gate rules: what was compared and what the test said.

`compare_column` is the shared path for every per-row quantity (evaluator values, task
errors, tokens, cost): average each record's runs, pair the records that both sides have,
and test the per-record differences, or fall back to an unpaired test when too few pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from driftgate.compare.pairing import Alignment, enough_pairs, record_means
from driftgate.compare.schema import EvaluatorCoverage, MetricDirection, MetricKind
from driftgate.compare.stats import Inference, no_test
from driftgate.compare.stats_paired import paired_test
from driftgate.compare.stats_unpaired import unpaired_test
from driftgate.config import Level, Tolerance
from driftgate.experiments.models import FloatArray

Family = Literal["quality", "budgets"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """A metric's numbers and test, with the settings that the gate will apply to it.

    `family` names the set of tests whose false alarms are controlled together; None means
    no test enters the gate (descriptive metrics, which are judged on the observed change
    against the tolerance, and metrics that are reported only). `per_record` holds each
    side's per-record values over the alignment, for the list of flipped records.
    """

    name: str
    kind: MetricKind
    direction: MetricDirection
    level: Level
    tolerance: Tolerance
    inference: Inference
    baseline: float | None = None
    candidate: float | None = None
    paired: bool = False
    n_baseline: int = 0
    n_candidate: int = 0
    unit: str = ""
    family: Family | None = None
    descriptive: bool = False
    rate: bool = False
    notes: tuple[str, ...] = ()
    distribution: dict[str, tuple[float | None, float | None]] | None = None
    # categorical without assessment: (total variation distance, p-value of a shift)
    shift: tuple[float, float] | None = None
    per_record: tuple[FloatArray, FloatArray] | None = field(default=None, repr=False)
    # The per-row values it was measured from (NaN: no value), kept so that a subset of the
    # records (a slice by tag) is measured by the same path.
    rows: tuple[FloatArray, FloatArray] | None = field(default=None, repr=False)

    @property
    def delta(self) -> float | None:
        if self.inference.estimate is not None:
            return self.inference.estimate
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline


@dataclass(slots=True)
class Findings:
    """What one part of the comparison found: metrics, evaluator coverage, things to say."""

    measurements: list[Measurement] = field(default_factory=list)
    coverage: list[EvaluatorCoverage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _mean(values: FloatArray) -> float | None:
    return float(values.mean()) if len(values) else None


def _is_binary(values: FloatArray, counts: FloatArray) -> bool:
    return bool(np.all(counts == 1) and np.all((values == 0) | (values == 1)))


def compare_column(
    *,
    name: str,
    kind: MetricKind,
    baseline: FloatArray,
    candidate: FloatArray,
    alignment: Alignment,
    confidence: float,
    direction: MetricDirection,
    level: Level,
    tolerance: Tolerance,
    rate: bool,
    family: Family | None,
    unit: str = "",
    notes: tuple[str, ...] = (),
) -> Measurement:
    """Compare one per-row column of both experiments (NaN marks a missing value)."""
    size = alignment.size
    base_means, base_counts = record_means(alignment.baseline_codes, baseline, size)
    cand_means, cand_counts = record_means(alignment.candidate_codes, candidate, size)
    has_base = base_counts > 0
    has_cand = cand_counts > 0
    both = has_base & has_cand
    n_pairs = int(both.sum())
    n_base = int(has_base.sum())
    n_cand = int(has_cand.sum())
    shell = Measurement(
        name=name,
        kind=kind,
        direction=direction,
        level=level,
        tolerance=tolerance,
        inference=no_test("none", 0),
        n_baseline=n_base,
        n_candidate=n_cand,
        unit=unit,
        family=family,
        rate=rate,
        notes=notes,
        per_record=(base_means, cand_means),
        rows=(baseline, candidate),
    )
    if n_base == 0 or n_cand == 0:
        missing = "baseline" if n_base == 0 else "candidate"
        return replace(
            shell,
            baseline=_mean(base_means[has_base]),
            candidate=_mean(cand_means[has_cand]),
            notes=(*notes, f"no values in the {missing}: nothing to compare"),
        )
    if enough_pairs(n_pairs, n_base, n_cand):
        b, c = base_means[both], cand_means[both]
        binary = rate and _is_binary(b, base_counts[both]) and _is_binary(c, cand_counts[both])
        if n_pairs < max(n_base, n_cand):
            notes = (
                *notes,
                f"paired over the {n_pairs} records with a value on both sides "
                f"(baseline has {n_base}, candidate {n_cand})",
            )
        return replace(
            shell,
            inference=paired_test(c - b, confidence, binary=binary),
            baseline=_mean(b),
            candidate=_mean(c),
            paired=True,
            notes=notes,
        )
    b, c = base_means[has_base], cand_means[has_cand]
    binary = rate and _is_binary(b, base_counts[has_base]) and _is_binary(c, cand_counts[has_cand])
    return replace(
        shell,
        inference=unpaired_test(b, c, confidence, binary=binary),
        baseline=_mean(b),
        candidate=_mean(c),
        notes=(
            *notes,
            f"only {n_pairs} of {max(n_base, n_cand)} records are in both runs (fewer than "
            "half): compared as independent samples, with less power than a paired test",
        ),
    )
