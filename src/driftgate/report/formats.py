"""Numbers as the report shows them. Each returns `Md`: our own text, safe anywhere.

Units follow the report model: pass and error rates are fractions (shown as percentages,
their changes in percentage points), latency is in seconds (shown in µs, ms, s or min),
tokens and cost are per record, scores and summary values on their own scale. Missing
values show as an em dash.
"""

from __future__ import annotations

import math

from driftgate.compare.schema import Metric, MetricVerdict
from driftgate.report.escape import Md, md_text
from driftgate.verdict import Verdict

__all__ = [
    "MISSING",
    "arrow",
    "change",
    "count",
    "duration",
    "gate_badge",
    "interval",
    "is_rate",
    "metric_value",
    "metric_verdict",
    "min_effect",
    "number",
    "pct",
    "pts",
    "pvalue",
    "record_value",
    "relative",
    "trend",
    "verdict_badge",
    "verdict_emoji",
    "verdict_word",
]

MISSING = Md("—")
RATE_UNITS = frozenset({"pass rate", "error rate"})

_VERDICT_EMOJI: dict[Verdict, str] = {
    "pass": "✅",
    "warn": "⚠️",
    "fail": "❌",
    "no_baseline": "⚪",
    "error": "🛑",
}
_VERDICT_WORD: dict[Verdict, str] = {
    "pass": "passed",
    "warn": "warning",
    "fail": "failed",
    "no_baseline": "no baseline",
    "error": "error",
}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def is_rate(unit: str) -> bool:
    return unit in RATE_UNITS


def number(value: float | None, digits: int = 3, *, signed: bool = False) -> Md:
    """`digits` significant digits, never fewer than the integer part has (12,345 stays
    12,345); thousands separated; scientific only for the very small or very large."""
    v = _finite(value)
    if v is None:
        return MISSING
    sign = "+" if signed and v > 0 else ""
    if v == 0:
        return Md("0")
    size = abs(v)
    if size >= 1e12 or size < 1e-4:
        return Md(f"{v:{'+' if signed else ''}.{digits}g}")
    if size >= 10 ** (digits - 1):
        return Md(f"{sign}{v:,.0f}")
    rounded = float(f"{v:.{digits}g}")
    decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    text = f"{rounded:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Md(sign + text)


def pct(fraction: float | None, decimals: int = 1) -> Md:
    """A fraction 0..1 as a percentage: 0.7719 -> 77.2%."""
    v = _finite(fraction)
    return MISSING if v is None else Md(f"{v * 100:.{decimals}f}%")


def pts(delta: float | None, decimals: int = 1) -> Md:
    """A change of a fraction in percentage points: -0.2105 -> -21.1 pts."""
    v = _finite(delta)
    if v is None:
        return MISSING
    return Md(f"{0.0:.{decimals}f} pts" if v == 0 else f"{v * 100:+.{decimals}f} pts")


def relative(fraction: float | None) -> Md:
    """A relative change: -0.279 -> -28%, 0.004 -> +0.4%."""
    v = _finite(fraction)
    if v is None:
        return MISSING
    if v == 0:
        return Md("0%")
    return Md(f"{v * 100:+.1f}%" if abs(v) < 0.1 else f"{v * 100:+.0f}%")


def duration(seconds: float | None, *, signed: bool = False) -> Md:
    """Seconds in the unit that reads best: 850 µs, 1.76 ms, 1.23 s, 2 min 5 s, 1 h 2 min."""
    v = _finite(seconds)
    if v is None:
        return MISSING
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    size = abs(v)
    if size == 0:
        return Md("0 s")
    if size < 1e-3:
        return Md(f"{sign}{number(size * 1e6)} µs")
    if size < 1:
        return Md(f"{sign}{number(size * 1e3)} ms")
    if size < 60:
        return Md(f"{sign}{number(size)} s")
    whole = round(size)
    if whole < 3600:
        return Md(f"{sign}{whole // 60} min {whole % 60} s")
    return Md(f"{sign}{whole // 3600} h {whole % 3600 // 60} min")


def pvalue(p: float | None) -> Md:
    v = _finite(p)
    if v is None:
        return MISSING
    if v < 0.001:
        return Md("<0.001")
    return Md(f"{v:.2g}")


def metric_value(value: float | None, metric: Metric) -> Md:
    """A value of `metric` in its unit."""
    if is_rate(metric.unit):
        return pct(value)
    if metric.unit == "seconds":
        return duration(value)
    return number(value)


