"""The terminal rendering (report.md): text with the shape `driftgate run` has printed so
far, no HTML and no emoji; data shown as written (no entity, no backslash, no zero-width
space), every text on its line."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.report import render_terminal
from driftgate.result import GateResult
from tests.report.hostile_reports import hostile_result
from tests.report.hostile_text import cleaned, hostile, shown
from tests.report.markdown import fences, tables, unescaped_pipes
from tests.report.scenarios import (
    CAND_ID,
    CRASH_TAIL,
    LOCAL_CONTEXT,
    NAME_ERROR,
    crashed_result,
    fail_result,
    multi_result,
    no_baseline_result,
    pass_result,
    review_result,
    timed_out_result,
)

EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")


def test_one_section_per_experiment_with_the_verdict_and_name() -> None:
    text = render_terminal(fail_result(), LOCAL_CONTEXT)
    assert text.startswith("## driftgate: FAIL (answers-102)\n")
    multi = render_terminal(multi_result(), LOCAL_CONTEXT)
    assert multi.startswith("# driftgate: FAIL (2 experiments: 1 failed, 1 passed)\n")
    assert multi.count("## driftgate: ") == 2
    assert "## driftgate: PASS (answers-fr-102)" in multi


def test_metrics_table_regressions_first() -> None:
    text = render_terminal(fail_result(), LOCAL_CONTEXT)
    table = tables(text)[0]
    assert table[0] == "| metric | baseline | candidate | delta | interval | p | verdict | gate |"
    assert table[2].startswith(
        "| correct | 85.0% | 55.0% | -30.0 pts | [-43.3, -13.8] pts at 95.5% |"
    )
    assert table[2].endswith("| regressed | fail |")
    assert table[3].startswith("| quality | 0.82 | 0.67 |")
    assert "| topic | categories | categories | shift 50.0% |" in text
    assert "| off |" in text  # not gated


def test_refs_records_flags_and_totals() -> None:
    text = render_terminal(fail_result(), LOCAL_CONTEXT)
    assert (
        f"- candidate: answers-102 (id {CAND_ID}) at 40ac51f571d7, 40 records x 1 run <https://"
        in text
    )
    assert "- why this baseline: the newest run at a79cf5db77b2, the merge-base on main" in text
    assert "Records: 40 compared, 12 regressed, 0 improved" in text
    assert "### regressed: input of rec-0 (correct pass -> fail, quality 0.8 -> 0.3)" in text
    assert "- record: rec-0\n" in text
    assert "- candidate: I am not sure." in text
    assert "- evaluator 'tone' is in the candidate only: reported, not compared" in text
    assert "Totals: errors 0.0% -> 0.0%; tokens/record 422 -> 422;" in text


def test_no_baseline_and_pass() -> None:
    text = render_terminal(no_baseline_result(), LOCAL_CONTEXT)
    assert text.startswith("## driftgate: NO_BASELINE (answers-102)")
    assert "- baseline: none" in text
    assert "| correct | — | 85.0% | — |" in text
    assert render_terminal(pass_result(), LOCAL_CONTEXT).startswith("## driftgate: PASS")


def test_a_failed_command_shows_its_status_and_tail() -> None:
    text = render_terminal(crashed_result(), LOCAL_CONTEXT)
    assert text.startswith("## driftgate: ERROR (experiment)")
    assert "exited with status 1 after 3.2 s." in text
    (block,) = fences(text)
    assert block.lines[-1] == "ValueError: the model endpoint answered 500"
    timed_out = render_terminal(timed_out_result(), LOCAL_CONTEXT)
    assert "did not finish within the timeout and was stopped after 30 min 0 s" in timed_out
    assert "waiting for the model endpoint..." in timed_out


def test_no_html_and_no_emoji() -> None:
    for make in (fail_result, multi_result, crashed_result, no_baseline_result):
        text = render_terminal(make(), LOCAL_CONTEXT)
        assert "<details>" not in text and "<sub>" not in text
        assert not EMOJI.search(text), EMOJI.search(text)


def test_no_reports_at_all() -> None:
    text = render_terminal(GateResult(), LOCAL_CONTEXT)
    assert text == "## driftgate: ERROR (no experiment report)\n"


# ------------------------------------------------------------------- what a reviewer reads


def test_a_record_whose_runs_disagree_shows_each_sides_outputs() -> None:
    text = render_terminal(review_result(), LOCAL_CONTEXT)
    section = text[text.index("### regressed: country: New Zealand") :]
    section = section[: section.index("\n\n")]
    assert section.split("\n") == [
        "### regressed: country: New Zealand · difficulty: easy (correct 67% pass -> 33% pass)",
        "- record: 0000000000000000a1b2c3d4e5f60000",
        "- tags: difficulty:easy",
        '- input: {"country":"New Zealand","difficulty":"easy"}',
        "- expected: Wellington",
        "- baseline (3 runs): Wellington x2 · Auckland x1",
        "- candidate (3 runs): Auckland x2 · Wellington x1",
    ]


def test_a_task_that_raised_shows_its_message() -> None:
    text = render_terminal(review_result(), LOCAL_CONTEXT)
    assert f"- candidate (3 runs): error x3: {NAME_ERROR}\n" in text
    assert "(errors ok -> error)" in text


def test_an_inconclusive_metric_shows_what_it_could_detect() -> None:
    text = render_terminal(review_result(), LOCAL_CONTEXT)
    (row,) = [r for r in tables(text)[0] if r.startswith("| errors |")]
    assert row.endswith("| 1 | inconclusive (could detect ≥ 15.2 pts) | pass |")


def test_a_metric_that_is_not_gated_says_so() -> None:
    text = render_terminal(review_result(), LOCAL_CONTEXT)
    (row,) = [r for r in tables(text)[0] if r.startswith("| accuracy |")]
    assert row == "| accuracy | 0.12 | 0.61 | +0.49 (+408%) | — | — | not gated | off |"


def test_intervals_agree_with_the_verdicts_beside_them() -> None:
    text = render_terminal(review_result(), LOCAL_CONTEXT)
    rows = {r.split(" | ")[0]: r for r in tables(text)[0]}
    # Significant after adjusting: its interval (at the level it was held to) excludes 0.
    assert "| -26.4 pts | [-45.4, -7.4] pts at 95.5% | 0.017 | regressed |" in rows["| correct"]
    # Not significant: its interval includes 0.
    assert "| [-4.5, +12.8] pts at 95% | 1 | inconclusive" in rows["| errors"]
    assert "Intervals at 90%, or at the level shown: the one its p-value was held to" in text


def test_ids_commands_and_tracebacks_copy_as_typed() -> None:
    """No zero-width space, entity or backslash in what a reader copies from a terminal."""
    result = fail_result()
    report = result.reports[0]
    assert report.candidate is not None
    named = report.model_copy(
        update={"candidate": report.candidate.model_copy(update={"name": "answers@1 <x> *y*"})}
    )
    text = render_terminal(result.model_copy(update={"reports": [named]}), LOCAL_CONTEXT)
    assert "- candidate: answers@1 <x> *y* (id " in text
    crashed = render_terminal(crashed_result(), LOCAL_CONTEXT)
    (block,) = fences(crashed)
    assert block.lines == CRASH_TAIL.split("\n")  # `<module>` as printed
    for rendered in (text, crashed):
        assert "\u200b" not in rendered and "&lt;" not in rendered and "&gt;" not in rendered


_OURS = re.compile(
    r"(#{1,3} |- |\| |\|---|\|:--|Intervals at |Records: |\.\.\.and |Warnings:|Totals: |"
    r"Error: |Notes:|Runs considered:|Recorded|Nothing to compare|The command |Last lines |Pages: |"
    r"Baseline history: |Trend over )"
)


def _cell(text: str) -> str:
    """A table cell's text in a terminal: `|` escaped, with the backslashes before it."""
    return re.sub(r"(\\*)\|", lambda m: m[1] * 2 + "\\|", text) or "(empty)"


