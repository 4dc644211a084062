"""A baseline pooled from the base branch's recent runs: the candidate against up to K
base-branch runs of the same experiment at once, record by record. Pure.

Why it is sound, and what it gains (docs/statistics.md, "A baseline from history"):
- Each record's baseline value is its mean over every base observation (K runs x their
  iterations), and the test is the paired one on the per-record differences `candidate -
  pooled baseline`. The variance of a difference is the candidate's within-record noise,
  the pooled baseline's within-record noise (which shrinks as 1 / observations) and the
  spread of the true per-record changes; the paired t-test estimates their sum from the
  differences themselves, so it needs no model of how records differ or flip, and it stays
  valid when a candidate changes which records pass without changing how many. Pairing
  cancels the between-record spread, which no number of baseline runs would shrink: the K
  runs share the same records, so they must not be counted as K times as many records.
- The pooled baseline is no longer pass/fail, so the one-run McNemar test gives way to the
  paired t-test (the sign-flip test when few records moved), as with averaged runs.
- The base runs must be of the same system. A run whose experiment config or dataset
  differs from the newest run's starts a declared change point; a shift between the newest
  runs and the older ones that the data show is a detected one. Either way only the runs
  after it are pooled, and the report says so (`History.change_point`).
- A shift too small for the change-point test still moves a pooled baseline, and no test
  can both use the older runs and ignore an arbitrary shift of theirs. So a change the
  pooled test finds counts only when the newest base run alone confirms it at alpha
  (`_confirm`): false alarms then stay near alpha whatever the base branch did.
- A record whose pass/fail outcome varies between the pooled base runs is known-flaky:
  listed apart, and a regression made only of known-flaky records is labelled so.

One base run gives exactly `compare`'s report: the history is then not mentioned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from driftgate.compare.engine import Compared, compare_measured, no_baseline_report
from driftgate.compare.gated import KINDS, pass_fail
from driftgate.compare.measure import Measurement
from driftgate.compare.pairing import record_means
from driftgate.compare.pooled_flags import history_flags
from driftgate.compare.recheck import recheck_report
from driftgate.compare.records import MAX_IDS
from driftgate.compare.rules import adjusted_p_values
from driftgate.compare.schema import History, Metric, PooledRun, Report
from driftgate.compare.stats import holm
from driftgate.compare.stats_paired import paired_test
from driftgate.compare.trend import DEFAULT_TREND_POINTS, trend
from driftgate.config import GateConfig
from driftgate.experiments.models import (
    BoolArray,
    EvaluatorColumn,
    ExperimentData,
    FloatArray,
)

__all__ = [
    "DEFAULT_HISTORY",
    "PoolSettings",
    "compare_pooled",
    "find_change_point",
    "pool",
]

DEFAULT_HISTORY = 5
MAX_CONFIG_KEYS_NAMED = 3


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How many base runs to pool, and the levels of the change-point tests.

    `shift_alpha`: a shift in either direction between the newest base runs and the older
    ones, at this level over every split and metric (Bonferroni), is a change point. It is
    strict: by chance it cuts the history of an unchanged base branch 1% of the time.
    `harm_alpha` (0: off): the same test in the one direction that can fail a pull request
    that changed nothing (the older runs look *better* than the newest ones, so pooling
    them would raise the baseline), at a lenient level. Off by default: the confirmation
    against the newest run (`confirm`) bounds the false alarms of any shift, and a lenient
    cut would say "the base branch changed" of an unchanged one a quarter of the time. The
    figures of the trade are in docs/statistics.md.
    """

    max_runs: int = DEFAULT_HISTORY
    shift_alpha: float = 0.01
    harm_alpha: float = 0.0
    confirm: bool = True
    """Whether a change the pooled test finds must also be significant, at alpha and
    unadjusted, against the newest base run alone (see `_confirm`)."""
    confirm_flagged: bool = True
    """The confirmation at alpha, Holm-adjusted over the metrics the pooled test judged
    changed, rather than each at alpha alone: a base branch that moved two gated metrics at
    its newest run otherwise fails an unchanged pull request 7.6% of the time instead of
    5.7%, and the power is the same (docs/statistics.md)."""
    confirm_adjusted: bool = False
    """The confirmation at the gate's own adjusted level (Holm over the family), rather than
    at alpha unadjusted: false alarms stay under alpha whatever the base branch did, even
    when several gated metrics drifted, and the pooled runs then add no power over one run.
    """


