"""Markdown rendered the way GitHub renders it, read back for the escaping tests.

GitHub renders comments, check runs and job summaries with its fork of cmark (cmarkgfm is
its Python binding), with the extensions GitHub enables, and with raw HTML passed through
(GitHub sanitizes afterwards, so whatever raw HTML our Markdown lets through is what the
sanitizer gets to judge: here it counts as a leak). What cmark does not do, GitHub does on
the HTML afterwards: @mentions and issue references become links in text outside code and
links; `leaks` looks for those patterns in that text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

# What GitHub links after cmark, in text outside <code>, <pre> and <a>: mentions (and
# e-mail-like text), issue references, and any URL or www. cmark left as text.
SERVER_LINKS = re.compile(r"@[A-Za-z0-9]|#\d|(?i:GH-\d)|(?i:(?:https?|ftp)://)|(?i:www\.)")
_VOID = frozenset({"br", "hr", "img", "input", "wbr"})
_CODE = frozenset({"code", "pre", "a"})
ZWSP = "\u200b"


def github_html(markdown: str) -> str:
    """`markdown` as GitHub's cmark renders it (table, strikethrough, autolink, tagfilter,
    tasklist), raw HTML kept."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


@dataclass
class Html:
    """What a rendering holds: its elements in order, comments, and text with the names of
    the elements around it."""

    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # declarations, processing instructions
    texts: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # as rendered

    @property
    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    @property
    def hrefs(self) -> list[str | None]:
        return [attrs.get("href") for tag, attrs in self.elements if tag == "a"]

    def text(self, inside: str | None = None) -> str:
        """The visible text without zero-width spaces; only what is inside `inside`
        elements, when given."""
        text = "".join(t for t, around in self.texts if inside is None or inside in around)
        return text.replace(ZWSP, "")

    def text_outside(self, tag: str) -> str:
        """The visible text outside `tag` elements, without zero-width spaces."""
        return "".join(t for t, around in self.texts if tag not in around).replace(ZWSP, "")

    def leaks(self) -> list[str]:
        """Links GitHub would make after cmark: text outside code and links that matches."""
        prose = " ".join(t for t, around in self.texts if not _CODE & set(around))
        return SERVER_LINKS.findall(prose)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html = Html()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.html.elements.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.html.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.html.texts.append((data, tuple(self.stack)))

    def handle_comment(self, data: str) -> None:
        self.html.comments.append(data)

    def handle_decl(self, decl: str) -> None:
        self.html.other.append(decl)

    def unknown_decl(self, data: str) -> None:
        self.html.other.append(data)

    def handle_pi(self, data: str) -> None:
        self.html.other.append(data)


def read(markdown: str) -> Html:
    """`markdown` rendered by GitHub's cmark, parsed."""
    reader = _Reader()
    reader.feed(github_html(markdown))
    reader.close()
    return reader.html


def tables(html: str) -> list[list[list[str]]]:
    """Each table as rows of its cells' visible text (zero-width spaces removed), the
    header row first."""
    return [
        [
            [_visible(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
        ]
        for table in re.findall(r"<table>(.*?)</table>", html, re.S)
    ]


def _visible(fragment: str) -> str:
    reader = _Reader()
    reader.feed(fragment)
    reader.close()
    return reader.html.text()
