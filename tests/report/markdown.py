"""Structural checks on rendered Markdown, written for the tests: tables, fences, HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass

OUR_TAGS = re.compile(r"</?(?:details|summary|sub)>")
# A record's id as a tooltip on its title: the value escaped (no quote, no angle bracket).
ABBR = re.compile(r'<abbr title="[^"<>|]*">')
# A tag or comment start that is not one of ours (or an autolink to a URL we checked):
# what escaping must prevent.
FOREIGN_TAG = re.compile(
    r'<(?!/?(?:details|summary|sub)>|abbr title="[^"<>|]*">|/abbr>|https?://)[A-Za-z/!?]'
)
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
CROSS_REF = re.compile(r"[\w.-]+/[\w.-]+#\d")


@dataclass
class Fence:
    open_line: int
    close_line: int | None
    fence: str
    lines: list[str]


def fences(text: str) -> list[Fence]:
    """Fenced code blocks as CommonMark reads them: a fence of three or more backticks
    opens; only a line of at least as many backticks (and nothing else) closes."""
    found: list[Fence] = []
    current: Fence | None = None
    for i, line in enumerate(text.split("\n")):
        if current is None:
            m = re.match(r"^(`{3,})[^`]*$", line)
            if m:
                current = Fence(i, None, m[1], [])
        elif re.fullmatch(rf"`{{{len(current.fence)},}}\s*", line):
            current.close_line = i
            found.append(current)
            current = None
        else:
            current.lines.append(line)
    if current is not None:
        found.append(current)
    return found


def outside_code(text: str) -> str:
    """`text` without its fenced code blocks and code spans."""
    lines = text.split("\n")
    drop: set[int] = set()
    for f in fences(text):
        end = f.close_line if f.close_line is not None else len(lines) - 1
        drop.update(range(f.open_line, end + 1))
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", kept)


def unescaped_pipes(row: str) -> int:
    """Cell separators of a GFM table row: pipes not preceded by an odd run of backslashes."""
    count = 0
    for m in re.finditer(r"(\\*)\|", row):
        if len(m[1]) % 2 == 0:
            count += 1
    return count


def tables(text: str) -> list[list[str]]:
    """Runs of consecutive lines starting with `|`, outside code blocks."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in outside_code_lines(text):
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def outside_code_lines(text: str) -> list[str]:
    lines = text.split("\n")
    drop: set[int] = set()
    for f in fences(text):
        end = f.close_line if f.close_line is not None else len(lines) - 1
        drop.update(range(f.open_line, end + 1))
    return [line for i, line in enumerate(lines) if i not in drop]


def assert_well_formed(text: str) -> None:
    """What no data may break: tables, fences, our HTML, mentions, the hidden marker."""
    for f in fences(text):
        assert f.close_line is not None, f"code block opened at line {f.open_line} never closes"
    for table in tables(text):
        width = unescaped_pipes(table[0])
        for row in table:
            assert unescaped_pipes(row) == width, f"row breaks its table: {row!r}"
    prose = outside_code(text)
    # No comment can open anywhere, so a `-->` left inside code closes nothing.
    assert "<!--" not in text and "-->" not in prose
    assert not FOREIGN_TAG.search(prose), FOREIGN_TAG.search(prose)
    assert not MENTION.search(prose), MENTION.search(prose)
    assert not CROSS_REF.search(prose), CROSS_REF.search(prose)
    # Our HTML: every <details> closes, in order, each on a line of its own; a tooltip
    # closes on its line.
    depth = 0
    for line in outside_code_lines(text):
        assert len(ABBR.findall(line)) == line.count("</abbr>"), line
        for tag in OUR_TAGS.findall(line):
            if tag == "<details>":
                assert line == "<details>", line
                depth += 1
            elif tag == "</details>":
                assert line == "</details>", line
                depth -= 1
                assert depth >= 0
            elif tag == "<summary>":
                assert line.startswith("<summary>") and line.endswith("</summary>"), line
                assert depth > 0
    assert depth == 0