@dataclass(frozen=True, slots=True)
class Series:
    """One gated metric of the history: its per-record values, run by run.

    `values[j]` holds base run j's per-record means (NaN where the run lacks the record),
    over one index of record keys; `sign` is +1 when higher is better, -1 when lower is.
    """

    name: str
    values: FloatArray
    sign: float
    rate: bool


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """The split after the newest `keep` runs, and what was seen there."""

    keep: int
    metric: str
    shift: float  # newer - older, in the metric's unit
    p_value: float  # adjusted over splits and metrics
    harmful: bool  # the older runs look better: pooling them would raise the baseline
    rate: bool


def _series(history: Sequence[ExperimentData], config: GateConfig) -> list[Series]:
    """The gated evaluators every run has (with the same type), and the task error rate."""
    index: dict[str, int] = {}
    codes = [
        np.fromiter((index.setdefault(k, len(index)) for k in data.record_key), np.intp, data.rows)
        for data in history
    ]
    size = len(index)
    labels = set.intersection(*(set(data.evaluators) for data in history))
    found: list[Series] = []
    for label in sorted(labels):
        columns = [data.evaluators[label] for data in history]
        if len({c.metric_type for c in columns}) != 1:
            continue
        kind = columns[0].metric_type
        if kind not in KINDS:
            continue
        policy = config.policy(label, KINDS[kind])
        if policy.level == "off":
            continue
        per_row = [pass_fail(c, config) for c in columns]
        if any(v is None for v in per_row):
            continue
        found.append(
            Series(
                name=label,
                values=np.vstack(
                    [
                        record_means(code, v, size)[0]
                        for code, v in zip(codes, per_row, strict=True)
                        if v is not None
                    ]
                ),
                sign=-1.0 if policy.direction == "lower" else 1.0,
                rate=kind != "score",
            )
        )
    if config.budgets.errors.level != "off":
        found.append(
            Series(
                name="errors",
                values=np.vstack(
                    [
                        record_means(code, data.task_error.astype(np.float64), size)[0]
                        for code, data in zip(codes, history, strict=True)
                    ]
                ),
                sign=-1.0,
                rate=True,
            )
        )
    return found


def find_change_point(
    history: Sequence[ExperimentData],
    config: GateConfig | None = None,
    settings: PoolSettings | None = None,
) -> ChangePoint | None:
    """Whether the base runs (newest first) disagree, and where: the split after which the
    newest runs differ most from the older ones.

    For each split (the newest s runs against the older ones) and each gated metric, the
    per-record difference of the two groups' means is tested with the paired test (records
    missing from either group are left out), so the records' differences in difficulty
    cancel as they do in the gate. A split is a change point when its p-value, times the
    number of splits and metrics, is below `shift_alpha` (either direction) or below
    `harm_alpha` (the older runs better). The one with the smallest ratio of adjusted
    p-value to its level wins.
    """
    config = config or GateConfig()
    settings = settings or PoolSettings()
    k = len(history)
    if k < 2:
        return None
    series = _series(history, config)
    tests = (k - 1) * max(len(series), 1)
    best: tuple[float, ChangePoint] | None = None
    for s in range(1, k):
        for one in series:
            with np.errstate(invalid="ignore"):
                newer = np.nanmean(one.values[:s], axis=0) if s > 1 else one.values[0]
                older = np.nanmean(one.values[s:], axis=0) if k - s > 1 else one.values[s]
            d = newer - older
            d = d[np.isfinite(d)]
            if len(d) < 2:
                continue
            inference = paired_test(d, 0.9, binary=False)
            if inference.p_less is None or inference.p_greater is None:
                continue
            # Oriented so that "worse" means the newer runs are worse than the older ones.
            p_worse, p_better = (
                (inference.p_less, inference.p_greater)
                if one.sign > 0
                else (inference.p_greater, inference.p_less)
            )
            two_sided = min(1.0, 2 * min(p_worse, p_better)) * tests
            harmful = min(1.0, p_worse * tests)
            ratio = two_sided / settings.shift_alpha
            if settings.harm_alpha > 0:
                ratio = min(ratio, harmful / settings.harm_alpha)
            if ratio < 1 and (best is None or ratio < best[0]):
                best = (
                    ratio,
                    ChangePoint(
                        keep=s,
                        metric=one.name,
                        shift=float(d.mean()),
                        p_value=min(two_sided, harmful),
                        harmful=p_worse < p_better,
                        rate=one.rate,
                    ),
                )
    return best[1] if best is not None else None


