"""The verdicts of a report that was computed elsewhere (a fork's artifact), derived again
from the numbers it carries, with the rules of `rules.py`.

A report read back is data, and its `verdict` and `gate` fields are claims: a report that
says `pass` over a metric whose change is significant and beyond its minimum effect is
re-judged `fail`. What can be derived is derived:

- a tested metric: from its change (`delta`, else candidate - baseline), its interval, its
  adjusted one-sided p-value (which, as `judge` writes it, is the test in the direction of
  the observed change) and its minimum effect, at the report's alpha;
- a descriptive one (latency, summary evaluators: no test): from the observed change;
- a category distribution without an assessment: never gated;
- the gate from the verdict and the metric's level; the report's verdict from the gates
  (`overall`), except that an error stays an error and a report without a baseline has
  none to compare with; then an incomplete side (fewer task spans in a run than the
  dataset's records, both counts carried by the report) at the report's `incomplete` level.

The numbers themselves (and the levels, alpha and minimum effects, which come from the
configuration of the pull request's run) cannot be checked here: they are what the pull
request's code computed.

Pure: no I/O.
"""

from __future__ import annotations

import math

from driftgate.compare.completeness import judge
from driftgate.compare.rules import decide, overall
from driftgate.compare.schema import Gate, Metric, MetricVerdict, Report, Slice
from driftgate.config import GateConfig
from driftgate.verdict import Verdict

__all__ = ["recheck_metric", "recheck_report"]

# The configuration's own bounds on alpha: outside them, the default applies.
_DEFAULT_ALPHA = GateConfig.model_fields["alpha"].default
_DESCRIPTIVE_KINDS = frozenset({"latency", "summary"})


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _alpha(value: float | None) -> float:
    alpha = _finite(value)
    return alpha if alpha is not None and 0 < alpha < 0.5 else float(_DEFAULT_ALPHA)


def _verdict(metric: Metric, alpha: float) -> MetricVerdict:
    if metric.direction == "none":
        # Categories without better or worse: a shift is reported, never gated.
        p = _finite(metric.p_value)
        if metric.distribution is None or p is None:
            return "inconclusive"
        return "inconclusive" if p < alpha else "unchanged"
    delta = _finite(metric.delta)
    base, cand = _finite(metric.baseline), _finite(metric.candidate)
    if delta is None and base is not None and cand is not None:
        delta = cand - base
    sign = -1.0 if metric.direction == "lower" else 1.0
    good = None if delta is None else sign * delta
    tolerance = abs(_finite(metric.min_effect) or 0.0)
    descriptive = metric.kind in _DESCRIPTIVE_KINDS or metric.method == "descriptive"
    low, high = _finite(metric.ci_low), _finite(metric.ci_high)
    interval = None
    if low is not None and high is not None:
        interval = (min(low, high), max(low, high))
        if sign < 0:
            interval = (-interval[1], -interval[0])
    p = _finite(metric.p_value)
    p_worse = p_better = None
    if p is not None and good is not None:
        # The p-value is the test in the direction of the observed change; the other
        # direction's test cannot be significant then.
        p_worse, p_better = (p, 1.0) if good < 0 else (1.0, p)
    return decide(good, interval, p_worse, p_better, tolerance, alpha, descriptive=descriptive)


def recheck_metric(metric: Metric, alpha: float | None) -> Metric:
    """`metric` with its verdict and gate derived from its numbers."""
    verdict = _verdict(metric, _alpha(alpha))
    gate: Gate = "pass"
    if verdict == "regressed" and metric.direction != "none" and metric.level != "off":
        gate = "fail" if metric.level == "fail" else "warn"
    if verdict == metric.verdict and gate == metric.gate:
        return metric
    return metric.model_copy(update={"verdict": verdict, "gate": gate})


def _recheck_slice(item: Slice, alpha: float | None) -> Slice:
    # An exploratory slice never gates, whatever its numbers: its level says so ("off").
    metric = recheck_metric(item.metric, item.alpha if item.alpha is not None else alpha)
    if not item.gated and metric.gate != "pass":
        metric = metric.model_copy(update={"gate": "pass"})
    return item if metric is item.metric else item.model_copy(update={"metric": metric})


def recheck_report(report: Report) -> Report:
    """`report` with every metric's verdict and gate, its gated slices', and its own
    verdict, derived again."""
    metrics = [recheck_metric(m, report.alpha) for m in report.metrics]
    slices = [_recheck_slice(s, report.alpha) for s in report.slices]
    verdict: Verdict
    if report.verdict == "error":
        verdict = report.verdict
    elif report.baseline is None:
        verdict = "no_baseline"
    else:
        verdict = overall(metrics + [s.metric for s in slices if s.gated])
    verdict = judge(verdict, report.candidate, report.baseline, report.incomplete)
    return report.model_copy(update={"metrics": metrics, "slices": slices, "verdict": verdict})
