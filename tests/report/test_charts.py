"""The trend as a Mermaid chart and a sparkline (report/charts.py), the Mermaid escaping
(escape.mermaid_text), and what the view makes of a report's trend and history."""

from __future__ import annotations

import html as html_lib
import math
import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftgate.compare.schema import PooledRun, Trend, TrendPoint
from driftgate.report import render_check, render_comment, render_summary, render_terminal
from driftgate.report.charts import mermaid_chart, sparkline
from driftgate.report.escape import mermaid_text
from driftgate.report.limits import CHECK_TEXT_LIMIT, COMMENT_LIMIT, SUMMARY_LIMIT, utf16_length
from driftgate.report.render import COMMENT_DETAILS
from driftgate.report.view import build, drawable_trends, merged_order
from driftgate.result import GateResult, ReportContext
from tests.report.github_html import github_html
from tests.report.hostile_text import hostile
from tests.report.markdown import assert_well_formed, fences
from tests.report.scenarios import CONTEXT, LOCAL_CONTEXT, pooled_result

# What Mermaid would read as more than text in a string, or anywhere before parsing.
UNSAFE = re.compile(r"[\"%{}`#;<>&\[\]\n\r\\]")
STRING = r'"[^"%{}`#;<>&\[\]\\]*"'
NUMBER = r"-?\d+(?:\.\d+)?"
CHART = re.compile(
    rf"""---
config:
  xyChart:
    height: 320
  themeVariables:
    xyChart:
      plotColorPalette: "\#0969da"
---
xychart-beta
    title {STRING}
    x-axis \[{STRING}(?:, {STRING})*\]
    y-axis {STRING} {NUMBER} --> {NUMBER}
    line \[{NUMBER}(?:, {NUMBER})*\]"""
)


def point(value: float, run_id: str = "r", commit: str | None = None) -> TrendPoint:
    return TrendPoint(run_id=run_id, commit=commit, value=value, records=10)


def rate(values: list[float], candidate: float, **kw: str) -> Trend:
    return Trend(
        metric=kw.get("metric", "correct"),
        kind="rate",
        direction="higher",
        unit="pass rate",
        points=[point(v, f"run-{i}", f"{i:07x}abc") for i, v in enumerate(values)],
        candidate=point(candidate, "cand"),
    )


def body(chart: str) -> str:
    (fence,) = fences(chart)
    assert fence.fence == "```" and chart.startswith("```mermaid\n")
    return "\n".join(fence.lines)


@given(hostile(long=False))
def test_mermaid_text_leaves_nothing_mermaid_reads(text: str) -> None:
    shown = mermaid_text(text)
    assert not UNSAFE.search(shown)
    assert shown == shown.strip() and "  " not in shown
    # Letters and digits stay as they were.
    assert mermaid_text("évaluation exact_match 12") == "évaluation exact_match 12"


@given(
    names=st.lists(hostile(long=False), min_size=3, max_size=3),
    values=st.lists(
        st.floats(-1e12, 1e12, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-12),
        min_size=3,
        max_size=12,
    ),
)
def test_a_chart_is_our_grammar_whatever_the_names_and_values(
    names: list[str], values: list[float]
) -> None:
    trend = Trend(
        metric=names[0],
        kind="mean",
        direction="lower",
        unit=names[1],
        points=[point(v, names[2], names[2]) for v in values[:-1]],
        candidate=point(values[-1], names[2]),
    )
    chart = body(mermaid_chart(trend))
    assert CHART.fullmatch(chart), chart
    x_axis = re.search(r"x-axis \[(.*)\]", chart)
    assert x_axis is not None
    labels = re.findall(r'"([^"]*)"', x_axis[1])
    assert len(labels) == len(values) and len(set(labels)) == len(labels)
    assert labels[-1] == "candidate"
    drawn = [float(v) for v in re.findall(NUMBER, chart.split("line [")[1])]
    low, high = (float(v) for v in re.findall(rf"({NUMBER}) --> ({NUMBER})", chart)[0])
    assert low <= min(drawn) and max(drawn) <= high
    for shown, value in zip(drawn, values, strict=True):
        assert math.isclose(shown, value, rel_tol=1e-3, abs_tol=1e-9)


def test_a_rate_is_drawn_in_percent_within_0_and_100() -> None:
    chart = body(mermaid_chart(rate([0.7, 0.75, 1.0], 0.5)))
    assert "line [70, 75, 100, 50]" in chart
    assert 'y-axis "pass rate in percent" 40 --> 100' in chart
    assert 'title "correct (pass rate in percent, higher is better)"' in chart
    assert 'x-axis ["0000000", "0000001", "0000002", "candidate"]' in chart
    flat = body(mermaid_chart(rate([0.0, 0.0], 0.0)))
    assert 'y-axis "pass rate in percent" 0 --> 1' in flat


def test_runs_at_one_commit_get_labels_of_their_own() -> None:
    trend = rate([0.7, 0.75, 0.8], 0.5).model_copy(
        update={"points": [point(0.7, "a", "abc1234ff"), point(0.7, "b", "abc1234ff")]}
    )
    assert 'x-axis ["abc1234", "abc1234-2", "candidate"]' in body(mermaid_chart(trend))


def test_sparkline() -> None:
    assert sparkline(rate([0.7, 0.75, 0.8], 0.5)) == "▆▇█ → ▁"
    assert sparkline(rate([0.5, 0.5], 0.5)) == "▄▄ → ▄"


