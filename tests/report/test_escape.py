"""The escaping filters on hostile inputs."""

from __future__ import annotations

import pytest

from driftgate.report.escape import (
    ZWSP,
    Md,
    code_block,
    code_span,
    html_text,
    md_cell,
    md_link,
    md_text,
    plain_line,
    safe_url,
    shorten,
)
from tests.report.markdown import fences, unescaped_pipes

HOSTILE = "a|b</details><!-- driftgate:x:y -->@octocat"


def test_md_text_neutralises_tables_html_markers_and_mentions() -> None:
    out = md_text(HOSTILE)
    assert out == f"a\\|b&lt;/details&gt;&lt;!-- driftgate:x:y --&gt;@{ZWSP}octocat"
    assert isinstance(out, Md)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("line one\nline two\r\n\tthree", "line one line two three"),
        ("**bold** _it_ ~~gone~~ `code`", "\\*\\*bold\\*\\* \\_it\\_ \\~\\~gone\\~\\~ \\`code\\`"),
        ("![pixel](https://evil.test/p.png)", "!\\[pixel\\](https:" + ZWSP + "//evil.test/p.png)"),
        ("costs $5 and $6", "costs \\$5 and \\$6"),
        ("exact_match and __init__", "exact_match and \\_\\_init\\_\\_"),
        ("C:\\path\\n and a\\*b", "C:\\path\\n and a\\\\\\*b"),
        ("AT&T &amp; <b>", "AT&amp;T &amp;amp; &lt;b&gt;"),
        ("# not a heading", "\\# not a heading"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("-5 and 3.14", "-5 and 3.14"),
        ("\x1b[31mred\x1b[0m \u202eevil", "\\[31mred\\[0m evil"),
    ],
)
def test_md_text_cases(raw: str, escaped: str) -> None:
    assert md_text(raw) == escaped


def test_mentions_teams_cross_references_and_urls_do_not_link() -> None:
    out = md_text("ping @octocat and @acme/team, see acme/repo#12, #3, https://x.test/a www.y.test")
    assert "@octocat" not in out and "@acme/team" not in out
    assert f"@{ZWSP}octocat" in out and f"@{ZWSP}acme/team" in out
    # An issue number links (and leaves a cross-reference), in this repository or another.
    assert "repo#12" not in out and f"repo#{ZWSP}12" in out
    assert f" #{ZWSP}3," in out
    assert md_text("GH-7 gh-8") == f"GH-{ZWSP}7 gh-{ZWSP}8"
    assert "https://" not in out and "www.y" not in out
    assert md_text("mail a@b.test") == f"mail a@{ZWSP}b.test"
    assert md_text("a@.b.test") == f"a@{ZWSP}.b.test"  # an address GitHub would link too


def test_www_after_an_underscore_or_a_marker_does_not_link() -> None:
    # The autolink extension reads the source: after `_`, `*`, `~` or `(`, escaped or not.
    for before in ("see_", "\\*", "~", "(", ""):
        assert md_text(f"{before}www.evil.example").endswith(f"www{ZWSP}.evil.example")
    assert md_text("WWW.evil.example") == f"WWW{ZWSP}.evil.example"


def test_a_trailing_hash_run_is_not_a_closing_sequence() -> None:
    assert md_text("step #") == "step \\#"
    assert md_text("step ##") == "step \\##"
    assert md_text("#") == "\\#"
    assert md_text("C#") == "C#"  # not after a space: the heading keeps it
    assert md_text("===") == "==\\="
    assert md_text("--") == "-\\-"


def test_clean_replaces_lone_surrogates() -> None:
    assert md_text("a\ud800b") == "a\ufffdb"
    assert md_text("\u061cx\u200ey") == "xy"


def test_md_text_shortens_before_escaping() -> None:
    out = md_text("<" * 50, 10)
    # 9 characters kept and an ellipsis: no entity is cut in half.
    assert out == "&lt;" * 9 + "…"
    assert md_text("x" * 5, 10) == "xxxxx"
    assert shorten("abcdef", 1) == "…"


def test_md_text_is_idempotent_on_escaped_text() -> None:
    once = md_text("a|b")
    assert md_text(once) == once


def test_md_cell_keeps_the_row_and_marks_empty_text() -> None:
    cells = [md_cell("x | y || z"), md_cell(""), md_cell("a\\|b")]
    row = "| " + " | ".join(cells) + " |"
    assert unescaped_pipes(row) == 4
    assert md_cell("") == "*(empty)*"
    assert md_cell("", empty="—") == "—"


def test_html_text_uses_entities_only() -> None:
    out = html_text('<summary>x</summary> "q" & @dev \\*')
    assert out == f"&lt;summary&gt;x&lt;/summary&gt; &quot;q&quot; &amp; @{ZWSP}dev \\*"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pip install x", "`pip install x`"),
        ("a `b` c", "``a `b` c``"),
        ("`b` c", "`` `b` c ``"),
        ("``x", "``` ``x ```"),
        ("a\nb", "`a b`"),
        ("<details>", f"`<{ZWSP}details>`"),
        ("", ""),
    ],
)
def test_code_span(raw: str, expected: str) -> None:
    assert code_span(raw) == expected


def test_code_block_cannot_be_closed_by_its_content() -> None:
    text = "before\n```\n</details>\n````python\n<!-- driftgate:x:y -->\nafter"
    block = code_block(text)
    (found,) = fences(block)
    assert found.fence == "`````"
    assert found.close_line == len(block.split("\n")) - 1
    assert found.lines[0] == "before" and found.lines[-1] == "after"
    assert "</details>" not in block and "<!--" not in block
    assert f"<{ZWSP}/details>" in block


def test_code_block_keeps_the_tail_and_drops_controls() -> None:
    block = code_block("1\n2\n3\n4\x1b[0m\n\n", max_lines=2)
    assert block == "```text\n3\n4[0m\n```"
    assert code_block("") == "```text\n```"
    assert code_block("x", lang="bad`lang") == "```badlang\nx\n```"


def test_md_link_accepts_http_only_and_encodes_the_destination() -> None:
    assert md_link("run", "https://ci.test/a (b)") == "run"  # whitespace: not a URL
    assert md_link("run", "https://ci.test/a_(b)<c>") == "[run](https://ci.test/a_%28b%29%3Cc%3E)"
    assert md_link("x]", "javascript:alert(1)") == "x\\]"
    assert md_link("x", None) == "x"
    assert md_link("x", "//host/path") == "x"
    assert md_link("", "https://ci.test") == "[(unnamed)](https://ci.test)"
    assert safe_url("https://ci.test/x\x00") == ""


def test_plain_line() -> None:
    assert plain_line("a\n  b\tc", 4) == "a b…"