def _declared(newest: ExperimentData, older: ExperimentData) -> str:
    """Why `older` is not the same system as `newest`, from what both runs declare."""
    a, b = newest.info, older.info
    # Between a copy from the data branch and a run recorded here, only the config can tell.
    if a.dataset_comparable(b):
        if a.dataset_id and b.dataset_id and a.dataset_id != b.dataset_id:
            return f"ran on another dataset ({b.dataset_id})"
        if a.dataset_version != b.dataset_version:
            return f"ran on dataset version {b.dataset_version}, the newest on {a.dataset_version}"
    a_config, b_config = a.config or {}, b.config or {}
    changed = sorted(k for k in set(a_config) | set(b_config) if a_config.get(k) != b_config.get(k))
    if changed:
        named = ", ".join(changed[:MAX_CONFIG_KEYS_NAMED])
        more = f" and {len(changed) - MAX_CONFIG_KEYS_NAMED} more" if len(changed) > 3 else ""
        return f"its experiment config differs from the newest run's ({named}{more})"
    return ""


def _iterations(data: ExperimentData) -> int:
    return len(np.unique(data.run_iteration))


def pool(history: Sequence[ExperimentData]) -> ExperimentData:
    """The runs as one experiment whose iterations are all of theirs (newest first), so that
    each record's baseline value is its mean over every base observation. It carries the
    newest run's description."""
    newest = history[0]
    offsets = []
    total = 0
    for data in history:
        offsets.append(total)
        total += int(data.run_iteration.max()) if data.rows else 0
    labels = set.intersection(*(set(data.evaluators) for data in history))
    evaluators = {}
    for label in sorted(labels):
        columns = [data.evaluators[label] for data in history]
        if len({c.metric_type for c in columns}) != 1:
            continue
        categories = None
        if all(c.category is not None for c in columns):
            categories = [v for c in columns for v in c.category or []]
        evaluators[label] = EvaluatorColumn(
            label=label,
            metric_type=columns[0].metric_type,
            value=np.concatenate([c.value for c in columns]),
            passed=np.concatenate([c.passed for c in columns]),
            errored=np.concatenate([c.errored for c in columns]),
            category=categories,
            error_messages=tuple(m for c in columns for m in c.error_messages),
        )
    summaries = [
        replace(item, run=None if item.run is None else item.run + offset)
        for data, offset in zip(history, offsets, strict=True)
        for item in data.summaries
    ]
    notes = tuple(
        note if data is newest else f"{data.info.id}: {note}"
        for data in history
        for note in data.notes
    )

    def cat(name: str) -> FloatArray:
        return np.concatenate([getattr(data, name) for data in history])

    return ExperimentData(
        info=newest.info.model_copy(update={"run_count": total}),
        run=None,
        record_key=[k for data in history for k in data.record_key],
        run_iteration=np.concatenate(
            [data.run_iteration + offset for data, offset in zip(history, offsets, strict=True)]
        ).astype(np.int32),
        task_error=np.concatenate([data.task_error for data in history]),
        error_message=[m for data in history for m in data.error_message],
        duration_ns=cat("duration_ns"),
        input_tokens=cat("input_tokens"),
        output_tokens=cat("output_tokens"),
        total_tokens=cat("total_tokens"),
        cost=cat("cost"),
        input_text=[t for data in history for t in data.input_text],
        expected_text=[t for data in history for t in data.expected_text],
        output_text=[t for data in history for t in data.output_text],
        evaluators=evaluators,
        summaries=summaries,
        notes=notes,
        dataset_records=newest.dataset_records,
    )


