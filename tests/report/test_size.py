"""Every surface stays under GitHub's limits by itself, keeping the headline and saying
where the rest is, however large the regression."""

from __future__ import annotations

import pytest

from driftgate.action import github
from driftgate.compare import compare
from driftgate.compare.schema import FlippedRecord, Metric, MetricChange, Records
from driftgate.report import (
    limits,
    render_check,
    render_comment,
    render_summary,
    status_description,
)
from driftgate.report.escape import md_text
from driftgate.report.limits import utf16_length
from driftgate.result import DEFAULT_FULL_REPORT_NOTE, GateResult, ReportContext
from tests.compare.builders import column, experiment, keys
from tests.report.markdown import assert_well_formed
from tests.report.scenarios import CONTEXT, HEAD_SHA, command, fail_report

NOTE = md_text(DEFAULT_FULL_REPORT_NOTE)
# Texts that double in size when escaped, the worst case for the budget.
WIDE = "<|>&*_`[]" * 25


def _metric(i: int) -> Metric:
    return Metric(
        name=f"evaluator_{i:03d}_{WIDE[:60]}",
        kind="boolean",
        direction="higher",
        baseline=0.9,
        candidate=0.5 if i % 3 == 0 else 0.9,
        delta=-0.4 if i % 3 == 0 else 0.0,
        ci_low=-0.5,
        ci_high=-0.3,
        p_value=0.001,
        n=20_000,
        verdict="regressed" if i % 3 == 0 else "unchanged",
        gate="fail" if i % 3 == 0 else "pass",
        level="fail",
        unit="pass rate",
        notes=[f"note {WIDE}"],
    )


def _huge() -> GateResult:
    """300 metrics, and 20,000 regressed records each with its texts (more than `compare`
    ever keeps: the renderer must not rely on that cap)."""
    n = 20_000
    ids = [f"record-{i:05d}-{WIDE[:40]}" for i in range(n)]
    flipped = [
        FlippedRecord(
            id=rid,
            direction="regressed",
            changes=[MetricChange(name=f"evaluator_000_{WIDE[:60]}", baseline=1.0, candidate=0.0)],
            input=WIDE[:200],
            expected=WIDE[:200],
            baseline_output=WIDE[:200],
            candidate_output=WIDE[:200],
        )
        for rid in ids
    ]
    report = fail_report().model_copy(
        update={
            "metrics": [_metric(i) for i in range(300)],
            "records": Records(
                compared=n,
                regressed=ids,
                flipped=flipped,
                regressed_count=n,
                truncated=False,
            ),
            "warnings": [f"warning {i} {WIDE}" for i in range(500)],
        }
    )
    tail = "\n".join(f"line {i} " + "x" * 2_000 for i in range(60))
    return GateResult(reports=[report], command=command(1, tail=tail), notes=[f"note {WIDE}"] * 50)


@pytest.fixture(scope="module")
def huge() -> GateResult:
    return _huge()


def _comment(result: GateResult, ctx: ReportContext = CONTEXT) -> str:
    """The comment as the Action renders it: within the room github.py's markers leave."""
    return render_comment(result, ctx, github.comment_room(ctx.repository or "", ctx.pipeline))


def _assert_fits_comment(body: str) -> None:
    marker = github.comment_marker(CONTEXT.repository or "", CONTEXT.pipeline)
    composed, truncated = github._compose(marker, HEAD_SHA, body)
    assert not truncated, "github.py had to cut: the renderer's budget is wrong"
    assert utf16_length(composed) <= limits.COMMENT_LIMIT


def test_comment_fits_with_headline_and_note(huge: GateResult) -> None:
    body = _comment(huge)
    _assert_fits_comment(body)
    assert body.startswith("## ❌ driftgate · answers: failed\n")
    assert NOTE in body
    assert "…and 20,000 more records" in body or "20,000 records regressed" in body
    assert_well_formed(body)


def test_comment_stays_compact_even_when_it_would_fit(huge: GateResult) -> None:
    body = _comment(huge)
    rows = [line for line in body.split("\n") if line.startswith("| evaluator_")]
    assert 0 < len(rows) <= 25
    # Regressions first: every row shown is a regression (100 of the 300 are).
    assert all("**regressed**" in row for row in rows)
    assert "more metrics (" in body


def test_check_fits(huge: GateResult) -> None:
    check = render_check(huge, CONTEXT)
    assert utf16_length(check.title) <= limits.CHECK_TITLE_LIMIT
    assert utf16_length(check.summary) <= limits.CHECK_TEXT_LIMIT
    assert check.text is not None
    assert utf16_length(check.text) <= limits.CHECK_TEXT_LIMIT
    assert NOTE in check.summary and NOTE in check.text
    assert check.title.startswith("❌ Failed: 100 metrics regressed: evaluator_000")
    assert_well_formed(check.summary)
    assert_well_formed(check.text)
    assert len(status_description(huge)) <= limits.STATUS_DESCRIPTION_LIMIT


def test_job_summary_fits_a_mebibyte(huge: GateResult) -> None:
    text = render_summary(huge, CONTEXT)
    assert len(text.encode("utf-8")) <= limits.SUMMARY_LIMIT
    assert text.startswith("## ❌ driftgate · answers: failed\n")
    assert NOTE in text
    # Richer than the comment: many more of the records are there.
    assert text.count("| 🔻 |") > 20
    assert_well_formed(text)


def test_a_real_20000_record_regression() -> None:
    n = 20_000
    ids = keys(n)
    base = experiment(ids, evaluators=[column("correct", "boolean", [1] * n)])
    cand = experiment(
        ids,
        evaluators=[column("correct", "boolean", [0] * n)],
        outputs=["```</details>@octocat|" * 20] * n,
    )
    result = GateResult(reports=[compare(base, cand)], command=command())
    body = _comment(result)
    _assert_fits_comment(body)
    assert "20,000 records regressed" in body
    assert_well_formed(body)
    check = render_check(result, CONTEXT)
    assert check.text is not None and utf16_length(check.text) <= limits.CHECK_TEXT_LIMIT


def test_hundreds_of_experiments_are_cut_by_the_renderer_not_github() -> None:
    report = fail_report()
    result = GateResult(reports=[report] * 150, command=command())
    body = _comment(result)
    _assert_fits_comment(body)
    assert body.startswith("## ❌ driftgate · answers: failed\n\n150 experiments: 150 failed.")
    assert body.rstrip().endswith(
        NOTE + " [Open the workflow run](https://github.com/acme/support-bot/actions/runs/1234)."
    )
    assert "This report was cut to fit GitHub's size limit." in body
    assert_well_formed(body)
    summary = render_summary(result, CONTEXT)
    assert len(summary.encode("utf-8")) <= limits.SUMMARY_LIMIT


def test_a_small_report_is_not_cut() -> None:
    body = _comment(GateResult(reports=[fail_report()], command=command()))
    assert "cut to fit" not in body


def test_long_names_leave_room_for_the_markers() -> None:
    ctx = CONTEXT.model_copy(update={"pipeline": "p/" + "é:>" * 300})
    body = _comment(_huge(), ctx)
    marker = github.comment_marker(ctx.repository or "", ctx.pipeline)
    _, truncated = github._compose(marker, HEAD_SHA, body)
    assert not truncated
