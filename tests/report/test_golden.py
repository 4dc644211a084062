"""The rendered comment, check output, job summary and terminal text for each state, pinned.

Regenerate after an intended change: `DRIFTGATE_UPDATE_GOLDEN=1 uv run pytest tests/report`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from driftgate.compare.schema import ExperimentRef
from driftgate.report import (
    render_check,
    render_comment,
    render_summary,
    render_terminal,
    status_description,
)
from driftgate.result import GateResult
from tests.report.markdown import assert_well_formed
from tests.report.scenarios import BASE_ID, CAND_ID, CONTEXT, LOCAL_CONTEXT, SCENARIOS

Golden = Callable[[str, str], None]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_comment(name: str, golden: Golden) -> None:
    text = render_comment(SCENARIOS[name](), CONTEXT)
    assert_well_formed(text)
    golden(f"{name}.comment.md", text)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_check(name: str, golden: Golden) -> None:
    result = SCENARIOS[name]()
    check = render_check(result, CONTEXT)
    assert_well_formed(check.summary)
    if check.text is not None:
        assert_well_formed(check.text)
    shown = (
        f"title: {check.title}\nstatus: {status_description(result)}\n\n"
        f"----- summary -----\n{check.summary}\n----- text -----\n{check.text or '(none)'}\n"
    )
    golden(f"{name}.check.md", shown)


@pytest.mark.parametrize(
    "name",
    [
        "fail",
        "review",
        "sliced",
        "restricted",
        "pooled",
        "error_crashed",
        "no_baseline",
        "no_baseline_explained",
    ],
)
def test_summary(name: str, golden: Golden) -> None:
    text = render_summary(SCENARIOS[name](), CONTEXT)
    assert_well_formed(text)
    golden(f"{name}.summary.md", text)


@pytest.mark.parametrize(
    "name",
    [
        "fail",
        "review",
        "sliced",
        "restricted",
        "pooled",
        "error_timeout",
        "multi",
        "no_baseline",
        "no_baseline_explained",
    ],
)
def test_terminal(name: str, golden: Golden) -> None:
    golden(f"{name}.terminal.md", render_terminal(SCENARIOS[name](), LOCAL_CONTEXT))


def _with_urls(result: GateResult, base: str | None) -> GateResult:
    """`result` with each experiment's link under `base` (None: no link)."""

    def linked(ref: ExperimentRef | None) -> ExperimentRef | None:
        if ref is None:
            return None
        return ref.model_copy(update={"url": f"{base}/ui/experiments/{ref.id}" if base else None})

    reports = [
        r.model_copy(update={"candidate": linked(r.candidate), "baseline": linked(r.baseline)})
        for r in result.reports
    ]
    return result.model_copy(update={"reports": reports})


def test_embedded_store_comment_has_no_links_to_experiments(golden: Golden) -> None:
    """In CI the embedded store is on the runner: names as text, never a link that leads
    nowhere, and how to browse the store instead."""
    served = LOCAL_CONTEXT.model_copy(update={"serve_command": "driftgate serve"})
    text = render_comment(_with_urls(SCENARIOS["fail"](), None), served)
    assert "](" not in text  # no link at all: no experiment URL, no run URL
    assert "Candidate answers-102 at `40ac51f` · baseline answers-101 at `a79cf5d`" in text
    assert (
        "Experiments in the embedded store (to browse them: `driftgate serve` on this run's "
        "store file)" in text
    )
    golden("fail.local.comment.md", text)


def test_a_local_report_links_the_stores_pages(golden: Golden) -> None:
    """A local run on the embedded store: its experiments' links are `driftgate serve`'s
    pages, and the report says what serves them."""
    served = LOCAL_CONTEXT.model_copy(update={"serve_command": "driftgate serve"})
    text = render_terminal(_with_urls(SCENARIOS["fail"](), "http://127.0.0.1:8765"), served)
    assert f"<http://127.0.0.1:8765/ui/experiments/{CAND_ID}>" in text
    assert f"<http://127.0.0.1:8765/ui/experiments/{BASE_ID}>" in text
    assert "Pages: `driftgate serve` serves the embedded store's experiments at the links" in text
    golden("fail.local.terminal.md", text)
    # Without links (a run in CI, read later), the command alone.
    bare = render_terminal(_with_urls(SCENARIOS["fail"](), None), served)
    assert "(at /ui/experiments where it listens)" in bare
    assert "/ui/experiments/" not in bare


def test_a_report_published_from_an_artifact_says_whose_figures_they_are(golden: Golden) -> None:
    """Rendered from a pull request's artifact, every surface says that the figures are the
    pull request's code's; rendered from the gate's own run, none does."""
    line = "**These figures come from the pull request's own code.**"
    result = SCENARIOS["fail"]()
    published = CONTEXT.model_copy(update={"from_artifact": True})
    comment = render_comment(result, published)
    assert_well_formed(comment)
    check = render_check(result, published)
    summary = render_summary(result, published)
    for text in (comment, check.summary, summary):
        assert text.count(line) == 1
    assert line not in (check.text or "")
    assert line not in render_comment(result, CONTEXT)
    assert line not in render_summary(result, CONTEXT)
    golden("fail.artifact.comment.md", comment)
