"""Text from experiments, git and the environment cannot break the table, the `<details>`,
the hidden marker, or mention anyone, on any surface."""

from __future__ import annotations

import re

import pytest

from driftgate.action import github
from driftgate.compare import compare, error_report
from driftgate.report import (
    render_check,
    render_comment,
    render_summary,
    render_terminal,
    status_description,
)
from driftgate.report.escape import ZWSP
from driftgate.result import GateResult, ReportContext
from tests.compare.builders import column, experiment, keys
from tests.report.markdown import assert_well_formed, fences, outside_code, tables
from tests.report.scenarios import HEAD_SHA, command

EVALUATOR = "a|b</details><!-- driftgate:x:y -->@octocat"
OUTPUT = (
    "```\n</details>\n<script>alert(1)</script> | cell | break\n"
    "<!-- driftgate:acme/bot:answers -->\n@octocat @acme/owners acme/bot#1 ````"
)
NAME = "exp</summary></details>@octocat|name\n# heading"
TAIL = "ok\n`````\n</details>\n<!-- driftgate:acme/bot:answers -->\n@octocat\n```` end"
CONTEXT = ReportContext(
    repository="acme/bot",
    pipeline="answers|<b>@octocat</b>",
    head_sha=HEAD_SHA,
    base_branch="feat/`x`</details>@octocat",
    pr_number=7,
    run_url="https://github.com/acme/bot/actions/runs/1?x=(y)<z>",
    backend="Datadog <datadoghq.com>",
)


def _hostile() -> GateResult:
    n = 30
    ids = [f"rec|{i}</details>" for i in keys(n)]
    outputs = [OUTPUT] * n
    info = {"name": NAME, "experiment": "answers", "metadata": {"commit": "`|</details>"}}
    hostile_category = "</summary></details>|@octocat"
    base = experiment(
        ids,
        evaluators=[
            column(EVALUATOR, "boolean", [1] * n),
            column("kind", "categorical", categories=["plain", hostile_category] * (n // 2)),
        ],
        outputs=["fine"] * n,
        info={**info, "id": "base"},
    )
    cand = experiment(
        ids,
        evaluators=[
            column(EVALUATOR, "boolean", [0] * 20 + [1] * 10),
            column("@octocat|only-here", "score", [0.5] * n),
            column("kind", "categorical", categories=[hostile_category] * n),
        ],
        outputs=outputs,
        info={**info, "id": "cand", "config": {"<b>|@x": 1}},
    )
    report = compare(
        base,
        cand,
        baseline_reason="because </details><!-- x --> @octocat | acme/bot#3",
        baseline_url="https://app.datadoghq.com/llm/experiments/base)(",
        candidate_url="javascript:alert(1)",
    )
    return GateResult(
        reports=[report],
        command=command(tail=TAIL),
        found_how="printed URLs @octocat",
        notes=["note </details> @octocat"],
    )


def _error() -> GateResult:
    cmd = command(2, tail=TAIL)
    return GateResult(
        reports=[error_report(f"failed: {cmd.describe_failure()} @octocat")], command=cmd
    )


# GitHub's surfaces. The terminal's (report.md) is text, shown as written: what it
# promises instead is tested below and in test_terminal.py.
SURFACES = {
    "comment": lambda r: render_comment(r, CONTEXT),
    "check summary": lambda r: render_check(r, CONTEXT).summary,
    "check text": lambda r: render_check(r, CONTEXT).text or "",
    "summary": lambda r: render_summary(r, CONTEXT),
}


@pytest.mark.parametrize("surface", sorted(SURFACES))
@pytest.mark.parametrize("make", [_hostile, _error], ids=["fail", "error"])
def test_nothing_breaks_out(surface: str, make: object) -> None:
    result = make()  # type: ignore[operator]
    text = SURFACES[surface](result)
    assert_well_formed(text)
    prose = outside_code(text)
    assert "@octocat" not in prose
    assert "</details>" not in prose.replace("\n</details>\n", "\n")
    assert "<script" not in text and "<b>" not in text
    assert "javascript:" not in text
    # github.py recognises its marker by whole lines: no rendered line may look like one.
    for line in text.split("\n"):
        assert not line.strip().startswith("<!-- driftgate")


def test_the_hostile_metric_keeps_its_row() -> None:
    text = render_comment(_hostile(), CONTEXT)
    (metrics, *_rest) = tables(text)
    header, _rule, first, *_ = metrics
    assert first.startswith(
        f"| a\\|b&lt;/details&gt;&lt;!-- driftgate:x:y --&gt;@{ZWSP}octocat | 100.0% → 33.3% |"
    )
    assert first.count("|") - first.count("\\|") == header.count("|")


def test_the_outputs_stay_inside_their_cells_and_the_details() -> None:
    text = render_comment(_hostile(), CONTEXT)
    inside = text[text.index("<details>") : text.index("</details>")]
    assert "I am not sure" not in inside  # sanity: these are the hostile outputs
    assert "\\`\\`\\`" in inside and "&lt;/details&gt;" in inside
    assert text.count("<details>") == text.count("</details>") == 1


def test_the_tail_cannot_close_its_fence() -> None:
    text = render_comment(_error(), CONTEXT)
    (block,) = fences(text)
    assert len(block.fence) == 6  # longer than the tail's run of five
    assert block.lines[0] == "ok" and block.lines[-1] == "```` end"
    assert f"<{ZWSP}/details>" in block.lines


def test_github_keeps_the_marker_first_and_does_not_cut() -> None:
    body = render_comment(_hostile(), CONTEXT)
    marker = github.comment_marker(CONTEXT.repository or "", CONTEXT.pipeline)
    composed, truncated = github._compose(marker, HEAD_SHA, body)
    assert not truncated
    assert composed.split("\n", 1)[0] == marker
    assert composed.count("<!--") == 2  # ours, and nothing else


def test_the_run_link_is_encoded() -> None:
    text = render_comment(_hostile(), CONTEXT)
    assert "(https://github.com/acme/bot/actions/runs/1?x=%28y%29%3Cz%3E)" in text


def test_one_liners_are_plain_single_lines() -> None:
    result = _hostile()
    for line in (render_check(result, CONTEXT).title, status_description(result)):
        assert "\n" not in line
        assert re.search(r"a\|b</details>", line)  # plain text: shown as written


@pytest.mark.parametrize("make", [_hostile, _error], ids=["fail", "error"])
def test_the_terminal_shows_hostile_text_as_written_in_its_place(make: object) -> None:
    """Text, not HTML: `<script>` and `@octocat` are shown as they are (a terminal runs
    neither), without entities or zero-width spaces; but every text stays on its line,
    tables keep their columns and the tail cannot close its block."""
    result = make()  # type: ignore[operator]
    text = render_terminal(result, CONTEXT)
    assert ZWSP not in text and "&lt;" not in text and "&amp;" not in text
    for f in fences(text):
        assert f.close_line is not None
    for table in tables(text):
        width = table[0].count("|") - table[0].count("\\|")
        assert all(row.count("|") - row.count("\\|") == width for row in table)
    if make is _hostile:
        assert "| a\\|b</details><!-- driftgate:x:y -->@octocat | 100.0% | 33.3% |" in text
        assert "## driftgate: FAIL (exp</summary></details>@octocat|name # heading)" in text
        assert "<script>alert(1)</script> \\| cell" not in text  # not in a table: as is
        assert "<script>alert(1)</script> | cell | break" in text
    else:
        (block,) = fences(text)
        assert block.lines == TAIL.split("\n")
        assert len(block.fence) == 6
