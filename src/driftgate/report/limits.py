"""GitHub's size limits, and the one way text is fitted into them.

Declared once, here, for the renderer (which picks the richest rendering that fits), the
GitHub client (whose last guard never sends what GitHub would refuse) and the job summary
writer. Pure and free of PyGithub.

Comment bodies and check-run fields are counted in UTF-16 units, which is safe whichever
way GitHub counts (an emoji outside the BMP is two units, one character); the step summary
is counted in UTF-8 bytes, as the runner counts the file.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMENT_LIMIT = 65_536
"""An issue or pull request comment's body."""
CHECK_TEXT_LIMIT = 65_535
"""A check run's `output.summary` and `output.text`, each."""
CHECK_TITLE_LIMIT = 255
"""A check run's `output.title`."""
STATUS_DESCRIPTION_LIMIT = 140
"""A commit status's description."""
SUMMARY_LIMIT = 1024 * 1024
"""A step's job summary, in bytes (every write of the step counts)."""

ELLIPSIS = "…"


@dataclass(frozen=True)
class Unit:
    """What a limit counts: UTF-16 units or UTF-8 bytes."""

    encoding: str
    width: int  # bytes per unit in `encoding`

    def length(self, text: str) -> int:
        return len(text.encode(self.encoding)) // self.width

    def prefix(self, text: str, room: int) -> str:
        """The longest prefix of whole characters within `room` units: cutting the encoding
        and dropping a dangling partial character keeps whole characters only."""
        cut = text.encode(self.encoding)[: self.width * max(room, 0)]
        return cut.decode(self.encoding, errors="ignore")


UTF16 = Unit("utf-16-le", 2)
UTF8 = Unit("utf-8", 1)


def utf16_length(text: str) -> int:
    return UTF16.length(text)


def fit_line(text: str, limit: int) -> tuple[str, bool]:
    """One line (a title, a description) within `limit` UTF-16 units, whitespace folded,
    ending in an ellipsis when cut; and whether it was cut."""
    line = " ".join(text.split())
    if utf16_length(line) <= limit:
        return line, False
    return UTF16.prefix(line, limit - 1).rstrip() + ELLIPSIS, True


def _closers(text: str) -> str:
    """What closes a cut that left a code fence or `<details>` blocks open."""
    closing = ""
    if sum(1 for line in text.splitlines() if line.lstrip().startswith("```")) % 2:
        closing += "\n```"
    open_details = text.count("<details") - text.count("</details>")
    closing += "\n</details>" * max(open_details, 0)
    return closing


def fit_block(text: str, limit: int, note: str, unit: Unit = UTF16) -> tuple[str, bool]:
    """Markdown within `limit`: unchanged when it fits, else cut at a line boundary (when
    one is in the second half of what fits, so a table row or a link is not left
    half-written), open blocks closed, and `note` appended; and whether it was cut."""
    measure = unit.length
    if measure(text) <= limit:
        return text, False
    budget = limit - measure(note)
    while True:
        kept = unit.prefix(text, budget)
        newline = kept.rfind("\n")
        if newline >= len(kept) // 2:
            kept = kept[:newline]
        closing = _closers(kept)
        if measure(kept) + measure(closing) + measure(note) <= limit or budget <= 0:
            return kept + closing + note, True
        budget -= measure(closing)
