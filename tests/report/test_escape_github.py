"""The escaping filters against GitHub's own renderer, on generated hostile text.

For each place the templates put data (a paragraph, the start of a line, a list item, a
heading, a table cell, a link's text, a `<summary>` line, a code span, a code block, a
plain-text title): rendered by cmark-gfm as GitHub renders it, no link, image, HTML element
or comment comes from the data, GitHub's own linking (mentions, issue references) finds
nothing, and the visible text is the data's, less only what escape.py documents.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from driftgate.report.escape import (
    code_block,
    code_lines,
    code_span,
    html_text,
    md_cell,
    md_link,
    md_text,
    plain_line,
)
from tests.report.github_html import Html, github_html, read, tables
from tests.report.hostile_text import blank, cleaned, hostile, shown

LIMITS = st.one_of(st.none(), st.integers(1, 300))
# Markdown with one data text in it: the context's markup, and the elements it may yield.
INLINE = {
    "paragraph": ("Why this baseline: {}.", {"p"}, "Why this baseline: {}."),
    "line start": ("Notes\n\n{}", {"p"}, "Notes\n{}"),
    "continued line": ("Flags\n{}", {"p"}, "Flags\n{}"),
    "list item": ("- {}", {"ul", "li"}, "{}"),
    "heading": ("### 🔴 {}", {"h3"}, "🔴 {}"),
    "bold": ("**Error**: {}", {"p", "strong"}, "Error: {}"),
}


def assert_inert(html: Html, allowed: set[str]) -> None:
    """Nothing but the context's own elements; nothing GitHub would link afterwards."""
    assert html.tags <= allowed, html.elements
    assert not html.comments and not html.other
    assert not html.leaks(), html.leaks()


@pytest.mark.parametrize("context", sorted(INLINE))
@given(text=hostile(), limit=LIMITS)
@example(text="see_www.evil.example", limit=None)
@example(text="--- -- ---", limit=None)
@example(text="step #", limit=None)
@example(text="===", limit=None)
@example(text="x_a@.b.co", limit=None)
def test_md_text(context: str, text: str, limit: int | None) -> None:
    markup, allowed, visible = INLINE[context]
    html = read(markup.format(md_text(text, limit)))
    assert_inert(html, allowed)
    # The context's own spaces around an empty text are cmark's to trim.
    assert html.text().strip() == visible.format(shown(text, limit)).strip()


@given(cells=st.lists(hostile(long=False), min_size=1, max_size=4), limit=LIMITS)
@example(cells=["a|b", "\\|", "x\\"], limit=None)
def test_md_cell_keeps_its_row(cells: list[str], limit: int | None) -> None:
    header = "| " + " | ".join(f"h{i}" for i in range(len(cells) + 1)) + " |"
    rule = "|" + "--|" * (len(cells) + 1)
    row = "| " + " | ".join(md_cell(c, limit) for c in cells) + " | end |"
    markdown = f"{header}\n{rule}\n{row}\n{row}"
    assert_inert(read(markdown), {"table", "thead", "tbody", "tr", "th", "td", "em"})
    (rows,) = tables(github_html(markdown))
    expected = ["(empty)" if blank(c) else shown(c, limit) for c in cells] + ["end"]
    # Exactly the cells written: a `|` from data would add one (and cmark drops extras).
    assert rows[1:] == [expected, expected]


@given(text=hostile(), limit=LIMITS)
def test_md_link_text(text: str, limit: int | None) -> None:
    url = "https://app.datadoghq.com/llm/experiments/0b5e"
    html = read(f"Candidate {md_link(text, url, limit)} (run 2)")
    assert_inert(html, {"p", "a"})
    assert html.hrefs == [url]
    assert html.text("a") == ("(unnamed)" if blank(text) else shown(text, limit))


@given(text=hostile(), limit=LIMITS)
@example(text="</summary></details><!-- x -->@octocat", limit=None)
def test_html_text_in_a_summary(text: str, limit: int | None) -> None:
    html = read(
        f"<details>\n<summary>{html_text(text, limit)}: categories</summary>\n\n"
        "| a |\n|--|\n| b |\n\n</details>"
    )
    allowed = {"details", "summary", "table", "thead", "tbody", "tr", "th", "td"}
    assert_inert(html, allowed)
    assert [t for t, _ in html.elements].count("summary") == 1
    assert html.text("summary") == f"{shown(text, limit)}: categories"


@given(text=hostile(), limit=LIMITS)
@example(text="`a` ``b``", limit=None)
@example(text="`" * 80 + " ![p](https://e.example/p.png) @octocat", limit=None)
@example(text=" ` ", limit=None)
def test_code_span(text: str, limit: int | None) -> None:
    span = code_span(text, limit)
    html = read(f"The command {span} exited with status 1.")
    assert_inert(html, {"p", "code"})
    assert html.text("code") == shown(text, limit)
    # Everything that is not code is ours.
    assert html.text_outside("code").strip() == "The command  exited with status 1."


def _block_lines(text: str, max_lines: int | None) -> list[str]:
    lines = cleaned(text).expandtabs(4).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if max_lines is not None:
        lines = lines[-max_lines:] if max_lines > 0 else []
    return [line if len(line) <= 500 else line[:499].rstrip() + "…" for line in lines]


@given(text=hostile(), max_lines=st.one_of(st.none(), st.integers(0, 30)))
@example(text="ok\n`````\n</details>\n```` end", max_lines=None)
@example(text="`" * 300 + "\n</details>\n@octocat", max_lines=None)
def test_code_block(text: str, max_lines: int | None) -> None:
    block = code_block(text, max_lines=max_lines)
    html = read(f"<details>\n<summary>Last lines</summary>\n\n{block}\n\n</details>\n\nafter")
    assert_inert(html, {"details", "summary", "pre", "code", "p"})
    lines = _block_lines(text, max_lines)
    expected = "".join(f"{line}\n" for line in lines).replace("\u200b", "")
    assert html.text("code") == expected
    assert html.text("p") == "after"  # the block closed where it should


@given(ids=st.lists(hostile(long=False), max_size=6))
def test_code_lines_keep_one_value_per_line(ids: list[str]) -> None:
    html = read(code_lines(ids))
    assert_inert(html, {"pre", "code"})
    lines = [" ".join(cleaned(i).split()) for i in ids]
    while lines and not lines[-1].strip():
        lines.pop()
    assert html.text("code") == "".join(f"{shown(line)}\n" for line in lines)


@given(text=hostile(), limit=LIMITS)
def test_plain_line(text: str, limit: int | None) -> None:
    line = plain_line(text, limit)
    assert "\n" not in line and "\r" not in line
    assert line == shown(text, limit) or line.replace("\u200b", "") == shown(text, limit)
    assert cleaned(line) == line  # no control or bidirectional character left