def change(metric: Metric) -> Md:
    """The metric's delta in its unit, signed, with the relative change for non-rates."""
    if metric.delta is None:
        return MISSING
    if is_rate(metric.unit):
        return pts(metric.delta)
    shown = (
        duration(metric.delta, signed=True)
        if metric.unit == "seconds"
        else number(metric.delta, signed=True)
    )
    if metric.relative_delta is not None and metric.delta != 0:
        return Md(f"{shown} ({relative(metric.relative_delta)})")
    return shown


def _bound(value: float, metric: Metric) -> str:
    if value == 0:
        return "0"
    if is_rate(metric.unit):
        return f"{value * 100:+.1f}"
    if metric.unit == "seconds":
        return duration(value, signed=True)
    return number(value, signed=True)


def interval(metric: Metric) -> Md:
    """The confidence interval of the change: [-34.5, -7.6] pts, [-0.27, -0.065]."""
    low, high = _finite(metric.ci_low), _finite(metric.ci_high)
    if low is None or high is None:
        return MISSING
    unit = " pts" if is_rate(metric.unit) else ""
    return Md(f"[{_bound(low, metric)}, {_bound(high, metric)}]{unit}")


def min_effect(metric: Metric) -> Md:
    """The tolerance in the metric's unit, with the rule when it was relative: ±2.0 pts,
    ±0.0158 (2%)."""
    v = _finite(metric.min_effect)
    if v is None:
        return MISSING
    if is_rate(metric.unit):
        shown = f"±{v * 100:.1f} pts"
    elif metric.unit == "seconds":
        shown = f"±{duration(v)}"
    else:
        shown = f"±{number(v)}"
    rule = metric.min_effect_rule
    # As configured, or as a report.json handed to `driftgate publish` says: data.
    return Md(f"{shown} ({md_text(rule)})" if rule.endswith("%") else shown)


def arrow(metric: Metric) -> Md:
    """Which way the metric moved, red when that way is worse for it: 🔻/🔺 worse, ▼/▲
    better (or no better and worse, for categories), nothing when it did not move."""
    delta = _finite(metric.delta)
    if not delta:
        return Md("")
    up = delta > 0
    worse = (metric.direction == "higher" and not up) or (metric.direction == "lower" and up)
    if worse:
        return Md("🔺" if up else "🔻")
    return Md("▲" if up else "▼")


def trend(metric: Metric) -> Md:
    """The change with its arrow in front: `🔻 -21.1 pts`."""
    mark = arrow(metric)
    shown = change(metric)
    return Md(f"{mark} {shown}") if mark else shown


def record_value(value: float | None, unit: str) -> Md:
    """A record's own value (its runs averaged): pass/fail for a rate when all its runs
    agree, else the share of runs; scores on their scale."""
    v = _finite(value)
    if v is None:
        return MISSING
    if unit == "error rate":
        return Md("error" if v == 1 else "ok" if v == 0 else f"{v:.0%} errors")
    if is_rate(unit):
        return Md("pass" if v == 1 else "fail" if v == 0 else f"{v:.0%} pass")
    if unit == "seconds":
        return duration(v)
    return number(v)


def verdict_emoji(verdict: Verdict) -> Md:
    return Md(_VERDICT_EMOJI[verdict])


def verdict_word(verdict: Verdict) -> Md:
    return Md(_VERDICT_WORD[verdict])


def verdict_badge(verdict: Verdict) -> Md:
    """`❌ failed`: the overall verdict of an experiment or a run."""
    return Md(f"{_VERDICT_EMOJI[verdict]} {_VERDICT_WORD[verdict]}")


_METRIC_VERDICT: dict[MetricVerdict, str] = {
    "regressed": "**regressed**",
    "improved": "improved",
    "unchanged": "unchanged",
    "inconclusive": "inconclusive",
}


def metric_verdict(metric: Metric) -> Md:
    return Md(_METRIC_VERDICT[metric.verdict])


def gate_badge(metric: Metric) -> Md:
    """What the metric does to the gate: ❌ fail, ⚠️ warn, pass, or off (not gated)."""
    if metric.gate == "fail":
        return Md("❌ fail")
    if metric.gate == "warn":
        return Md("⚠️ warn")
    return Md("off" if metric.level == "off" else "pass")


def count(n: int, singular: str, plural: str | None = None) -> Md:
    """`1 record`, `20,000 records`."""
    word = singular if n == 1 else (plural or singular + "s")
    return Md(f"{n:,} {word}")
