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
- **Headings.** A trailing run of `#` after a space would be read as a heading's closing
  sequence and vanish: its first `#` is escaped. A text of `=` or of `-` and spaces would
  be a rule, or underline the line above into a heading: escaped like the block markers.
- **Links and notifications.** GitHub links more than CommonMark: cmark-gfm's autolink
  extension turns `www.`, `http://`, `https://`, `ftp://` and e-mail addresses (with or
  without `mailto:`/`xmpp:`) into links, and GitHub itself links `@name`, `@org/team`
  (notifying them), `#12`, `GH-12` and `owner/repo#12` (leaving a cross-reference in that
  issue's timeline on every update of the comment). A zero-width space breaks each pattern
  where no escape can: after every `@`, between `www` and its dot, between `:` and `//`,
  and after the `#` or `GH-` of an issue number. Backslash escapes do not help here: the
  autolink extension reads the source, where `\\_www.` is still `www.` after `_`. The
  space is invisible; it only shows if the text is copied. Left alone: a bare commit sha
  (GitHub links it only to a commit of this repository, with no notification) and emoji
  shortcodes (GitHub's own images).
- **Code.** A fence longer than any backtick run in the text, so the text cannot close it;
  cmark-gfm reads at most 80 backticks around a code span and 255 in a fence (longer ones
  are text, and the code inside is read as Markdown again), so a longer run in the text is
  cut by zero-width spaces first. Inside code, `<` before a tag name, `!`, `/` or `?` gets
  a zero-width space, so that even a renderer that missed the fence could not read a tag.
- **Attributes.** A record's id goes in the `title` of an `<abbr>` (a tooltip: GitHub's
  sanitizer keeps both): `&`, `<`, `>`, quotes and `|` (which would end a table cell
  before any HTML is read) become entities.
- **Terminals.** Control characters (ANSI escapes among them), NUL, and the bidirectional
  marks, overrides and isolates are dropped; a lone surrogate (valid in JSON, not in UTF-8)
  becomes U+FFFD. These, and whitespace runs collapsing to one space on one-line surfaces,
  are the only changes to what the text says.

Texts are shortened *before* escaping, so a cut never splits an entity or an escape.

- **Mermaid.** A chart's text (its title, the x axis's labels) sits in a double-quoted
  string of a fenced `mermaid` block, and Mermaid reads more than the string's grammar
  before it parses: `%%{...}%%` anywhere is a directive (its configuration, its theme),
  a line starting with `%%` a comment, `#name;` an entity, a backtick a Markdown string.
  No escape exists inside its strings, so `mermaid_text` keeps letters, digits, spaces and
  a few harmless marks (`-_.:/()+,'=@`) and turns every other character into a space: no
  quote can end the string, no directive, entity, tag or backtick can form, and the block's
  fence cannot close early.

The terminal (`driftgate run`'s output, report.md) is text, not HTML: its filters
(`plain_text`, `plain_cell`, `plain_code`, `plain_block`) only drop what a terminal would
obey (control characters, ANSI escapes, bidirectional overrides) and keep every text on its
line; no entity, no backslash escape, no zero-width space, so what is shown copies as it was
typed. The one mark they add is `\\|` for a `|` inside a table cell, the table's own escape
(with the backslashes right before it doubled), so that the row keeps its columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

__all__ = [
    "Md",
    "clean",
    "code_block",
    "code_lines",
    "code_span",
    "html_attr",
    "html_text",
    "md_cell",
    "md_link",
    "md_text",
    "mermaid_text",
    "plain_block",
    "plain_cell",
    "plain_code",
    "plain_line",
    "plain_text",
    "safe_url",
    "shorten",
]

ZWSP = "\u200b"
ELLIPSIS = "…"

# C0/C1 controls except tab and newline, plus the bidirectional marks, overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Half of a UTF-16 pair alone: JSON can carry one, UTF-8 (every surface) cannot.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Where a zero-width space goes so that GitHub links nothing (see the module's docstring):
# after each match.
_LINK_START = re.compile(r"(?i)@|www(?=\.)|:(?=//)|(?:#|GH-)(?=\d)")
# ASCII punctuation: after a backslash, CommonMark reads the pair as the literal character.
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# Always backslash-escaped in inline text: they open spans (code, emphasis, links, math,
# strikethrough) or end a table cell.
_ALWAYS = frozenset("`*[]|~$")
# What would start a heading or a list item, or be a rule or underline the line above into
# a heading (`***` and `___` are escaped anyway), if the text began a line.
_LEADING_BLOCK = re.compile(r"^(?:(?:#{1,6}|[+-]|\d{1,9}[.)])(?= |$)|=+$|-[- ]*$)")
# What a heading would drop as its closing sequence if the text ended one.
_TRAILING_HASHES = re.compile(r"(?:^|(?<= ))#+$")
_TAG_START = re.compile(r"<(?=[A-Za-z!/?])")
_BACKTICKS = re.compile(r"`+")
# The longest delimiter cmark-gfm reads: a longer code span's backticks, or a longer fence,
# are text, and what they were meant to hold is read as Markdown again.
_SPAN_FENCE_MAX = 80
_BLOCK_FENCE_MAX = 255


class Md(str):
    """Text that is safe to print where it is printed: escaped data or our own Markdown."""

    __slots__ = ()


def clean(value: object) -> str:
    """`value` as text without control characters; newlines and tabs kept."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _SURROGATE.sub("\ufffd", text)


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
    return _LINK_START.sub(lambda m: m[0] + ZWSP, text)


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
    if trailing := _TRAILING_HASHES.search(escaped):
        # `x ##` -> `x \##`: a run that starts with an escape closes nothing.
        escaped = escaped[: trailing.start()] + "\\" + escaped[trailing.start() :]
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


def html_attr(value: object, limit: int | None = None) -> Md:
    """A quoted HTML attribute's value (a tooltip), also inside a table cell."""
    text = _one_line(value, limit)
    for char, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&quot;"),
        ("'", "&#39;"),
        ("|", "&#124;"),
    ):
        text = text.replace(char, entity)
    return Md(text)


