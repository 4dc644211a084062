"""Escaping for text that comes from experiments, git or the environment.

Everything a template prints from data goes through one of these; the environment refuses
to print a plain `str` (see `render.py`), so a forgotten filter fails loudly instead of
shipping raw text to a pull request. Each function returns `Md`, the marker for "already
safe in this position".

Threats, and the answer to each:

- **Tables.** A `|` ends a cell and a newline ends the row: every inline text is one line
  (whitespace runs collapse to one space) and `|` becomes `\\|`, which GitHub's table
  parser honours even inside code spans.
- **HTML.** `&`, `<`, `>` become entities, so no `<details>`, `</details>`, `<!--` or `-->`
  from data can open, close or fake ours (the sticky marker is an HTML comment).
  Entities work both in Markdown and inside HTML blocks such as a `<summary>` line.
- **Markdown.** Emphasis, code spans, links, images, strikethrough and math (`$`) markers
  are backslash-escaped, so that text reads as written and `![x](url)` cannot load a
  tracking image. A leading block marker (`#`, `-`, `1.`) is escaped too, in case a text
  ever starts a line. `_` inside a word is left alone: it cannot emphasise, and names like
  `exact_match` stay readable in a terminal.
- **Notifications.** `@name` and `@org/team` would notify people: a zero-width space goes
  after the `@`, which breaks the mention and stays invisible. `owner/repo#1` and bare URLs
  (`https://...`, `www.`) would auto-link and leave a cross-reference in someone else's
  issue on every update of the comment: a zero-width space breaks them too. A plain `#12`
  is left alone (it links within the repository, which is harmless).
- **Code.** A fence longer than any backtick run in the text, so the text cannot close it;
  inside code, `<` before a tag name, `!`, `/` or `?` gets a zero-width space, so that even
  a renderer that missed the fence could not read a tag.
- **Terminals.** Control characters (ANSI escapes among them) and bidirectional overrides
  are dropped.

Texts are shortened *before* escaping, so a cut never splits an entity or an escape.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

__all__ = [
    "Md",
    "clean",
    "code_block",
    "code_span",
    "html_text",
    "md_cell",
    "md_link",
    "md_text",
    "plain_line",
    "safe_url",
    "shorten",
]

ZWSP = "\u200b"
ELLIPSIS = "…"

# C0/C1 controls except tab and newline, plus the bidirectional overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_CROSS_REF = re.compile(r"(?<=[\w.-])#(?=\d)")
_SCHEME = re.compile(r"(?i)(?<=[a-z0-9])://")
_WWW = re.compile(r"(?i)\bwww\.")
# ASCII punctuation: after a backslash, CommonMark reads the pair as the literal character.
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# Always backslash-escaped in inline text: they open spans (code, emphasis, links, math,
# strikethrough) or end a table cell.
_ALWAYS = frozenset("`*[]|~$")
# What would start a heading, a list item or a quote if the text began a line.
_LEADING_BLOCK = re.compile(r"^(?:#{1,6}|[+-]|\d{1,9}[.)])(?= |$)")
_TAG_START = re.compile(r"<(?=[A-Za-z!/?])")
_BACKTICKS = re.compile(r"`+")


class Md(str):
    """Text that is safe to print where it is printed: escaped data or our own Markdown."""

    __slots__ = ()


def clean(value: object) -> str:
    """`value` as text without control characters; newlines and tabs kept."""
    text = "" if value is None else str(value)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def shorten(text: str, limit: int | None) -> str:
    """At most `limit` characters, the last one an ellipsis when cut (None: no limit)."""
    if limit is None or len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    return text[: limit - 1].rstrip() + ELLIPSIS


def _one_line(value: object, limit: int | None) -> str:
    return shorten(" ".join(clean(value).split()), limit)


def _unlink(text: str) -> str:
    text = _MENTION.sub("@" + ZWSP, text)
    text = _CROSS_REF.sub(ZWSP + "#", text)
    text = _SCHEME.sub(":" + ZWSP + "//", text)
    return _WWW.sub(lambda m: m[0][:3] + ZWSP + ".", text)


def _is_word(char: str) -> bool:
    return char.isalnum()


_SPECIAL = re.compile(r"[&<>`*\[\]|~$\\_]")


def _escape_inline(text: str) -> str:
    if not _SPECIAL.search(text):
        # Most names and texts have nothing to escape: skip the character loop.
        return _escape_leading(text)
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char in _ALWAYS:
            out.append("\\" + char)
        elif char == "\\":
            # A backslash only escapes punctuation; elsewhere (`\n` in JSON) it is literal.
            escapes = i == last or text[i + 1] in _PUNCTUATION
            out.append("\\\\" if escapes else "\\")
        elif char == "_":
            inside_word = 0 < i < last and _is_word(text[i - 1]) and _is_word(text[i + 1])
            out.append("_" if inside_word else "\\_")
        else:
            out.append(char)
    return _escape_leading("".join(out))


def _escape_leading(escaped: str) -> str:
    if leading := _LEADING_BLOCK.match(escaped):
        # `1. ` -> `1\. `, `# ` -> `\# `: escaping the marker's last character is enough.
        end = leading.end()
        escaped = escaped[: end - 1] + "\\" + escaped[end - 1 :]
    return escaped


def md_text(value: object, limit: int | None = None) -> Md:
    """Inline Markdown text on one line: for paragraphs, list items and table cells."""
    if isinstance(value, Md):
        return value
    return Md(_unlink(_escape_inline(_one_line(value, limit))))


def md_cell(value: object, limit: int | None = None, empty: str = "*(empty)*") -> Md:
    """A table cell: `md_text`, and an explicit mark for an empty text."""
    text = md_text(value, limit)
    return text if text else Md(empty)


def html_text(value: object, limit: int | None = None) -> Md:
    """Text inside raw HTML (a `<summary>` line), where Markdown escapes are not read."""
    text = _one_line(value, limit)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.replace(char, entity)
    return Md(_unlink(text))


def _fence_for(text: str, minimum: int) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def code_span(value: object, limit: int | None = None) -> Md:
    """Inline code on one line, outside tables (use `md_cell` there)."""
    text = _TAG_START.sub("<" + ZWSP, _one_line(value, limit))
    if not text:
        return Md("")
    fence = _fence_for(text, 1)
    # A space on each side keeps a backtick at either end from joining the fence; CommonMark
    # strips one space from each side when both are present.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def code_block(
    value: object,
    lang: str = "text",
    *,
    max_lines: int | None = None,
    max_line_length: int | None = 500,
) -> Md:
    """A fenced code block, keeping the last `max_lines` lines (a log's tail is its end)."""
    lines = clean(value).expandtabs(4).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if max_lines is not None:
        lines = lines[-max_lines:] if max_lines > 0 else []
    lines = [_TAG_START.sub("<" + ZWSP, shorten(line, max_line_length)) for line in lines]
    body = "\n".join(lines)
    fence = _fence_for(body, 3)
    info = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return Md(f"{fence}{info}\n{body}\n{fence}" if body else f"{fence}{info}\n{fence}")


_URL_SAFE = ":/?#@!$&'*+,;=%~-._"


def safe_url(url: str | None) -> Md:
    """`url` if it is an absolute http(s) URL, percent-encoded so that it cannot end a link
    destination or an autolink early (parentheses, angle brackets, quotes); else empty."""
    target = (url or "").strip()
    if not target or _CONTROL.search(target) or any(c.isspace() for c in target):
        return Md("")
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Md("")
    return Md(quote(target, safe=_URL_SAFE))


def md_link(text: object, url: str | None, limit: int | None = None) -> Md:
    """`[text](url)` for an http(s) URL; the escaped text alone when there is no usable URL,
    so the embedded store's experiments (no UI) never show a broken link."""
    label = md_text(text, limit) or Md("(unnamed)")
    target = safe_url(url)
    return Md(f"[{label}]({target})") if target else label


def plain_line(value: object, limit: int | None = None) -> str:
    """One line of plain text (check titles, status descriptions): no Markdown there."""
    return _one_line(value, limit)
