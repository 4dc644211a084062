"""Evaluator metrics: one per label, named by it, plus a coverage line for every label.

- boolean evaluators, and categorical ones with an assessment or with `pass_values` in the
  config (which then wins over the assessment), are pass rates; score evaluators are means.
  These are tested and gated.
- categorical evaluators without either have no better or worse: their distribution is
  reported with a test of whether it moved, never gated.
- json evaluators, evaluators on one side only and evaluators whose type changed are not
  compared; they appear in the coverage list and the warnings, never silently dropped.
- evaluator errors are counted per side; errored rows are left out of the metric.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from driftgate.compare.measure import Findings, Measurement, compare_column
from driftgate.compare.pairing import Alignment, Codes
from driftgate.compare.schema import EvaluatorCoverage
from driftgate.compare.special import chdtrc
from driftgate.compare.stats import no_test
from driftgate.config import EvaluatorKind, GateConfig, MetricPolicy, absolute
from driftgate.experiments.models import EvaluatorColumn, ExperimentData, FloatArray

NUMERIC = ("boolean", "score")
Categories = npt.NDArray[np.int64]
MAX_CATEGORIES_SHOWN = 10


def chi_square_p(table: npt.ArrayLike) -> float:
    """p-value of Pearson's chi-square test of homogeneity, with Yates' correction for one
    degree of freedom (the value of scipy.stats.chi2_contingency)."""
    observed = np.asarray(table, dtype=np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if dof == 0:
        return 1.0
    if dof == 1:
        diff = expected - observed
        observed = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    stat = float(((observed - expected) ** 2 / expected).sum())
    return chdtrc(dof, stat)


def _usable(column: EvaluatorColumn) -> FloatArray:
    """The numeric reading with errored rows blanked out."""
    return np.where(column.errored, np.nan, column.value)


def _assessed(column: EvaluatorColumn) -> bool:
    return bool(np.isfinite(column.passed).any())


def _count_values(column: EvaluatorColumn) -> int:
    ok = ~column.errored
    if column.category is not None:
        present = np.fromiter((c is not None for c in column.category), bool, len(column.category))
        ok &= present | np.isfinite(column.passed) | np.isfinite(column.value)
    elif column.metric_type != "json":
        ok &= np.isfinite(column.value) | np.isfinite(column.passed)
    return int(ok.sum())


def _coverage(
    label: str,
    base: EvaluatorColumn | None,
    cand: EvaluatorColumn | None,
    *,
    compared: bool,
    gated: bool,
    reason: str = "",
) -> EvaluatorCoverage:
    def errors(col: EvaluatorColumn | None) -> tuple[int, float | None]:
        if col is None or len(col.errored) == 0:
            return 0, None
        count = int(col.errored.sum())
        return count, count / len(col.errored)

    base_errors, base_rate = errors(base)
    cand_errors, cand_rate = errors(cand)
    return EvaluatorCoverage(
        label=label,
        source="record",
        metric_type_baseline=base.metric_type if base else None,
        metric_type_candidate=cand.metric_type if cand else None,
        compared=compared,
        gated=gated,
        values_baseline=_count_values(base) if base else 0,
        values_candidate=_count_values(cand) if cand else 0,
        errors_baseline=base_errors,
        errors_candidate=cand_errors,
        error_rate_baseline=base_rate,
        error_rate_candidate=cand_rate,
        reason=reason,
    )


def _error_warning(label: str, base: EvaluatorColumn, cand: EvaluatorColumn) -> str | None:
    b, c = int(base.errored.sum()), int(cand.errored.sum())
    if b == 0 and c == 0:
        return None
    return (
        f"evaluator {label!r} errored on {c} of {len(cand.errored)} candidate rows "
        f"(baseline: {b} of {len(base.errored)}); those rows are left out of its metric"
    )


def _pass_values(column: EvaluatorColumn, accepted: tuple[str, ...]) -> FloatArray:
    cats = column.category or [None] * len(column.value)
    chosen = set(accepted)
    values = np.fromiter(
        (np.nan if c is None else float(c in chosen) for c in cats), np.float64, len(cats)
    )
    return np.where(column.errored, np.nan, values)


def _modal_categories(column: EvaluatorColumn, codes: Codes, index: dict[str, int]) -> Categories:
    """Each record's most frequent category over its runs (ties: the first in `index`)."""
    cats = column.category or []
    cat = np.fromiter(
        (-1 if c is None else index[c] for c in cats), dtype=np.int64, count=len(cats)
    )
    ok = (cat >= 0) & ~column.errored
    k = max(len(index), 1)
    pairs, counts = np.unique(codes[ok].astype(np.int64) * k + cat[ok], return_counts=True)
    record, category = pairs // k, pairs % k
    order = np.lexsort((category, -counts, record))
    _, first = np.unique(record[order], return_index=True)
    modes: Categories = category[order][first]
    return modes