def _fenced(text: str, minimum: int, maximum: int) -> tuple[str, str]:
    """`text` with its backtick runs cut by zero-width spaces to less than `maximum`, and a
    fence longer than any run left."""
    shorter = maximum - 1

    def cut(run: re.Match[str]) -> str:
        r = run[0]
        return ZWSP.join(r[i : i + shorter] for i in range(0, len(r), shorter))

    text = _BACKTICKS.sub(cut, text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return text, "`" * max(minimum, longest + 1)


def code_span(value: object, limit: int | None = None) -> Md:
    """Inline code on one line, outside tables (use `md_cell` there)."""
    text = _TAG_START.sub("<" + ZWSP, _one_line(value, limit))
    if not text:
        return Md("")
    text, fence = _fenced(text, 1, _SPAN_FENCE_MAX)
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
    body, fence = _fenced("\n".join(lines), 3, _BLOCK_FENCE_MAX)
    info = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return Md(f"{fence}{info}\n{body}\n{fence}" if body else f"{fence}{info}\n{fence}")


def code_lines(values: Iterable[object]) -> Md:
    """A code block of one value per line (record ids): a value's own line breaks become
    spaces, so that one id never reads as two."""
    return code_block("\n".join(_one_line(value, None) for value in values))


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


_MERMAID_MARKS = frozenset(" -_.:/()+,'=@")


def mermaid_text(value: object, limit: int | None = None) -> Md:
    """Text for a double-quoted string of a Mermaid chart (a title, an axis label): letters,
    digits, spaces and a few harmless marks; anything else becomes a space."""
    kept = "".join(c if c.isalnum() or c in _MERMAID_MARKS else " " for c in _one_line(value, None))
    return Md(shorten(" ".join(kept.split()), limit))


def plain_line(value: object, limit: int | None = None) -> str:
    """One line of plain text (check titles, status descriptions): no Markdown there."""
    return _one_line(value, limit)


# ------------------------------------------------------------------------------ terminal


def plain_text(value: object, limit: int | None = None) -> Md:
    """Text on one line for a terminal: as written, without control characters."""
    return Md(_one_line(value, limit))


_CELL_PIPE = re.compile(r"(\\*)\|")


def plain_cell(value: object, limit: int | None = None, empty: str = "(empty)") -> Md:
    """A cell of a terminal's table: `plain_text`, `|` as `\\|` (and the backslashes right
    before one doubled) so the row keeps its columns, and a mark for an empty text."""
    # A backslash right before a `|` would escape the escape: doubled, there only.
    text = _CELL_PIPE.sub(lambda m: m[1] * 2 + "\\|", _one_line(value, limit))
    return Md(text or empty)


def plain_code(value: object, limit: int | None = None) -> Md:
    """Inline code for a terminal: the text as written between backticks, more of them
    than any run inside."""
    text = _one_line(value, limit)
    if not text:
        return Md("")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def plain_block(value: object, lang: str = "text", max_line_length: int | None = 500) -> Md:
    """A fenced block for a terminal: each line as written (tabs expanded), a fence longer
    than any run of backticks inside, so a line of the text never reads as its end."""
    lines = clean(value).expandtabs(4).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    body = "\n".join(shorten(line, max_line_length) for line in lines)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    info = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return Md(f"{fence}{info}\n{body}\n{fence}" if body else f"{fence}{info}\n{fence}")
