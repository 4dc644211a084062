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
    "amount",
    "arrow",
    "change",
    "count",
    "duration",
    "gate_badge",
    "interval",
    "is_rate",
    "level",
    "metric_value",
    "metric_verdict",
    "min_effect",
    "number",
    "pct",
    "pts",
    "pvalue",
    "record_value",
    "relative",
    "shown_interval",
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


def level(confidence: float | None) -> Md:
    """A confidence level with the digits that tell it from 100%: 90%, 97.8%, 99.95%."""
    v = _finite(confidence)
    if v is None:
        return MISSING
    miss = (1 - v) * 100
    if miss <= 0:
        return Md("100%")
    decimals = 1 if miss >= 1 else 1 - math.floor(math.log10(miss))
    text = f"{v * 100:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Md(f"{text}%")


def shown_interval(metric: Metric) -> tuple[float | None, float | None, float | None]:
    """The interval a reader sees beside the verdict, and its level: for `unchanged`, the
    1 - 2 alpha interval that lies within the minimum effect (the equivalence test); else
    the interval at the level the adjusted p-value was held to, which excludes 0 when that
    p-value is below alpha (docs/statistics.md)."""
    adjusted = (metric.ci_low_adjusted, metric.ci_high_adjusted, metric.confidence_adjusted)
    if metric.verdict == "unchanged" or None in adjusted:
        return metric.ci_low, metric.ci_high, metric.confidence
    return adjusted


def interval(metric: Metric) -> Md:
    """The confidence interval of the change: [-34.5, -7.6] pts, [-0.27, -0.065]; with its
    level when it is not the report's 1 - 2 alpha: [-38.1, -4.0] pts at 98.9%."""
    shown_low, shown_high, confidence = shown_interval(metric)
    low, high = _finite(shown_low), _finite(shown_high)
    if low is None or high is None:
        return MISSING
    unit = " pts" if is_rate(metric.unit) else ""
    at = ""
    default = metric.confidence
    if confidence is not None and default is not None and abs(confidence - default) > 1e-9:
        at = f" at {level(confidence)}"
    return Md(f"[{_bound(low, metric)}, {_bound(high, metric)}]{unit}{at}")


def amount(value: float | None, metric: Metric) -> Md:
    """A size of change in the metric's unit, unsigned: 6.1 pts, 0.042, 120 ms."""
    v = _finite(value)
    if v is None:
        return MISSING
    if is_rate(metric.unit):
        return Md(f"{abs(v) * 100:.1f} pts")
    if metric.unit == "seconds":
        return duration(abs(v))
    return number(abs(v))


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


# A relative change a reader questions beside `unchanged`: say what covered it.
_NOTABLE_RELATIVE = 0.1


def metric_verdict(metric: Metric, alpha: float | None = None, *, plain: bool = False) -> Md:
    """The verdict as a reader needs it: `not gated` for a metric at level off (its verdict
    moves nothing); for `inconclusive`, what would have settled it (the smallest change
    this sample could detect, or that the change found is within the minimum effect); for
    an `unchanged` change that only the minimum effect covers (latency's 50 ms), that.
    `plain`: no Markdown emphasis (the terminal)."""
    if metric.level == "off":
        return Md("not gated")
    verdict = metric.verdict
    said = verdict if plain else _METRIC_VERDICT[verdict]
    tolerance = _finite(metric.min_effect)
    p = _finite(metric.p_value)
    if verdict == "inconclusive":
        if p is not None and alpha is not None and p < alpha and tolerance is not None:
            return Md(f"{said} (significant, but within ±{amount(tolerance, metric)})")
        if _finite(metric.mde) is not None:
            return Md(f"{said} (could detect ≥ {amount(metric.mde, metric)})")
    relative = _finite(metric.relative_delta)
    if (
        verdict == "unchanged"
        and p is None
        and tolerance
        and _finite(metric.delta)
        and (relative is None or abs(relative) >= _NOTABLE_RELATIVE)
    ):
        return Md(f"{said} (within ±{amount(tolerance, metric)})")
    return Md(said)


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
