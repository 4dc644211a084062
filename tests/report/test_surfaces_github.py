"""Every surface, rendered by GitHub's cmark, with generated hostile text in every field that
comes from experiments, git, the command or the environment: record ids, inputs, outputs,
metric, category and evaluator names, experiment names, flags, error texts, the command and
its output, the pipeline, the branch.

No link but ours (the run's and the experiments' configured URLs), no image, no HTML but our
`<details>`/`<summary>`/`<sub>`, no comment, nothing GitHub would link afterwards; tables keep
their cells, and a cell shows its text (or the start of it, with an ellipsis).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from driftgate.compare import error_report
from driftgate.compare.schema import Report
from driftgate.report import (
    render_check,
    render_comment,
    render_summary,
    render_terminal,
    status_description,
)
from driftgate.report.escape import ELLIPSIS
from driftgate.report.view import BUDGET_KINDS
from driftgate.result import CommandResult, GateResult, ReportContext
from tests.report.github_html import github_html, read, tables
from tests.report.hostile_text import blank, cleaned, hostile, shown
from tests.report.markdown import fences, unescaped_pipes
from tests.report.markdown import tables as md_tables
from tests.report.scenarios import DATADOG, STARTED, fail_report

RUN_URL = "https://github.com/acme/bot/actions/runs/1"
CANDIDATE_URL = DATADOG + "cand"
BASELINE_URL = DATADOG + "base"
OURS = {RUN_URL, CANDIDATE_URL, BASELINE_URL}
ALLOWED = {
    *("h1", "h2", "h3", "h4", "p", "strong", "em", "ul", "li", "sub", "a", "code", "pre"),
    *("table", "thead", "tbody", "tr", "th", "td", "details", "summary"),
}


@cache
def _fail_report() -> Report:
    return fail_report()


class _Texts:
    """Hands out the generated texts in turn, so each field gets one."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._next = 0

    def __call__(self) -> str:
        text = self._texts[self._next % len(self._texts)]
        self._next += 1
        return text

    def some(self, n: int) -> list[str]:
        return [self() for _ in range(n)]


def _report(t: _Texts) -> Report:
    report = _fail_report()
    assert report.candidate and report.baseline
    refs = {
        side: ref.model_copy(
            update={
                "id": t(),
                "name": t(),
                "experiment": t(),
                "commit": t(),
                "created_at": t(),
                "dataset_id": t(),
                "url": url,
            }
        )
        for side, ref, url in (
            ("candidate", report.candidate, CANDIDATE_URL),
            ("baseline", report.baseline, BASELINE_URL),
        )
    }
    metrics = [
        m
        if m.kind in BUDGET_KINDS  # named by driftgate; the templates look them up by name
        else m.model_copy(
            update={
                "name": t(),
                "method": t(),
                "min_effect_rule": t() + "%",
                "notes": t.some(2),
                "distribution": {t(): v for v in m.distribution.values()}
                if m.distribution
                else None,
            }
        )
        for m in report.metrics
    ]
    records = report.records
    flipped = [
        r.model_copy(
            update={
                "id": t(),
                "input": t(),
                "expected": t(),
                "baseline_output": t(),
                "candidate_output": t(),
                "changes": [c.model_copy(update={"name": t()}) for c in r.changes],
            }
        )
        for r in records.flipped[:3]
    ]
    records = records.model_copy(
        update={
            "flipped": flipped,
            "regressed": t.some(3),
            "improved": t.some(1),
            "baseline_only_ids": t.some(2),
            "candidate_only_ids": t.some(2),
            "baseline_only": 2,
            "candidate_only": 2,
        }
    )
    evaluators = [
        e.model_copy(
            update={
                "label": t(),
                "metric_type_baseline": t(),
                "metric_type_candidate": t(),
                "reason": t(),
            }
        )
        for e in report.evaluators
    ]
    return report.model_copy(
        update={
            **refs,
            "metrics": metrics,
            "records": records,
            "evaluators": evaluators,
            "warnings": t.some(2),
            "baseline_reason": t(),
        }
    )