def _flaky(compared: Compared, baseline: ExperimentData, config: GateConfig) -> BoolArray | None:
    """Per record of the alignment: whether a gated pass/fail metric (or the task error)
    both passed and failed among the pooled base observations."""
    alignment = compared.alignment
    if alignment is None:
        return None
    flaky = np.zeros(alignment.size, dtype=bool)
    for m in compared.measurements:
        if not m.rate or m.level == "off" or m.family is None:
            continue
        values = _row_values(m, baseline, config)
        if values is None:
            continue
        means, counts = record_means(alignment.baseline_codes, values, alignment.size)
        flaky |= (counts >= 2) & (means > 0) & (means < 1)
    return flaky


def _row_values(m: Measurement, baseline: ExperimentData, config: GateConfig) -> FloatArray | None:
    if m.kind == "errors":
        return baseline.task_error.astype(np.float64)
    column = baseline.evaluators.get(m.name)
    if column is None or column.metric_type == "score":
        return None
    return pass_fail(column, config)


def _flaky_only(
    compared: Compared, flaky: BoolArray, metrics: list[Metric]
) -> tuple[list[str], list[Metric]]:
    """The regressed pass/fail metrics whose worse-moving records are all known-flaky, and
    the metrics with a note on each of them."""
    labelled: list[str] = []
    regressed = {m.name for m in metrics if m.verdict == "regressed"}
    for m in compared.measurements:
        if m.name not in regressed or not m.rate or m.per_record is None:
            continue
        base, cand = m.per_record
        sign = -1.0 if m.direction == "lower" else 1.0
        with np.errstate(invalid="ignore"):
            worse = np.isfinite(base) & np.isfinite(cand) & ((cand - base) * sign < 0)
        if worse.any() and bool(np.all(flaky[worse])):
            labelled.append(m.name)
    if not labelled:
        return [], metrics
    note = (
        "every record that moved the worse way is known-flaky (its outcome varied between "
        "base-branch runs): the candidate makes flaky records fail more often, no stable "
        "record broke"
    )
    return labelled, [
        m.model_copy(update={"notes": [*m.notes, note]}) if m.name in labelled else m
        for m in metrics
    ]


def _alone(m: Measurement, confidence: float) -> Measurement:
    """The newest-run comparison tested as the pooled one is: the paired t-test (the
    sign-flip test when few records moved) rather than exact McNemar, whose discreteness
    would make the confirmation stricter than its level."""
    if not m.paired or m.per_record is None:
        return m
    base, cand = m.per_record
    d = cand - base
    return replace(m, inference=paired_test(d[np.isfinite(d)], confidence, binary=False))


def _p_in_direction(m: Measurement, worse: bool) -> float | None:
    inference = m.inference
    if inference.p_less is None or inference.p_greater is None:
        return None
    lower_is_better = m.direction == "lower"
    return inference.p_greater if worse == lower_is_better else inference.p_less


