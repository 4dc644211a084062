"""The entry points: compare a candidate with its baseline, or report one without a baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftgate.compare import completeness
from driftgate.compare.budgets import budget_metrics
from driftgate.compare.evaluators import evaluator_metrics
from driftgate.compare.measure import Findings, Measurement
from driftgate.compare.pairing import Alignment, align
from driftgate.compare.records import record_changes
from driftgate.compare.rules import judge_all, overall
from driftgate.compare.schema import ExperimentRef, Metric, Records, Report
from driftgate.compare.slices import slice_metrics
from driftgate.compare.summaries import summary_metrics
from driftgate.config import GateConfig
from driftgate.experiments.models import ConsideredRun, ExperimentData, ExperimentInfo

MAX_CONFIG_KEYS_NAMED = 5


def experiment_ref(
    info: ExperimentInfo, data: ExperimentData | None = None, url: str | None = None
) -> ExperimentRef:
    return ExperimentRef(
        id=info.id,
        name=info.name,
        experiment=info.experiment,
        commit=info.commit,
        url=url,
        created_at=info.created_at,
        run=data.run if data is not None else None,
        runs=len(np.unique(data.run_iteration)) if data is not None else 0,
        records=len(set(data.record_key)) if data is not None else 0,
        dataset_id=info.dataset_id,
        dataset_version=info.dataset_version,
        dirty=info.dirty,
        dataset_records=data.dataset_records if data is not None else None,
        records_per_run=completeness.runs_recorded(data) if data is not None else [],
    )


def _differences(
    baseline: ExperimentData, candidate: ExperimentData, *, pooled: bool = False
) -> list[str]:
    """What makes the two runs less comparable than they look: said, never blocking."""
    said = []
    b, c = baseline.info, candidate.info
    # Between a copy and a run recorded here the records pair by their own ids (the counts
    # below say how well), whatever the datasets' ids.
    comparable = b.dataset_comparable(c)
    if comparable and b.dataset_id and c.dataset_id and b.dataset_id != c.dataset_id:
        said.append(f"the baseline ran on another dataset ({b.dataset_id} vs {c.dataset_id})")
    elif comparable and b.dataset_version is not None and b.dataset_version != c.dataset_version:
        said.append(
            f"the baseline ran on dataset version {b.dataset_version}, "
            f"the candidate on {c.dataset_version}"
        )
    b_config, c_config = b.config or {}, c.config or {}
    changed = sorted(k for k in set(b_config) | set(c_config) if b_config.get(k) != c_config.get(k))
    if changed:
        named = ", ".join(changed[:MAX_CONFIG_KEYS_NAMED])
        more = (
            f" and {len(changed) - MAX_CONFIG_KEYS_NAMED} more"
            if len(changed) > MAX_CONFIG_KEYS_NAMED
            else ""
        )
        said.append(f"the experiment config differs from the baseline's: {named}{more}")
    b_runs, c_runs = len(np.unique(baseline.run_iteration)), len(np.unique(candidate.run_iteration))
    if b_runs != c_runs and not pooled:
        said.append(
            f"the baseline has {b_runs} run(s), the candidate {c_runs}: each record's runs are "
            "averaged on each side before pairing"
        )
    return said


def _read_notes(baseline: ExperimentData | None, candidate: ExperimentData) -> list[str]:
    """What reading each side could not establish, named by side."""
    sides = (("baseline", baseline), ("candidate", candidate))
    return [f"{side}: {note}" for side, data in sides if data is not None for note in data.notes]


def _measure(
    baseline: ExperimentData, candidate: ExperimentData, config: GateConfig
) -> tuple[Alignment, Findings]:
    confidence = 1 - 2 * config.alpha
    alignment = align(baseline, candidate)
    found = Findings()
    for part in (
        evaluator_metrics(baseline, candidate, alignment, config, confidence),
        summary_metrics(baseline.summaries, candidate.summaries, config),
        budget_metrics(baseline, candidate, alignment, config, confidence),
    ):
        found.measurements += part.measurements
        found.coverage += part.coverage
        found.warnings += part.warnings
    return alignment, found


def compare(
    baseline: ExperimentData,
    candidate: ExperimentData,
    config: GateConfig | None = None,
    *,
    baseline_reason: str = "",
    baseline_url: str | None = None,
    candidate_url: str | None = None,
) -> Report:
    """Compare `candidate` with `baseline` record by record under the gate `config`."""
    return compare_measured(
        baseline,
        candidate,
        config or GateConfig(),
        baseline_reason=baseline_reason,
        baseline_url=baseline_url,
        candidate_url=candidate_url,
    ).report


@dataclass(frozen=True, slots=True)
class Compared:
    """A report with what it was judged from, for a caller that adds to it (the pooled
    baseline labels regressions made of known-flaky records)."""

    report: Report
    alignment: Alignment | None = None
    measurements: tuple[Measurement, ...] = ()


def compare_measured(
    baseline: ExperimentData,
    candidate: ExperimentData,
    config: GateConfig,
    *,
    baseline_reason: str = "",
    baseline_url: str | None = None,
    candidate_url: str | None = None,
    pooled: bool = False,
) -> Compared:
    """`compare`, keeping the alignment and the measurements. `pooled`: the baseline is
    several base runs put together, which says so itself (no note on its run count)."""
    if candidate.rows == 0:
        return Compared(
            error_report(
                "the candidate experiment has no records: nothing to compare",
                candidate=experiment_ref(candidate.info, candidate, candidate_url),
                baseline=experiment_ref(baseline.info, baseline, baseline_url),
                baseline_reason=baseline_reason,
            )
        )
    if baseline.rows == 0:
        reason = f"the baseline {baseline.info.id} has no records"
        return Compared(
            no_baseline_report(
                candidate,
                config,
                baseline_reason=f"{baseline_reason}; {reason}" if baseline_reason else reason,
                candidate_url=candidate_url,
            )
        )
    alignment, found = _measure(baseline, candidate, config)
    metrics = judge_all(found.measurements, config.alpha)
    sliced = slice_metrics(baseline, candidate, alignment, found.measurements, config)
    gated = [s.metric for s in sliced.slices if s.gated]
    records = record_changes(found.measurements, alignment, baseline, candidate)
    warnings = _differences(baseline, candidate, pooled=pooled) + _read_notes(baseline, candidate)
    if records.baseline_only or records.candidate_only:
        warnings.append(
            f"{records.baseline_only} record(s) are in the baseline only and "
            f"{records.candidate_only} in the candidate only; paired figures leave them out"
        )
    unpaired = [m.name for m in metrics if m.family is not None and not m.paired]
    if unpaired:
        warnings.append(
            "fewer than half of the records pair up, so these are compared as independent "
            f"samples (less power): {', '.join(unpaired)}"
        )
    cand_ref = experiment_ref(candidate.info, candidate, candidate_url)
    base_ref = experiment_ref(baseline.info, baseline, baseline_url)
    report = Report(
        verdict=completeness.judge(overall(metrics + gated), cand_ref, base_ref, config.incomplete),
        candidate=cand_ref,
        baseline=base_ref,
        baseline_reason=baseline_reason,
        metrics=metrics,
        records=records,
        alpha=config.alpha,
        config_source=config.source,
        evaluators=found.coverage,
        # An incomplete side first: a surface that has room for one flag shows that one.
        warnings=completeness.flags(cand_ref, base_ref, config.incomplete)
        + warnings
        + found.warnings
        + sliced.warnings,
        incomplete=config.incomplete,
        slices=sliced.slices,
        slices_skipped=sliced.skipped,
    )
    return Compared(report, alignment, tuple(found.measurements))


def _candidate_only(metric: Metric) -> Metric:
    distribution = None
    if metric.distribution is not None:
        distribution = {k: (None, v[1]) for k, v in metric.distribution.items()}
    return Metric(
        name=metric.name,
        kind=metric.kind,
        direction=metric.direction,
        baseline=None,
        candidate=metric.candidate,
        delta=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        n=metric.n_candidate,
        verdict="inconclusive",
        gate="pass",
        level=metric.level,
        unit=metric.unit,
        n_candidate=metric.n_candidate,
        distribution=distribution,
        notes=["no baseline to compare with"],
    )


def no_baseline_report(
    candidate: ExperimentData,
    config: GateConfig | None = None,
    *,
    baseline_reason: str = "no baseline run was found",
    candidate_url: str | None = None,
    considered: Sequence[ConsideredRun] = (),
) -> Report:
    """Verdict `no_baseline`: neutral, never a failure; the candidate's own figures are listed."""
    config = config or GateConfig()
    metrics: list[Metric] = []
    coverage = []
    if candidate.rows:
        # Measured against itself, every metric carries the candidate's own value.
        _, found = _measure(candidate, candidate, config)
        metrics = [_candidate_only(m) for m in judge_all(found.measurements, config.alpha)]
        coverage = found.coverage
    cand_ref = experiment_ref(candidate.info, candidate, candidate_url)
    return Report(
        verdict=completeness.judge("no_baseline", cand_ref, None, config.incomplete),
        candidate=cand_ref,
        baseline=None,
        baseline_reason=baseline_reason,
        metrics=metrics,
        records=Records(),
        alpha=config.alpha,
        config_source=config.source,
        evaluators=coverage,
        warnings=completeness.flags(cand_ref, None, config.incomplete)
        + _read_notes(None, candidate),
        incomplete=config.incomplete,
        baseline_considered=list(considered),
    )


def error_report(
    message: str,
    *,
    candidate: ExperimentRef | None = None,
    baseline: ExperimentRef | None = None,
    baseline_reason: str = "",
) -> Report:
    """Verdict `error`: the comparison could not be made; `message` says why."""
    return Report(
        verdict="error",
        candidate=candidate,
        baseline=baseline,
        baseline_reason=baseline_reason,
        metrics=[],
        records=Records(),
        warnings=[message],
    )
