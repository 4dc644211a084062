"""Every surface, rendered by GitHub's cmark, with generated hostile text in every field that
comes from experiments, git, the command or the environment: record ids, inputs, outputs,
metric, category and evaluator names, experiment names, flags, error texts, the command and
its output, the pipeline, the branch.

No link but ours (the run's and the experiments' configured URLs), no image, no HTML but our
`<details>`/`<summary>`/`<sub>` and the `<abbr>` whose title is a record's id, no comment,
nothing GitHub would link afterwards; tables keep their cells, and a cell shows its text (or
the start of it, with an ellipsis). The terminal's report (report.md) is text, not GitHub's
Markdown: test_terminal.py holds it to its own promises.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from driftgate.report import (
    render_check,
    render_comment,
    render_summary,
    status_description,
)
from driftgate.report.escape import ELLIPSIS
from driftgate.report.view import record_view
from driftgate.result import GateResult, ReportContext
from tests.report.github_html import github_html, read, tables
from tests.report.hostile_reports import OURS, hostile_result
from tests.report.hostile_text import blank, cleaned, hostile, shown
from tests.report.markdown import fences, unescaped_pipes
from tests.report.markdown import tables as md_tables

ALLOWED = {
    *("h1", "h2", "h3", "h4", "p", "strong", "em", "ul", "li", "sub", "a", "code", "pre"),
    *("table", "thead", "tbody", "tr", "th", "td", "details", "summary"),
    # A record's id as the tooltip of its title: GitHub's sanitizer keeps <abbr title>.
    "abbr",
}


MARKDOWN: dict[str, Callable[[GateResult, ReportContext], str]] = {
    "comment": render_comment,
    "check summary": lambda r, c: render_check(r, c).summary,
    "check text": lambda r, c: render_check(r, c).text or "",
    "job summary": render_summary,
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
    # A record is headed by its input summarised (with its tags), its outputs are every
    # run's, grouped: what the view makes of them, from the data.
    views = [record_view(r) for report in result.reports for r in report.records.flipped]
    records += [text for v in views for text in (v.label, v.baseline, v.candidate)]
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
    result, ctx = hostile_result(kind, texts, long)
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