def _result(kind: str, texts: list[str], long: str) -> tuple[GateResult, ReportContext]:
    """A result with a text of `texts` in every field, and `long` in a few (the fields
    where a long text is likely, each shortened its own way)."""
    t = _Texts(texts)
    failed = kind == "error"
    reports = [error_report(long if failed else t())] if failed else [_report(t)]
    if kind == "multi":
        reports.append(_report(t))
    if not failed:
        first = reports[0]
        flipped = [
            first.records.flipped[0].model_copy(update={"candidate_output": long}),
            *first.records.flipped[1:],
        ]
        reports[0] = first.model_copy(
            update={
                "records": first.records.model_copy(update={"flipped": flipped}),
                "warnings": [long, *first.warnings],
            }
        )
    command = CommandResult(
        command=t(),
        exit_code=1 if failed else 0,
        timed_out=False,
        duration_s=3.0,
        started_at=STARTED,
        tail="\n".join([*t.some(3), long]),
    )
    result = GateResult(reports=reports, command=command, found_how=t(), notes=t.some(2))
    ctx = ReportContext(
        repository=t(),
        pipeline=t(),
        head_sha=t(),
        base_branch=t(),
        # A pull request's number is ours, and GitHub links it: left out of this test.
        pr_number=None,
        run_url=RUN_URL,
        backend=t(),
        full_report_note=t(),
    )
    return result, ctx


MARKDOWN: dict[str, Callable[[GateResult, ReportContext], str]] = {
    "comment": render_comment,
    "check summary": lambda r, c: render_check(r, c).summary,
    "check text": lambda r, c: render_check(r, c).text or "",
    "job summary": render_summary,
    "report.md": render_terminal,
}


def _cell_shows(cell: str, text: str) -> bool:
    """A cell shows `text`, whole or cut at some length with an ellipsis."""
    if blank(text):
        return cell == "(empty)"
    whole = shown(text)
    if cell == whole:
        return True
    # Cut at n characters, zero-width spaces included: n is at least what the cell shows.
    return cell.endswith(ELLIPSIS) and any(
        cell == shown(text, n) for n in range(len(cell), len(cell) + 200)
    )


def _assert_structure(markdown: str) -> None:
    """Our blocks stay ours: every fence closes, every table row has its table's cells (cmark
    would drop a cell too many without a word), our HTML is what the templates wrote."""
    for fence in fences(markdown):
        assert fence.close_line is not None, f"code block at line {fence.open_line} never closes"
    for table in md_tables(markdown):
        width = unescaped_pipes(table[0])
        for row in table:
            assert unescaped_pipes(row) == width, f"row breaks its table: {row!r}"
    lines = markdown.split("\n")
    elements = [tag for tag, _ in read(markdown).elements]
    assert elements.count("details") == lines.count("<details>") == lines.count("</details>")
    assert elements.count("summary") == sum(line.startswith("<summary>") for line in lines)
    assert elements.count("sub") == sum(line.startswith("<sub>") for line in lines)


def _assert_cells_show_their_text(markdown: str, result: GateResult) -> None:
    names = [m.name for r in result.reports for m in r.metrics]
    records = [
        text
        for report in result.reports
        for r in report.records.flipped
        for text in (r.id, r.input, r.expected, r.baseline_output, r.candidate_output)
    ]
    columns = {"Metric": names, "metric": names, "Record": records, "Candidate output": records}
    for header, *rows in tables(github_html(markdown)):
        for row in rows:
            assert len(row) == len(header), row
        for i, title in enumerate(header):
            for row in rows if title in columns else []:
                assert any(_cell_shows(row[i], text) for text in columns[title]), (title, row[i])


@pytest.mark.parametrize("kind", ["fail", "error", "multi"])
# Each example renders every surface, some several times to fit: fewer than the profile's.
@settings(max_examples=max(5, settings.default.max_examples * 2 // 5))
@given(texts=st.lists(hostile(long=False), min_size=1, max_size=12), long=hostile())
@example(texts=["see_www.evil.example", "`-->`", "``"], long="`" * 300)
def test_no_surface_lets_data_link_or_leave_its_place(
    kind: str, texts: list[str], long: str
) -> None:
    result, ctx = _result(kind, texts, long)
    for surface, render in MARKDOWN.items():
        markdown = render(result, ctx)
        html = read(markdown)
        assert html.tags <= ALLOWED, (surface, html.tags - ALLOWED)
        assert set(html.hrefs) <= OURS, (surface, html.hrefs)
        assert not html.comments and not html.other, surface
        assert not html.leaks(), (surface, html.leaks())
        _assert_structure(markdown)
        _assert_cells_show_their_text(markdown, result)
    for line in (render_check(result, ctx).title, status_description(result)):
        assert "\n" not in line and cleaned(line) == line