def _confirm(
    report: Report, newest: Compared, *, adjusted: bool, flagged: bool = False
) -> tuple[Report, list[str]]:
    """Each tested metric's p-value becomes the larger of the pooled test's (adjusted) and
    the same one-sided test against the newest base run alone (unadjusted), and the verdicts
    follow from the figures again.

    Why: the newest base run is the system the pull request branched from. An older run
    that differs from it by less than the change-point test can see still moves a pooled
    baseline, and a shift of the base branch inside the history then reads as a change of
    the candidate. Requiring both tests is an intersection-union test (its p-value is the
    larger of the two): whatever the base branch did inside the history, a false alarm
    needs the newest-run test to fire, which it does at most alpha of the time; with an
    unchanged base branch, it needs the pooled test to fire. The price is the power of the
    newest-run test at the unadjusted alpha, which is much higher than at the adjusted one.
    """
    confidence = 1 - 2 * (report.alpha or 0.05)
    alone_measured = [_alone(m, confidence) for m in newest.measurements]
    by_name = {m.name: m for m in alone_measured}
    holm_all = adjusted_p_values(alone_measured) if adjusted else {}
    holm_by_name = {alone_measured[i].name: a for i, a in holm_all.items()}
    p_alone: dict[str, float] = {}
    for metric in report.metrics:
        alone = by_name.get(metric.name)
        if metric.family is None or metric.p_value is None or metric.delta is None or alone is None:
            continue
        worse = (-1.0 if metric.direction == "lower" else 1.0) * metric.delta < 0
        p = _p_in_direction(alone, worse)
        if adjusted and metric.name in holm_by_name:
            p = holm_by_name[metric.name].worse if worse else holm_by_name[metric.name].better
        if p is not None:
            p_alone[metric.name] = p
    if flagged and not adjusted:
        # Holm over the metrics the pooled test judged changed: the base branch may have
        # moved several of them at once, and each confirmed at alpha alone would let that
        # shift through more often than alpha.
        names = [
            m.name
            for m in report.metrics
            if m.name in p_alone and m.verdict in ("regressed", "improved")
        ]
        p_alone.update(zip(names, holm([p_alone[n] for n in names]), strict=True))
    changed: list[str] = []
    metrics = []
    for metric in report.metrics:
        p = p_alone.get(metric.name)
        if p is None or metric.p_value is None or p <= metric.p_value:
            metrics.append(metric)
            continue
        updated = metric.model_copy(update={"p_value": p})
        if metric.verdict in ("regressed", "improved") and p >= (report.alpha or 0.05):
            changed.append(metric.name)
            updated = updated.model_copy(
                update={
                    "notes": [
                        *metric.notes,
                        f"the pooled baseline says {metric.verdict}, but against the newest "
                        f"base run alone the change is not significant (p={p:.2g}): a "
                        "change on the base branch inside the history could explain it, so "
                        "it is not counted",
                    ]
                }
            )
        metrics.append(updated)
    return recheck_report(report.model_copy(update={"metrics": metrics})), changed


def _describe(point: ChangePoint) -> str:
    amount = f"{point.shift * 100:+.1f} points" if point.rate else f"{point.shift:+.3g}"
    runs = "run" if point.keep == 1 else f"{point.keep} runs"
    differ = "differs" if point.keep == 1 else "differ"
    return (
        f"the base branch changed: its newest {runs} {differ} from the older ones on "
        f"{point.metric} ({amount}, p={point.p_value:.2g}), so only the newest {runs} "
        f"{'is' if point.keep == 1 else 'are'} pooled"
        + (
            " (the older runs looked better: pooling them would raise the baseline)"
            if point.harmful
            else ""
        )
    )


