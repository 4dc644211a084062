"""A trend as a picture: a Mermaid line chart for GitHub (comments and job summaries render
a fenced `mermaid` block), a sparkline for the terminal. Pure.

The chart is `xychart-beta`, which Mermaid has read since 10.5 and still reads in 11 (GitHub
rendered 11.12 when this was written; tests/external pins the same version and a test
renders the block in Chromium), configured by a frontmatter block (Mermaid 10.5 too). Its x
axis is the base runs' short commits, oldest first, and `candidate` last; its y axis the
metric in its unit (rates in %). Every text in it goes through `escape.mermaid_text`, and
its numbers are plain decimals (Mermaid's grammar has no exponent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from driftgate.compare.schema import Trend, TrendPoint
from driftgate.report.escape import Md, code_block, mermaid_text
from driftgate.report.formats import MISSING, is_rate, number, pct

__all__ = ["CANDIDATE", "mermaid_chart", "point_label", "sparkline", "trend_value", "unit_words"]

CANDIDATE = "candidate"
# Mermaid's configuration for the chart: lower than its 500 px default, so that a comment
# with a few charts stays readable, and a line in GitHub's blue, which reads on its light
# and dark themes alike (the default palette's first colour is a pale lilac).
_FRONTMATTER = (
    "---",
    "config:",
    "  xyChart:",
    "    height: 320",
    "  themeVariables:",
    "    xyChart:",
    '      plotColorPalette: "#0969da"',
    "---",
)
_BARS = "▁▂▃▄▅▆▇█"
_LABEL = 12  # characters of a run's label on the x axis (a short commit is 7)


def unit_words(t: Trend) -> str:
    """What the trend measures: `pass rate, %`, `score` (raw: escape where printed)."""
    return f"{t.unit}, %" if is_rate(t.unit) else (t.unit or "mean")


def trend_value(value: float | None, t: Trend) -> Md:
    """A point's value in the trend's unit: `75.4%`, `0.812`."""
    if value is None:
        return MISSING
    return pct(value) if is_rate(t.unit) else number(value)


def point_label(point: TrendPoint, index: int) -> str:
    """A base run on the x axis: its short commit, else its id (raw: escape where
    printed)."""
    if point.commit:
        return point.commit[:7]
    return point.run_id or f"run {index + 1}"


def _decimal(value: float) -> str:
    """A plain decimal with about four significant digits: Mermaid reads no exponent."""
    if value == 0 or not math.isfinite(value):
        return "0"
    decimals = min(max(3 - math.floor(math.log10(abs(value))), 0), 12)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _axis(values: Sequence[float], rate: bool) -> tuple[float, float]:
    """A y range around the values with some room, on round numbers; rates within 0..100."""
    low, high = min(values), max(values)
    span = high - low
    pad = span * 0.15 if span > 0 else (1.0 if rate else max(abs(high) * 0.05, 1e-6))
    low, high = low - pad, high + pad
    if rate:
        low, high = max(low, 0.0), min(high, 100.0)
    if not math.isfinite(high - low) or high <= low:
        return low, high
    step = 10 ** math.floor(math.log10(high - low)) / 2
    return math.floor(low / step) * step, math.ceil(high / step) * step


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique (a band axis merges equal ones): `a79cf5d`, `a79cf5d-2`."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return out


def mermaid_chart(t: Trend) -> Md:
    """The trend as a fenced `mermaid` block: one line over the base runs, oldest first, and
    the candidate as its last point. Its values must be finite (the view keeps only such
    trends)."""
    scale = 100.0 if is_rate(t.unit) else 1.0
    values = [p.value * scale for p in [*t.points, t.candidate]]
    labels = _unique(
        [mermaid_text(point_label(p, i), _LABEL) or f"run {i + 1}" for i, p in enumerate(t.points)]
        + [CANDIDATE]
    )
    low, high = _axis(values, is_rate(t.unit))
    better = {"higher": ", higher is better", "lower": ", lower is better"}.get(t.direction, "")
    unit = mermaid_text(t.unit or "mean", 30) + (" in percent" if is_rate(t.unit) else "")
    lines = [
        *_FRONTMATTER,
        "xychart-beta",
        f'    title "{mermaid_text(t.metric, 60)} ({unit}{better})"',
        "    x-axis [" + ", ".join(f'"{label}"' for label in labels) + "]",
        f'    y-axis "{unit}" {_decimal(low)} --> {_decimal(high)}',
        "    line [" + ", ".join(_decimal(v) for v in values) + "]",
    ]
    return code_block("\n".join(lines), "mermaid")


def sparkline(t: Trend) -> Md:
    """The base runs then the candidate as block characters, scaled over their range:
    `▆▇▅▇█ → ▂`."""
    values = [p.value for p in t.points]
    every = [*values, t.candidate.value]
    low, high = min(every), max(every)

    def bar(v: float) -> str:
        if high == low:
            return _BARS[3]
        return _BARS[round((v - low) / (high - low) * (len(_BARS) - 1))]

    return Md("".join(bar(v) for v in values) + " → " + bar(t.candidate.value))
