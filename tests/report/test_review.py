"""What a reviewer reads on GitHub: records headed by their input with the id as a tooltip,
every run's output, the task's error, verdicts that say what would settle them."""

from __future__ import annotations

import pytest

from driftgate.compare.schema import FlippedRecord, Metric, RunOutputs
from driftgate.report import render_check, render_comment, render_summary, render_terminal
from driftgate.report.formats import interval, level, metric_verdict
from driftgate.report.view import input_summary, outputs_line
from tests.report.github_html import github_html, read, tables
from tests.report.markdown import assert_well_formed
from tests.report.scenarios import CONTEXT, NAME_ERROR, review_report, review_result

FIRST_ID = "0000000000000000a1b2c3d4e5f60000"


def _surfaces() -> dict[str, str]:
    result = review_result()
    return {
        "comment": render_comment(result, CONTEXT),
        "check text": render_check(result, CONTEXT).text or "",
        "summary": render_summary(result, CONTEXT),
    }


@pytest.mark.parametrize("surface", ["comment", "check text", "summary"])
def test_records_are_headed_by_their_input_with_the_id_as_a_tooltip(surface: str) -> None:
    markdown = _surfaces()[surface]
    assert_well_formed(markdown)
    html = read(markdown)
    titles = [attrs.get("title") for tag, attrs in html.elements if tag == "abbr"]
    assert FIRST_ID in titles  # cmark keeps it, and so does GitHub's sanitizer
    records = next(t for t in tables(github_html(markdown)) if t[0][1] == "Record")
    first = records[1]
    assert first[1] == "country: New Zealand · difficulty: easy (difficulty:easy)"
    assert first[2] == "correct 67% pass → 33% pass"
    # Each side's runs, not the first run's answer twice.
    assert first[4:] == ["Wellington x2 · Auckland x1", "Auckland x2 · Wellington x1"]
    raised = next(row for row in records if row[1].startswith("country: Morocco"))
    assert raised[5] == f"error x3: {NAME_ERROR}"


def test_verdicts_say_not_gated_and_what_would_settle_them() -> None:
    comment = _surfaces()["comment"]
    metrics = {row[0]: row for row in tables(github_html(comment))[0][1:]}
    assert metrics["accuracy"][5] == "not gated"
    assert metrics["errors"][5] == "inconclusive (could detect ≥ 15.2 pts)"
    assert metrics["correct"][3] == "[-45.4, -7.4] pts at 95.5%"


def _metric(**update: object) -> Metric:
    base = next(m for m in review_report().metrics if m.name == "errors")
    return base.model_copy(update=update)


def test_an_inconclusive_significant_change_says_it_is_within_the_minimum_effect() -> None:
    m = _metric(p_value=0.01, min_effect=0.02)
    assert metric_verdict(m, 0.05) == "inconclusive (significant, but within ±2.0 pts)"
    assert metric_verdict(m) == "inconclusive (could detect ≥ 15.2 pts)"  # alpha unknown


def test_an_unchanged_descriptive_change_says_the_tolerance_covered_it() -> None:
    latency = next(m for m in review_report().metrics if m.name == "latency_p95")
    moved = latency.model_copy(update={"delta": 0.004, "relative_delta": 4.07})
    assert metric_verdict(moved, 0.05) == "unchanged (within ±410 ms)"
    assert metric_verdict(latency, 0.05) == "unchanged"
    small = moved.model_copy(update={"delta": 0.00001, "relative_delta": 0.004})
    assert metric_verdict(small, 0.05) == "unchanged"  # -0.4%: nothing to explain
    assert metric_verdict(moved.model_copy(update={"verdict": "regressed"})) == "**regressed**"
    assert metric_verdict(moved.model_copy(update={"verdict": "regressed"}), plain=True) == (
        "regressed"
    )


def test_unchanged_shows_the_interval_it_was_read_from() -> None:
    m = _metric(
        verdict="unchanged",
        ci_low=-0.01,
        ci_high=0.01,
        confidence=0.9,
        ci_low_adjusted=-0.03,
        ci_high_adjusted=0.03,
        confidence_adjusted=0.99,
    )
    assert interval(m) == "[-1.0, +1.0] pts"
    assert interval(m.model_copy(update={"verdict": "inconclusive"})) == "[-3.0, +3.0] pts at 99%"
    # A report from before the adjusted intervals (a fork's artifact): the one it has.
    old = m.model_copy(update={"verdict": "inconclusive", "ci_low_adjusted": None})
    assert interval(old) == "[-1.0, +1.0] pts"


@pytest.mark.parametrize(
    ("confidence", "shown"),
    [(0.9, "90%"), (0.955, "95.5%"), (0.97778, "97.8%"), (0.9967, "99.67%"), (0.9995, "99.95%")],
)
def test_level(confidence: float, shown: str) -> None:
    assert level(confidence) == shown


def test_input_summary() -> None:
    assert input_summary('{"country":"Canada","difficulty":"medium"}') == (
        "country: Canada · difficulty: medium"
    )
    assert input_summary('{"q": {"nested": 1}}') == '{"q": {"nested": 1}}'
    assert input_summary("What is the capital of Canada?") == "What is the capital of Canada?"
    assert input_summary("  ", "rec-1") == "rec-1"


def test_outputs_line() -> None:
    runs = [RunOutputs(output="Wellington", runs=2), RunOutputs(output="", runs=1, error="boom")]
    assert outputs_line(runs, 3, "x") == "Wellington x2 · error x1: boom"
    assert outputs_line(runs[:1], 4, "x") == "Wellington x2 · 2 more runs with other outputs"
    assert outputs_line([RunOutputs(output="Paris", runs=1)], 1, "x") == "Paris"
    assert outputs_line([], 0, "the first run's") == "the first run's"


def test_tags_follow_the_title_when_the_data_has_them() -> None:
    report = review_report()
    first = report.records.flipped[0]
    tagged = first.model_copy(update={"tags": ["difficulty:easy", "region:oceania"]})
    assert isinstance(tagged, FlippedRecord)
    records = report.records.model_copy(update={"flipped": [tagged]})
    result = review_result().model_copy(
        update={"reports": [report.model_copy(update={"records": records})]}
    )
    comment = render_comment(result, CONTEXT)
    assert (
        "country: New Zealand · difficulty: easy (difficulty:easy, region:oceania)</abbr>"
        in comment
    )
    assert "\n- tags: difficulty:easy, region:oceania\n" in render_terminal(result, CONTEXT)
