"""GitHub's limits and the one way text is fitted into them (report/limits.py)."""

from __future__ import annotations

import pytest

from driftgate.report.limits import UTF8, UTF16, fit_block, fit_line, utf16_length

NOTE = "\n\n(cut)\n"


def test_lengths_count_what_github_and_the_runner_count() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("🚀") == 2  # outside the BMP: a surrogate pair
    assert UTF8.length("é🚀") == 2 + 4


@pytest.mark.parametrize("unit", [UTF16, UTF8])
def test_prefix_keeps_whole_characters(unit: object) -> None:
    text = "a🚀b"
    for room in range(8):
        kept = unit.prefix(text, room)  # type: ignore[attr-defined]
        assert text.startswith(kept)
        assert unit.length(kept) <= room  # type: ignore[attr-defined]
    assert UTF16.prefix(text, 2) == "a"  # half of the rocket is no rocket
    assert UTF8.prefix(text, 4) == "a"


def test_fit_line_folds_whitespace_and_ends_in_an_ellipsis() -> None:
    assert fit_line("a\n  b", 10) == ("a b", False)
    line, cut = fit_line("🚀" * 10, 7)
    assert cut and line == "🚀🚀🚀…" and utf16_length(line) <= 7


def test_fit_block_leaves_what_fits_alone() -> None:
    assert fit_block("short\n", 100, NOTE) == ("short\n", False)


@pytest.mark.parametrize("unit", [UTF16, UTF8])
def test_fit_block_cuts_at_a_line_and_closes_what_it_opened(unit: object) -> None:
    text = "intro\n<details>\n\n```\n" + "".join(f"line {i} é🚀\n" for i in range(500))
    limit = 400
    fitted, cut = fit_block(text, limit, NOTE, unit)  # type: ignore[arg-type]
    assert cut
    assert unit.length(fitted) <= limit  # type: ignore[attr-defined]
    assert fitted.endswith("\n```\n</details>" + NOTE)
    body = fitted.removesuffix("\n```\n</details>" + NOTE)
    assert text.startswith(body) and body.endswith(("é🚀", "```"))  # whole lines only


def test_fit_block_never_cuts_mid_line_when_a_line_end_is_near() -> None:
    text = "\n".join("x" * 50 for _ in range(100))
    fitted, cut = fit_block(text, 1000, NOTE)
    assert cut
    assert all(line in ("x" * 50, "", "(cut)") for line in fitted.split("\n"))