def compare_pooled(
    history: Sequence[ExperimentData],
    candidate: ExperimentData,
    config: GateConfig | None = None,
    *,
    settings: PoolSettings | None = None,
    trend_points: int = DEFAULT_TREND_POINTS,
    baseline_reason: str = "",
    baseline_url: str | None = None,
    candidate_url: str | None = None,
) -> Report:
    """Compare `candidate` with a baseline pooled from `history`: comparable base-branch
    runs, newest first (the newest is the one `compare` would use alone). Up to
    `settings.max_runs` are considered; runs without records are skipped.

    `history` may be longer than the pool: the report's `trend` shows each gated metric
    over the newest `trend_points` runs with records (`compare.trend.trend`), the pooled
    ones marked, and the candidate."""
    config = config or GateConfig()
    settings = settings or PoolSettings()
    considered = list(history[: settings.max_runs])
    usable = [data for data in considered if data.rows]
    if len(usable) <= 1:
        if not usable:
            reason = "no base-branch run of the history has records"
            return no_baseline_report(
                candidate,
                config,
                baseline_reason=f"{baseline_reason}; {reason}" if baseline_reason else reason,
                candidate_url=candidate_url,
            )
        alone = compare_measured(
            usable[0],
            candidate,
            config,
            baseline_reason=baseline_reason,
            baseline_url=baseline_url,
            candidate_url=candidate_url,
        ).report
        # A longer history than the pool's can still draw a trend.
        shown = trend(history, candidate, config, max_points=trend_points, pooled=())
        return alone.model_copy(update={"trend": shown}) if shown else alone
    why: dict[str, str] = {d.info.id: "no records" for d in considered if not d.rows}
    change = ""
    kept = [usable[0]]
    for data in usable[1:]:
        declared = _declared(usable[0], data)
        if declared:
            change = (
                f"the base branch changed: run {data.info.id} {declared}, so it and the "
                f"older runs are left out"
            )
            for older in usable[usable.index(data) :]:
                why[older.info.id] = (
                    f"before a change point: {declared}"
                    if older is data
                    else ("before a change point")
                )
            break
        kept.append(data)
    point = find_change_point(kept, config, settings)
    if point is not None:
        change = _describe(point) + (f"; {change}" if change else "")
        for older in kept[point.keep :]:
            why[older.info.id] = "before a change point the data show"
        kept = kept[: point.keep]
    baseline = pool(kept) if len(kept) > 1 else kept[0]
    compared = compare_measured(
        baseline,
        candidate,
        config,
        baseline_reason=baseline_reason,
        baseline_url=baseline_url,
        candidate_url=candidate_url,
        pooled=len(kept) > 1,
    )
    report = compared.report
    unconfirmed: list[str] = []
    if len(kept) > 1 and settings.confirm:
        newest = compare_measured(kept[0], candidate, config)
        report, unconfirmed = _confirm(
            report, newest, adjusted=settings.confirm_adjusted, flagged=settings.confirm_flagged
        )
    flaky = _flaky(compared, baseline, config) if len(kept) > 1 else None
    metrics = report.metrics
    flaky_keys: list[str] = []
    labelled: list[str] = []
    regressed_flaky = 0
    if flaky is not None and compared.alignment is not None:
        keys = compared.alignment.keys
        regressed = set(report.records.regressed)
        # The regressed ones first, so that the list (cut at MAX_IDS) names every one the
        # report can mark as known-flaky among its regressed records.
        flaky_keys = sorted(
            (keys[i] for i in np.flatnonzero(flaky)), key=lambda key: key not in regressed
        )
        labelled, metrics = _flaky_only(compared, flaky, metrics)
        regressed_flaky = sum(1 for key in flaky_keys if key in regressed)
    runs = [
        PooledRun(
            id=d.info.id,
            commit=d.info.commit,
            created_at=d.info.recorded_at,  # a copy: when the original ran
            runs=_iterations(d) if d.rows else 0,
            pooled=any(d is k for k in kept),
            why=why.get(d.info.id, ""),
        )
        for d in considered
    ]
    history_summary = History(
        considered=len(considered),
        pooled=len(kept),
        observations=sum(map(_iterations, kept)),
        runs=runs,
        change_point=change,
        flaky=flaky_keys[:MAX_IDS],
        flaky_count=len(flaky_keys),
        regressed_flaky=regressed_flaky,
        flaky_only=labelled,
        unconfirmed=unconfirmed,
    )
    return report.model_copy(
        update={
            "metrics": metrics,
            "warnings": [*report.warnings, *history_flags(history_summary)],
            "history": history_summary,
            "trend": trend(
                history,
                candidate,
                config,
                max_points=trend_points,
                pooled=[d.info.id for d in kept],
            ),
        }
    )