def _categorical_shift(
    label: str,
    base: EvaluatorColumn,
    cand: EvaluatorColumn,
    alignment: Alignment,
    policy: MetricPolicy,
) -> Measurement:
    names = sorted({c for col in (base, cand) for c in (col.category or []) if c is not None})
    index = {name: i for i, name in enumerate(names)}
    base_modes = _modal_categories(base, alignment.baseline_codes, index)
    cand_modes = _modal_categories(cand, alignment.candidate_codes, index)
    k = max(len(names), 1)
    base_counts = np.bincount(base_modes, minlength=k)
    cand_counts = np.bincount(cand_modes, minlength=k)
    n_base, n_cand = int(base_counts.sum()), int(cand_counts.sum())
    notes = ["categories without an assessment have no better or worse: reported, not gated"]
    if policy.level != "off":
        notes.append("to gate it, give the evaluator an assessment or set pass_values in a rule")
    reported = Measurement(
        name=label,
        kind="categorical",
        direction="none",
        level="off",
        tolerance=absolute(0),
        inference=no_test("chi_square", n_base + n_cand),
        n_baseline=n_base,
        n_candidate=n_cand,
    )
    if n_base == 0 or n_cand == 0:
        return replace(reported, notes=(*notes, "no categories on one side"))
    base_share = base_counts / n_base
    cand_share = cand_counts / n_cand
    shift = float(np.abs(base_share - cand_share).sum() / 2)
    table = np.vstack([base_counts, cand_counts])
    table = table[:, table.sum(axis=0) > 0]
    # Shared records make the two rows positively correlated: the test errs conservative.
    p = chi_square_p(table) if table.shape[1] > 1 else 1.0
    order = np.argsort(-(base_share + cand_share), kind="stable")
    shown = order[:MAX_CATEGORIES_SHOWN]
    distribution: dict[str, tuple[float | None, float | None]] = {
        names[i]: (float(base_share[i]), float(cand_share[i])) for i in shown
    }
    if len(order) > MAX_CATEGORIES_SHOWN:
        rest = order[MAX_CATEGORIES_SHOWN:]
        distribution["(other)"] = (float(base_share[rest].sum()), float(cand_share[rest].sum()))
    notes.append(
        f"most frequent: {names[int(np.argmax(base_counts))]!r} -> "
        f"{names[int(np.argmax(cand_counts))]!r}; {shift:.1%} of records would have to change "
        "category to turn one distribution into the other"
    )
    return replace(reported, notes=tuple(notes), distribution=distribution, shift=(shift, p))


def _policy_kind(metric_type: str) -> EvaluatorKind:
    if metric_type == "boolean":
        return "boolean"
    if metric_type == "categorical":
        return "categorical"
    return "score"


def evaluator_metrics(
    baseline: ExperimentData,
    candidate: ExperimentData,
    alignment: Alignment,
    config: GateConfig,
    confidence: float,
) -> Findings:
    found = Findings()
    json_labels: list[str] = []
    for label in sorted(set(baseline.evaluators) | set(candidate.evaluators)):
        base = baseline.evaluators.get(label)
        cand = candidate.evaluators.get(label)
        if base is None or cand is None:
            side = "baseline" if cand is None else "candidate"
            found.coverage.append(
                _coverage(label, base, cand, compared=False, gated=False, reason=f"{side} only")
            )
            found.warnings.append(
                f"evaluator {label!r} is in the {side} only: reported, not compared"
            )
            continue
        types = {base.metric_type, cand.metric_type}
        if "json" in types:
            json_labels.append(label)
            found.coverage.append(
                _coverage(
                    label,
                    base,
                    cand,
                    compared=False,
                    gated=False,
                    reason="json evaluators are reported, not gated",
                )
            )
            continue
        if len(types) > 1 and not types <= set(NUMERIC):
            found.coverage.append(
                _coverage(label, base, cand, compared=False, gated=False, reason="type changed")
            )
            found.warnings.append(
                f"evaluator {label!r} changed type ({base.metric_type} -> {cand.metric_type}): "
                "not compared"
            )
            continue
        notes: tuple[str, ...] = ()
        if len(types) > 1:
            notes = (
                f"type changed ({base.metric_type} -> {cand.metric_type}): compared as scores",
            )
            found.warnings.append(f"evaluator {label!r} {notes[0]}")
        kind: EvaluatorKind = "score" if len(types) > 1 else _policy_kind(cand.metric_type)
        policy = config.policy(label, kind)
        if warning := _error_warning(label, base, cand):
            found.warnings.append(warning)
        if kind == "categorical" and policy.pass_values:
            # Configured explicitly, so it wins over the evaluator's own assessment.
            b_values = _pass_values(base, policy.pass_values)
            c_values = _pass_values(cand, policy.pass_values)
            notes = (*notes, f"pass = one of {', '.join(map(repr, policy.pass_values))}")
        elif kind == "categorical" and (_assessed(base) or _assessed(cand)):
            b_values = np.where(base.errored, np.nan, base.passed)
            c_values = np.where(cand.errored, np.nan, cand.passed)
        elif kind == "categorical":
            measurement = _categorical_shift(label, base, cand, alignment, policy)
            found.measurements.append(measurement)
            found.coverage.append(
                _coverage(
                    label,
                    base,
                    cand,
                    compared=True,
                    gated=False,
                    reason="categorical without assessment: distribution reported, not gated",
                )
            )
            continue
        else:
            b_values, c_values = _usable(base), _usable(cand)
        measurement = compare_column(
            name=label,
            kind=kind,
            baseline=b_values,
            candidate=c_values,
            alignment=alignment,
            confidence=confidence,
            direction=policy.direction,
            level=policy.level,
            tolerance=policy.min_effect,
            rate=kind != "score",
            family="quality",
            unit="pass rate" if kind != "score" else "score",
            notes=notes,
        )
        found.measurements.append(measurement)
        found.coverage.append(
            _coverage(label, base, cand, compared=True, gated=policy.level != "off")
        )
        if not measurement.inference.tested:
            why = measurement.notes[-1] if measurement.notes else "too few values"
            found.warnings.append(f"evaluator {label!r} could not be tested: {why}")
    if json_labels:
        found.warnings.append(
            f"json evaluators are reported, not gated: {', '.join(map(repr, json_labels))}"
        )
    return found
