"""The terminal rendering (report.md): plain Markdown with the shape `driftgate run` has
printed so far, no HTML and no emoji, escaped like the rest."""

from __future__ import annotations

import re

from driftgate.report import render_terminal
from driftgate.result import GateResult
from tests.report.markdown import fences, tables
from tests.report.scenarios import (
    CAND_ID,
    LOCAL_CONTEXT,
    crashed_result,
    fail_result,
    multi_result,
    no_baseline_result,
    pass_result,
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
    assert table[2].startswith("| correct | 85.0% | 55.0% | -30.0 pts | [-40.7, -16.5] pts |")
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
    assert "### regressed: rec-0 (correct pass -> fail, quality 0.8 -> 0.3)" in text
    assert "- candidate output: I am not sure." in text
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