def test_only_finite_trends_of_two_base_points_are_drawn_the_newest_30() -> None:
    long = rate([0.5 + i / 100 for i in range(40)], 0.5)
    kept = drawable_trends(
        [
            rate([0.7], 0.5),
            rate([0.7, math.nan], 0.5),
            rate([0.7, 0.8], math.inf),
            long,
            rate([0.7, 0.8], 0.6, metric="judge"),
        ]
    )
    assert [len(t.points) for t in kept] == [30, 2]
    assert kept[0].points == long.points[-30:]


def test_runs_missing_from_one_trend_keep_their_place_in_the_table() -> None:
    assert merged_order([["a", "c", "e"], ["a", "b", "c", "d", "e"], ["f", "a"]]) == [
        "f",
        "a",
        "b",
        "c",
        "d",
        "e",
    ]


def test_the_view_draws_regressions_first_and_keeps_the_history_out_of_the_flags() -> None:
    result = pooled_result()
    report = result.reports[0]
    assert report.history is not None
    view = build(result, COMMENT_DETAILS[1]).experiments[0]
    # Two charts in this detail: the failing metrics', in the metrics' order.
    assert [t.metric for t in view.trends] == ["correct", "judge"]
    assert view.hidden_trends == 2 and view.omitted
    assert [row.label for row in view.trend_rows][-1] == "candidate"
    assert [row.pooled for row in view.trend_rows] == [False] * 3 + [True] * 3 + [False]
    assert report.history.change_point in report.warnings
    assert report.history.change_point not in view.warnings
    # The stable regressions first, the known-flaky ones marked.
    flaky = set(report.history.flaky)
    marks = [(r.record.id in flaky, r.flaky) for r in view.flipped]
    assert all(a == b for a, b in marks)
    assert [f for f, _ in marks] == sorted(f for f, _ in marks)
    assert set(view.regressed_ids).isdisjoint(flaky)
    assert set(view.flaky_regressed_ids) <= flaky


@pytest.mark.parametrize("render", [render_comment, render_summary])
def test_the_charts_stay_mermaid_blocks_through_githubs_cmark(
    render: Callable[[GateResult, ReportContext], str],
) -> None:
    """GitHub's cmark keeps each chart a code block of language `mermaid`, its text as
    written: what GitHub hands to Mermaid."""
    markdown = render(pooled_result(), CONTEXT)
    lines = markdown.split("\n")
    bodies = ["\n".join(f.lines) for f in fences(markdown) if lines[f.open_line] == "```mermaid"]
    assert len(bodies) == 4
    # GitHub's form of a code block with a language, the one its Mermaid viewer picks up.
    kept = re.findall(r'<pre lang="mermaid"><code>(.*?)</code></pre>', github_html(markdown), re.S)
    assert [html_lib.unescape(k).rstrip("\n") for k in kept] == bodies
    for chart in bodies:
        assert CHART.fullmatch(chart), chart
    # The same figures for a reader without Mermaid, below the charts.
    assert "<summary>The trend as a table</summary>" in markdown
    assert markdown.index("```mermaid") < markdown.index("The trend as a table")


def test_every_surface_shows_the_pooled_baseline() -> None:
    result = pooled_result()
    for text in (
        render_comment(result, CONTEXT),
        render_summary(result, CONTEXT),
        render_terminal(result, LOCAL_CONTEXT),
    ):
        assert "`a79cf5d`, `1e1f11e`, `2e1f22e`" in text or "| a79cf5db77b2 |" in text
        assert "the base branch changed: run 0b5e1ae0-0000-4000-8000-000000000103" in text
        assert "18 records passed and failed among the pooled runs" in text
        assert re.search(r"known-flaky records.*: judge", text, re.I)
        assert re.search(r"held back.*: quality", text, re.I)


def test_hundreds_of_trends_fit_every_surface() -> None:
    result = pooled_result()
    report = result.reports[0]
    wide = "<|>&*_`[]" * 10
    trends = [
        rate([0.5 + (i * j % 7) / 100 for j in range(30)], 0.4, metric=f"metric_{i}_{wide}")
        for i in range(300)
    ]
    big = result.model_copy(update={"reports": [report.model_copy(update={"trend": trends})]})
    comment = render_comment(big, CONTEXT)
    assert utf16_length(comment) <= COMMENT_LIMIT
    assert 0 < comment.count("```mermaid") <= 4
    assert_well_formed(comment)
    summary = render_summary(big, CONTEXT)
    assert len(summary.encode()) <= SUMMARY_LIMIT
    assert summary.count("```mermaid") >= 4
    assert_well_formed(summary)
    check = render_check(big, CONTEXT)
    assert check.text is not None and utf16_length(check.text) <= CHECK_TEXT_LIMIT
    assert "```mermaid" not in check.text + check.summary


def test_a_long_history_lists_its_first_runs_and_counts_the_rest() -> None:
    result = pooled_result()
    report = result.reports[0]
    assert report.history is not None
    runs = [
        PooledRun(id=f"run-{i:02d}", commit=f"{i:02d}" * 20, runs=1, pooled=i < 25)
        for i in range(50)
    ]
    history = report.history.model_copy(update={"runs": runs, "pooled": 25, "considered": 50})
    long = result.model_copy(update={"reports": [report.model_copy(update={"history": history})]})
    terminal = render_terminal(long, LOCAL_CONTEXT)
    assert "| run-19 |" in terminal and "| run-20 |" not in terminal
    assert "...and 30 more runs (in report.json)." in terminal
    summary = render_summary(long, CONTEXT)
    assert "…and 30 more runs, in report.json." in summary
    assert "`1919191` and 5 more, newest first; 25 older runs left out." in summary