def _no_zwsp(text: str) -> str:
    return text.replace("\u200b", "")


@pytest.mark.parametrize("kind", ["fail", "error", "multi"])
@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    texts=st.lists(hostile(long=False).map(_no_zwsp), min_size=1, max_size=12),
    long=hostile().map(_no_zwsp),
)
def test_hostile_text_is_shown_as_written_and_stays_on_its_line(
    kind: str, texts: list[str], long: str
) -> None:
    result, ctx = hostile_result(kind, texts, long)
    text = render_terminal(result, ctx)
    given_text = "".join(texts) + long
    # Text, not HTML or Markdown: nothing added that the data did not have.
    assert "\u200b" not in text
    for entity in ("&lt;", "&gt;", "&amp;", "&quot;", "&#"):
        assert entity in given_text or entity not in text, entity
    # Nothing a terminal would obey.
    assert cleaned(text) == text
    # Every line is ours, or a line of the command's output inside our block.
    inside = {i for f in fences(text) for i in range(f.open_line, (f.close_line or 0) + 1)}
    for f in fences(text):
        assert f.close_line is not None
    for i, line in enumerate(text.split("\n")):
        assert i in inside or not line or _OURS.match(line), line
    for table in tables(text):
        width = unescaped_pipes(table[0])
        assert all(unescaped_pipes(row) == width for row in table), table
    # What the data says is there as written (one line; `|` escaped in table cells).
    for report in result.reports:
        for w in report.warnings[1:]:  # the first is `long`, shortened
            assert f"- {shown(w)}".rstrip() in text or report.verdict == "error"
        for m in report.metrics:
            assert f"| {_cell(shown(m.name, 200))} |" in text
