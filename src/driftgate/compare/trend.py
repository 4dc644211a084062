"""A trend: each gated metric over the base branch's recent runs and the candidate. Pure.

Each point is one run measured on its own, as the report measures a side: the metric's
per-row values (what "pass" means for the gate: `gated.pass_fail`), averaged per record
over the run's iterations, then over the records that have a value. So the candidate's point
is its own figure over all of its records; the report's "candidate" column is over the
records both sides have, and the two differ only when the sides' records do.

The gated metrics are the candidate's: its evaluators at a level other than "off" that the
gate tests (pass/fail, scores, categories with an assessment or `pass_values`), and the
task error rate when its budget is gated. A base run lacking a metric (or whose evaluator
has another type) is no point of that metric's trend. A trend needs two base points: with
one, there is no line to draw, and `compare_pooled` of one run stays `compare`'s report.

What a trend is not: a test. The gate's verdict comes from the comparison; the trend shows
the reader where the candidate sits among the base branch's recent runs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from driftgate.compare.gated import KINDS, pass_fail
from driftgate.compare.pairing import Codes, record_means
from driftgate.compare.schema import MetricDirection, Trend, TrendKind, TrendPoint
from driftgate.config import GateConfig
from driftgate.experiments.models import ExperimentData, FloatArray

__all__ = ["DEFAULT_TREND_POINTS", "MIN_BASE_POINTS", "trend"]

DEFAULT_TREND_POINTS = 10
MIN_BASE_POINTS = 2
ERRORS = "errors"


def _gated(
    candidate: ExperimentData, config: GateConfig
) -> list[tuple[str, TrendKind, MetricDirection, str]]:
    """The candidate's gated metrics, in the report's order: evaluators by label, then the
    task error rate; each with its kind, direction and unit."""
    found: list[tuple[str, TrendKind, MetricDirection, str]] = []
    for label in sorted(candidate.evaluators):
        column = candidate.evaluators[label]
        kind = KINDS.get(column.metric_type)
        if kind is None:
            continue
        policy = config.policy(label, kind)
        if policy.level == "off" or pass_fail(column, config) is None:
            continue
        if kind == "score":
            found.append((label, "mean", policy.direction, "score"))
        else:
            found.append((label, "rate", policy.direction, "pass rate"))
    if config.budgets.errors.level != "off":
        found.append((ERRORS, "rate", "lower", "error rate"))
    return found


def _codes(data: ExperimentData) -> tuple[Codes, int]:
    """Each row's record index, and how many records."""
    _, codes = np.unique(np.asarray(data.record_key, dtype=object), return_inverse=True)
    return codes.astype(np.intp), int(codes.max()) + 1 if len(codes) else 0


def _value(records: tuple[Codes, int], values: FloatArray) -> tuple[float, int] | None:
    """The run's figure: per-record means of the finite values, averaged; and how many
    records have one. None when no record has a value."""
    means, counts = record_means(records[0], values, records[1])
    has = counts > 0
    if not has.any():
        return None
    return float(means[has].mean()), int(has.sum())


def _point(data: ExperimentData, value: tuple[float, int], pooled: bool) -> TrendPoint:
    return TrendPoint(
        run_id=data.info.id,
        commit=data.info.commit,
        created_at=data.info.recorded_at,  # a copy: when the original ran
        value=value[0],
        records=value[1],
        pooled=pooled,
    )


def trend(
    history: Sequence[ExperimentData],
    candidate: ExperimentData,
    config: GateConfig | None = None,
    *,
    max_points: int = DEFAULT_TREND_POINTS,
    pooled: Collection[str] = (),
) -> list[Trend]:
    """Each gated metric of `candidate` over the newest `max_points` runs of `history` that
    have records (base-branch runs, newest first, as `compare_pooled` takes them) and the
    candidate; the points oldest first. `pooled`: the ids of the runs a pooled baseline was
    drawn from, marked on their points. Metrics with fewer than two base points are left
    out; so is everything when the candidate has no records."""
    config = config or GateConfig()
    if candidate.rows == 0:
        return []
    runs = [data for data in history if data.rows][: max(max_points, 0)]
    if len(runs) < MIN_BASE_POINTS:
        return []
    pooled_ids = set(pooled)
    # One pass over each run's record keys, shared by every metric.
    records = {id(data): _codes(data) for data in [*runs, candidate]}
    trends: list[Trend] = []
    for name, kind, direction, unit in _gated(candidate, config):
        column = candidate.evaluators.get(name)
        metric_type = column.metric_type if column is not None else None
        own = _values(candidate, name, metric_type, config)
        cand = _value(records[id(candidate)], own) if own is not None else None
        if cand is None:
            continue
        points = []
        for data in reversed(runs):
            values = _values(data, name, metric_type, config)
            value = _value(records[id(data)], values) if values is not None else None
            if value is not None:
                points.append(_point(data, value, data.info.id in pooled_ids))
        if len(points) < MIN_BASE_POINTS:
            continue
        trends.append(
            Trend(
                metric=name,
                kind=kind,
                direction=direction,
                unit=unit,
                points=points,
                candidate=_point(candidate, cand, False),
            )
        )
    return trends


def _values(
    data: ExperimentData, name: str, metric_type: str | None, config: GateConfig
) -> FloatArray | None:
    """The metric's per-row values in `data` (NaN: none), when `data` has it with the same
    type as the candidate's."""
    if metric_type is None:
        return data.task_error.astype(np.float64) if name == ERRORS else None
    column = data.evaluators.get(name)
    if column is None or column.metric_type != metric_type:
        return None
    return pass_fail(column, config)
