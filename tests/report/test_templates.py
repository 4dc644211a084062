"""The templates ship in the package, every printed value goes through a filter, and the
context is frozen."""

from __future__ import annotations

from importlib import resources

import jinja2
import pytest

from driftgate.compare import compare
from driftgate.config import GateConfig
from driftgate.report import render_comment, render_summary
from driftgate.report.render import (
    environment,
    render_check,
    render_terminal,
    status_description,
)
from driftgate.result import GateResult, ReportContext
from tests.report.scenarios import CONTEXT, fail_result, incomplete_pair

SURFACES = {"comment", "check_summary", "check_text", "summary", "terminal"}


def test_templates_are_package_resources() -> None:
    folder = resources.files("driftgate.report") / "templates"
    names = {p.name for p in folder.iterdir() if p.name.endswith(".md.j2")}
    assert {f"{s}.md.j2" for s in SURFACES} <= names
    env = environment()
    for name in names:
        env.get_template(name)  # compiles


def test_a_raw_string_cannot_be_printed() -> None:
    env = environment()
    with pytest.raises(TypeError, match="unescaped str"):
        env.from_string("{{ x }}").render(x="<b>@octocat</b>")
    assert env.from_string("{{ x | md_text }} {{ n }}").render(x="<b>", n=3) == "&lt;b&gt; 3"


def test_undefined_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing | md_text }}").render()


def test_rendering_is_pure_and_repeatable() -> None:
    result = fail_result()
    assert render_comment(result, CONTEXT) == render_comment(result, CONTEXT)
    assert render_summary(result, CONTEXT) == render_summary(fail_result(), CONTEXT)


def test_the_context_note_is_escaped_too() -> None:
    ctx = CONTEXT.model_copy(update={"full_report_note": "see <b>@octocat</b>"})
    big = GateResult(reports=fail_result().reports * 3, command=fail_result().command)
    body = render_comment(big, ctx)
    assert "see &lt;b&gt;@\u200boctocat&lt;/b&gt;" in body


def test_context_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        CONTEXT.pipeline = "other"  # type: ignore[misc]
    assert ReportContext(
        repository=None, pipeline="p", head_sha=None, base_branch=None, pr_number=None,
        run_url=None, backend="the embedded store",
    ).full_report_note  # fmt: skip


# -- an incomplete experiment ----------------------------------------------------------------


def _incomplete_result(level: str) -> GateResult:
    """A comparison where nothing regressed but the candidate's run 1 lacks 6 of its 40
    records' task spans."""
    base, cand = incomplete_pair()
    report = compare(base, cand, GateConfig(incomplete=level))  # type: ignore[arg-type]
    return GateResult(reports=[report], found_how="the experiment URLs the command printed")


@pytest.mark.parametrize(("level", "verdict"), [("warn", "warn"), ("fail", "fail")])
def test_every_surface_says_which_run_is_short_of_records(level: str, verdict: str) -> None:
    result = _incomplete_result(level)
    assert result.reports[0].verdict == verdict
    said = "run 1: 34 of 40 records"
    check = render_check(result, CONTEXT)
    surfaces = {
        "comment": render_comment(result, CONTEXT),
        "summary": render_summary(result, CONTEXT),
        "terminal": render_terminal(result, CONTEXT),
        "check summary": check.summary,
        "check title": check.title,
        "status": status_description(result),
    }
    for name, text in surfaces.items():
        assert said in text, name
        assert "0 metrics regressed" not in text, name
    assert (
        "**Incomplete**: task spans are missing from the candidate (run 1: 34 of 40"
        in (surfaces["comment"])
    )
    if level == "fail":
        assert '`incomplete = "fail"` fails the gate' in surfaces["comment"]
    else:
        assert "The gate passes." in surfaces["comment"]


def test_incomplete_off_is_not_rendered() -> None:
    result = _incomplete_result("off")
    assert result.reports[0].verdict == "pass"
    assert "of 40 records" not in render_comment(result, CONTEXT)
    assert "incomplete" not in render_terminal(result, CONTEXT)
