"""Generated hostile text for the escaping tests, and what the reader must still see of it.

The strings are built from pieces that GitHub gives a meaning to (links, mentions, issue
references, HTML, Markdown markers, invisible and control characters), glued with
arbitrary text, sometimes repeated into very long strings.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

from driftgate.report.escape import ELLIPSIS, ZWSP

PIECES = (
    # links: cmark-gfm's autolink extension, and GitHub's own
    "www.",
    "see_www.evil.example",
    "*www.evil.example",
    "(www.e.example)",
    "~www.e.example",
    "http://",
    "https://evil.example/p?q=1",
    "HTTPS://E.EXAMPLE",
    "ftp://",
    "mailto:",
    "mailto:a@b.example",
    "xmpp:a@b.example/r",
    "a@b.c",
    "a.b+c@d.example",
    "x_a@.b.co",
    "@octocat",
    "@acme/owners",
    "@",
    "#123",
    "GH-123",
    "gh-9",
    "acme/bot#1",
    "acme/bot@1a2b3c4",
    # HTML
    "<!--",
    "-->",
    "<!-- driftgate:acme/bot:answers -->",
    "<b>",
    "</details>",
    "<summary>",
    "<img src=x onerror=alert(1)>",
    "<script>",
    "<http://evil.example>",
    "<a@b.example>",
    "<?php",
    "<![CDATA[",
    "<!DOCTYPE",
    # Markdown
    "![",
    "](",
    "![p](https://evil.example/p.png)",
    "[x](javascript:alert(1))",
    "[x]: https://evil.example",
    "[x]",
    "[^1]",
    "[ ] ",
    "[x] ",
    "`",
    "``",
    "```",
    "~~~",
    "|",
    "\\",
    "\\|",
    "&",
    "&#64;",
    "&amp;",
    "&lt;",
    "&#x3C;",
    "_",
    "__",
    "*",
    "**",
    "~",
    "~~",
    "$",
    "$$",
    ":",
    "//",
    ".",
    "#",
    "# ",
    " #",
    "## ",
    "- ",
    "+ ",
    "1. ",
    "2) ",
    "> ",
    "> [!NOTE]",
    "===",
    "---",
    "    ",
    # invisible and control characters
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u061c",
    "\u200f",
    "\u00a0",
    "\u2028",
    "\x1b[31m",
    "\x00",
    "\x7f",
    "\x85",
    "\ud800",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    " ",
    # plain words, so that the pieces have neighbours
    "x",
    "exact_match",
    "évaluation",
    "é",
    "1",
    "🙂",
)

_pieces = st.sampled_from(PIECES)
_short = st.lists(st.one_of(_pieces, _pieces, st.text(max_size=4)), max_size=10).map("".join)


def hostile(*, long: bool = True) -> st.SearchStrategy[str]:
    """A string made of hostile pieces and arbitrary text; with `long`, sometimes one
    repeated into thousands of characters."""
    if not long:
        return _short
    repeated = st.builds(lambda s, n: s * n, _short.filter(bool), st.integers(20, 400))
    return st.one_of(_short, _short, _short, repeated)


# What the escaping drops, as documented in escape.py: C0/C1 controls except tab and
# newline, and the bidirectional marks, overrides and isolates.
_DROPPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def cleaned(text: str) -> str:
    """`text` without what the escaping drops, lone surrogates as U+FFFD."""
    text = _DROPPED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def blank(text: str) -> bool:
    """Whether nothing of `text` is left on one line: the filters then show their mark for
    an empty text. A zero-width space is something (the reader sees nothing either way)."""
    return not cleaned(text).split()


def shown(text: str, limit: int | None = None) -> str:
    """What a reader must see of `text` on one line, cut at `limit` characters with an
    ellipsis: only what escape.py documents is lost. Zero-width spaces (the escaping adds
    some) are left out on both sides of the comparison."""
    line = " ".join(cleaned(text).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + ELLIPSIS if limit > 1 else ELLIPSIS[:limit]
    return line.replace(ZWSP, "")
