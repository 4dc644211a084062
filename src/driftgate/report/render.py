"""Rendering: the packaged Jinja2 templates, the filters they use, and the size budgets.

Pure: the only I/O is reading the templates shipped in this package, and keeping their
compiled form in the directory a caller names (`keep_compiled_templates`).

Size. Each surface has a limit (`limits.py`: the comment and the check run's fields in UTF-16
units, the job summary in UTF-8 bytes). The renderer
tries a ladder of `Detail`s, from rich to bare, and keeps the first rendering that fits;
what a rendering leaves out is counted in it ("... and 19,990 more records") and a note
says where the full report is. Only if even the barest rendering is too long (hundreds of
experiments) is it cut at a line, with the note, here rather than by `github.py`'s last
guard. The comment's limit is the caller's to give: on GitHub, what the markers leave
(`action.github.comment_room`). The barest rendering holds no `<details>` and no code block,
so that cut cannot leave one open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict

from driftgate.compare.schema import Metric
from driftgate.report import charts, escape, formats
from driftgate.report.escape import Md
from driftgate.report.limits import (
    CHECK_TEXT_LIMIT,
    CHECK_TITLE_LIMIT,
    COMMENT_LIMIT,
    STATUS_DESCRIPTION_LIMIT,
    SUMMARY_LIMIT,
    UTF8,
    UTF16,
    Unit,
    fit_block,
    fit_line,
)
from driftgate.report.view import Detail, ExperimentView, ResultView, build, top_categories
from driftgate.result import GateResult, ReportContext
from driftgate.verdict import (
    Conclusion,
    FailOn,
    NoBaseline,
    conclusion_for,
    decided_by_no_baseline,
    effective_no_baseline,
)

__all__ = [
    "CHECK_DETAILS",
    "CHECK_TEXT_DETAILS",
    "COMMENT_DETAILS",
    "SUMMARY_DETAILS",
    "CheckOutput",
    "CheckRules",
    "environment",
    "render_check",
    "render_comment",
    "render_summary",
    "render_terminal",
    "status_description",
]

# Room left in the step summary for what else the step writes (a warning, a second report).
SUMMARY_MARGIN = 16 * 1024


class CheckOutput(BaseModel):
    """The check run's output. The conclusion is decided elsewhere."""

    model_config = ConfigDict(frozen=True)

    title: str
    summary: str
    text: str | None = None


# ---------------------------------------------------------------------------- details

# Rich to bare. The comment stays compact even when everything would fit.
COMMENT_DETAILS: tuple[Detail, ...] = (
    Detail(metrics=25, flipped=10, text=100, name=80, warnings=10, ids=0, tail=30, charts=4),
    Detail(metrics=15, flipped=5, text=60, name=60, warnings=5, ids=0, tail=15, charts=2),
    Detail(metrics=8, flipped=3, text=40, name=40, warnings=3, ids=0, tail=8, charts=1),
    Detail(metrics=3, flipped=0, text=0, name=40, warnings=1, ids=0, tail=0, charts=0),
    Detail(metrics=0, flipped=0, text=0, name=30, warnings=0, ids=0, tail=0, line=120, charts=0),
)
# The check run's summary is the comment without the records; its text holds the details.
CHECK_DETAILS = COMMENT_DETAILS
CHECK_TEXT_DETAILS: tuple[Detail, ...] = (
    Detail(metrics=200, flipped=20, text=200, name=120, warnings=50, ids=200, tail=60, charts=20),
    Detail(metrics=60, flipped=10, text=100, name=80, warnings=20, ids=50, tail=30, charts=10),
    Detail(metrics=20, flipped=5, text=60, name=60, warnings=5, ids=0, tail=10, charts=5),
    Detail(metrics=0, flipped=0, text=0, name=40, warnings=0, ids=0, tail=0, line=120, charts=0),
)
SUMMARY_DETAILS: tuple[Detail, ...] = (
    Detail(
        metrics=2000, flipped=100, text=500, name=200, warnings=200, ids=1000, tail=200, charts=50
    ),
    Detail(metrics=500, flipped=50, text=200, name=120, warnings=100, ids=200, tail=60, charts=20),
    Detail(metrics=100, flipped=20, text=100, name=80, warnings=20, ids=50, tail=30, charts=10),
    Detail(metrics=20, flipped=5, text=60, name=60, warnings=5, ids=0, tail=10, charts=2),
    Detail(metrics=0, flipped=0, text=0, name=40, warnings=0, ids=0, tail=0, line=120, charts=0),
)
TERMINAL_DETAIL = Detail(
    metrics=None, flipped=20, text=200, name=200, warnings=None, ids=0, tail=60, line=1000
)

# ---------------------------------------------------------------------------- environment


def _trusted(value: object) -> Md:
    """Our own words or numbers, never data: ints, and strings written in this package."""
    return Md(str(value))


def _num(value: float | int | None, digits: int = 3) -> Md:
    if isinstance(value, int) and not isinstance(value, bool):
        return Md(f"{value:,}")
    return formats.number(value, digits)


def _short_sha(value: str | None, length: int = 12, *, code: bool = True) -> Md:
    """A commit's first `length` characters (no ellipsis: that is how shas read), as code
    or as text."""
    text = escape.plain_line(value)[:length]
    if not text:
        return formats.MISSING
    return escape.code_span(text) if code else escape.md_text(text)


def _distribution_shift(metric: Metric) -> Md:
    """Total variation between the two category distributions, for categories that have
    no better or worse."""
    if not metric.distribution:
        return formats.MISSING
    moved = 0.5 * sum(abs((b or 0.0) - (c or 0.0)) for b, c in metric.distribution.values())
    return Md(f"shift {moved:.1%}")


FILTERS: dict[str, Callable[..., Any]] = {
    # escaping (escape.py): every data string goes through one of these
    "md_text": escape.md_text,
    "md_cell": escape.md_cell,
    "html_text": escape.html_text,
    "code_span": escape.code_span,
    "code_block": escape.code_block,
    "code_lines": escape.code_lines,
    "md_link": escape.md_link,
    "url": escape.safe_url,
    "html_attr": escape.html_attr,
    "trusted": _trusted,
    # the terminal: text, not HTML (escape.py)
    "plain": escape.plain_text,
    "plain_cell": escape.plain_cell,
    "plain_code": escape.plain_code,
    "plain_block": escape.plain_block,
    # numbers (formats.py)
    "num": _num,
    "pct": formats.pct,
    "pts": formats.pts,
    "relative": formats.relative,
    "duration": formats.duration,
    "pvalue": formats.pvalue,
    "value": formats.metric_value,
    "change": formats.change,
    "interval": formats.interval,
    "level": formats.level,
    "min_effect": formats.min_effect,
    "arrow": formats.arrow,
    "trend": formats.trend,
    "record_value": formats.record_value,
    "shift": _distribution_shift,
    "count": formats.count,
    "sha": _short_sha,
    # trends (charts.py)
    "mermaid": charts.mermaid_chart,
    "sparkline": charts.sparkline,
    "trend_value": charts.trend_value,
    "unit_words": charts.unit_words,
    # verdicts
    "verdict_emoji": formats.verdict_emoji,
    "verdict_word": formats.verdict_word,
    "verdict_badge": formats.verdict_badge,
    "metric_verdict": formats.metric_verdict,
    "gate_badge": formats.gate_badge,
}


def _finalize(value: object) -> object:
    """Refuse to print anything that did not go through a filter: a plain string in a
    template is data that nobody escaped."""
    if isinstance(value, Md) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(
        f"a template printed an unescaped {type(value).__name__} ({str(value)[:60]!r}); "
        "pass it through md_text, md_cell, html_text, code_span, code_block or a number filter"
    )


def _load(name: str) -> str:
    return (resources.files("driftgate.report") / "templates" / name).read_text("utf-8")


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept in a directory between runs (Jinja2 checks each against its
    template's source); one that cannot be read or written is no cache, never a failed
    rendering."""

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory))
        self._directory = directory

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with suppress(OSError):
            self._directory.mkdir(parents=True, exist_ok=True)
            super().dump_bytecode(bucket)


_bytecode_cache: jinja2.BytecodeCache | None = None


def keep_compiled_templates(directory: Path | None) -> None:
    """Keep the compiled templates in `directory` (the caller's to give; None: compile them
    in memory at every start, as by default). Compiling them takes ten times as long as
    rendering a report with them."""
    global _bytecode_cache  # noqa: PLW0603 (the one environment's setting)
    current = _bytecode_cache._directory if isinstance(_bytecode_cache, _TemplateCache) else None
    if directory == current:
        return  # the templates already loaded stay loaded
    _bytecode_cache = None if directory is None else _TemplateCache(directory)
    environment.cache_clear()


def load_templates() -> None:
    """Load every template now (from the compiled ones kept, when there are), so that a
    rendering later finds them ready: the gate does this while the user's command runs."""
    env = environment()
    for entry in (resources.files("driftgate.report") / "templates").iterdir():
        if entry.name.endswith(".j2"):
            env.get_template(entry.name)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        bytecode_cache=_bytecode_cache,
        loader=jinja2.FunctionLoader(_load),
        # HTML autoescaping is the wrong escaping for Markdown (it leaves `|`, `@` and
        # backticks alone): our filters escape, and `_finalize` makes them mandatory.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(FILTERS)
    env.globals.update(categories=top_categories)
    return env


def _render(template: str, view: ResultView, ctx: ReportContext, why: Md | None = None) -> str:
    template_ = environment().get_template(template)
    return _tidy(template_.render(view=view, ctx=ctx, d=view.detail, note=_note(ctx), why=why))


def _tidy(text: str) -> str:
    """One blank line at most between blocks (templates leave more where optional parts
    were empty), none at either end; code blocks are kept as they are."""
    out: list[str] = []
    fence = ""
    for line in text.split("\n"):
        if fence:
            out.append(line)
            if line == fence:
                fence = ""
            continue
        if line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
        if line.strip():
            out.append(line)
        elif out and out[-1]:
            out.append("")
    return "\n".join(out).strip("\n") + "\n"


# ---------------------------------------------------------------------------- budgets


def _note(ctx: ReportContext) -> Md:
    """Where the full report is: the context's note, and the run's link when there is one."""
    url = escape.safe_url(ctx.run_url)
    where = f" [Open the workflow run]({url})." if url else ""
    return Md(f"{escape.md_text(ctx.full_report_note)}{where}")


def _fitted(
    template: str,
    result: GateResult,
    ctx: ReportContext,
    details: Sequence[Detail],
    limit: int,
    unit: Unit = UTF16,
    why: Md | None = None,
) -> str:
    """The richest rendering of `template` within `limit`; the barest one cut at a line
    when none fits."""
    text = ""
    for detail in details:
        text = _render(template, build(result, detail), ctx, why)
        if unit.length(text) <= limit:
            return text
    tail = f"\n\n**This report was cut to fit GitHub's size limit.** {_note(ctx)}\n"
    return fit_block(text.rstrip("\n"), limit, tail, unit)[0]


# ---------------------------------------------------------------------------- surfaces


def render_comment(result: GateResult, ctx: ReportContext, limit: int = COMMENT_LIMIT) -> str:
    """The sticky pull request comment: compact, within `limit` (on GitHub, the room the
    hidden markers leave: `action.github.comment_room`)."""
    return _fitted("comment.md.j2", result, ctx, COMMENT_DETAILS, limit)


@dataclass(frozen=True)
class CheckRules:
    """What decides the check's conclusion besides the verdicts: the step's `fail-on` and
    `no-baseline`, and whether the run records on the base branch itself."""

    fail_on: FailOn = "regression"
    no_baseline: NoBaseline = "neutral"
    on_base_branch: bool = False

    def conclusion(self, result: GateResult) -> Conclusion:
        return conclusion_for(
            result.verdicts, self.fail_on, self.no_baseline, on_base_branch=self.on_base_branch
        )


DEFAULT_RULES = CheckRules()


def render_check(
    result: GateResult, ctx: ReportContext, rules: CheckRules = DEFAULT_RULES
) -> CheckOutput:
    """The check run's title, summary (the comment without its records) and text (every
    metric's statistics, the records, the evaluators); text is None when there is nothing
    to compare (no baseline, an error). When experiments without a baseline decide the
    conclusion, the title and the summary's first paragraph say why it is what it is."""
    why = _why_no_baseline(result, ctx, rules)
    summary = _fitted(
        "check_summary.md.j2",
        result,
        ctx,
        CHECK_DETAILS,
        CHECK_TEXT_LIMIT,
        why=why[1] if why else None,
    )
    text = _fitted("check_text.md.j2", result, ctx, CHECK_TEXT_DETAILS, CHECK_TEXT_LIMIT)
    return CheckOutput(
        title=check_title(result, rules), summary=summary, text=text if text.strip() else None
    )


_CONCLUSION_EMOJI: dict[Conclusion, str] = {"failure": "❌", "success": "✅", "neutral": "⚪"}
_CONCLUSION_WORDS: dict[Conclusion, str] = {
    "failure": "failed",
    "success": "passed",
    "neutral": "is neutral",
}


def _why_no_baseline(
    result: GateResult, ctx: ReportContext, rules: CheckRules
) -> tuple[str, Md] | None:
    """When experiments without a baseline decide the conclusion: a short reason for the
    title, and a paragraph for the summary saying why and what to change. Our own words;
    only the base branch's name is data."""
    verdicts = result.verdicts
    if not decided_by_no_baseline(
        verdicts, rules.fail_on, rules.no_baseline, on_base_branch=rules.on_base_branch
    ):
        return None
    conclusion = rules.conclusion(result)
    policy = effective_no_baseline(rules.no_baseline, on_base_branch=rules.on_base_branch)
    base = escape.code_span(ctx.base_branch, 100) if ctx.base_branch else "the base branch"
    missing = verdicts.count("no_baseline")
    lead = (
        "nothing was compared"
        if missing == len(verdicts)
        else f"{formats.count(missing, 'experiment')} of {len(verdicts)} had no baseline"
    )
    head = f"**Why this check {_CONCLUSION_WORDS[conclusion]}:** {lead}"
    if rules.on_base_branch and policy != "pass":
        short = "neutral: recorded on the base branch"
        body = (
            f"; this run is on the base branch ({base}), so it records the baseline that "
            "later pull requests compare with. On the base branch a missing baseline is "
            "never a failure (`no-baseline` applies to other branches and pull requests)."
        )
    elif policy == "fail":
        short = "failed: no-baseline is fail"
        body = (
            ", and `no-baseline: fail` fails the check without a baseline. Record a run on "
            f"{base} for pull requests to compare with, or name one with "
            "`baseline-experiment-id`; `no-baseline: neutral` lets such a change through."
        )
    elif policy == "pass":
        short = "passed: no-baseline is pass"
        body = (
            ", and `no-baseline: pass` passes the check without a baseline. Record a run on "
            f"{base} for pull requests to be gated."
        )
    else:
        short = "neutral: no-baseline is neutral"
        body = (
            ", and a missing baseline is neutral (`no-baseline: neutral`, the default): this "
            f"check neither passes nor blocks the change. Record a run on {base} for pull "
            "requests to compare with; `no-baseline: fail` blocks a change that has none."
        )
    return short, Md(head + body)


def render_summary(result: GateResult, ctx: ReportContext) -> str:
    """The job summary: the full report, within GitHub's 1 MiB per step."""
    limit = SUMMARY_LIMIT - SUMMARY_MARGIN
    return _fitted("summary.md.j2", result, ctx, SUMMARY_DETAILS, limit, UTF8)


def render_terminal(result: GateResult, ctx: ReportContext) -> str:
    """Text for a terminal and report.md: every experiment, its metrics, the records that
    flipped; no HTML, no emoji, data as written (the plain filters of escape.py)."""
    return _render("terminal.md.j2", build(result, TERMINAL_DETAIL), ctx)


# ---------------------------------------------------------------------------- one-liners


def _regression_phrase(metrics: list[Metric], limit: int) -> str:
    shown = [f"{escape.plain_line(m.name, 40)} {formats.change(m)}" for m in metrics[:limit]]
    more = len(metrics) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _experiment_line(e: ExperimentView, names: int) -> str:
    if e.incomplete and (
        (e.verdict == "fail" and not e.failing) or (e.verdict == "warn" and not e.warning)
    ):
        return f"incomplete: task spans are missing from {e.incomplete_sides}"
    if e.verdict == "fail":
        regressed = formats.count(len(e.failing), "metric")
        return f"{regressed} regressed: {_regression_phrase(e.failing, names)}"
    if e.verdict == "warn":
        regressed = formats.count(len(e.warning), "metric")
        return f"{regressed} regressed at the warn level: {_regression_phrase(e.warning, names)}"
    if e.verdict == "pass":
        improved = f", {len(e.improved)} improved" if e.improved else ""
        return f"no gated metric regressed{improved}"
    if e.verdict == "no_baseline":
        return "nothing to compare with"
    message = e.report.warnings[0] if e.report.warnings else "the comparison could not be made"
    return escape.plain_line(message, 200)


def _one_liner(result: GateResult, names: int) -> str:
    view = build(result, COMMENT_DETAILS[-1])
    word = formats.verdict_word(view.verdict)
    if not view.experiments:
        return f"{word}: no experiment report"
    if len(view.experiments) == 1:
        return f"{word}: {_experiment_line(view.experiments[0], names)}"
    # Names of the experiments that decided the verdict; a few are enough for one line.
    worst = [e for e in view.experiments if e.verdict == view.verdict][:3]
    detail = "; ".join(
        f"{escape.plain_line(e.title, 40)}: {_experiment_line(e, names)}" for e in worst
    )
    return f"{word} ({len(view.experiments)} experiments: {view.verdict_counts}): {detail}"


def _line_within(text: str, limit: int) -> str:
    """One plain line within `limit` UTF-16 units (emoji outside the BMP count two)."""
    return fit_line(escape.plain_line(text), limit)[0]


def check_title(result: GateResult, rules: CheckRules = DEFAULT_RULES) -> str:
    """One line, at most 255 characters: the verdict and what moved it; when experiments
    without a baseline decide the conclusion, the conclusion's mark and why."""
    line = _one_liner(result, 3)
    emoji = formats.verdict_emoji(result.verdict)
    suffix = ""
    if why := _why_no_baseline(result, _NO_CONTEXT, rules):
        emoji, suffix = Md(_CONCLUSION_EMOJI[rules.conclusion(result)]), f" · {why[0]}"
    return _line_within(f"{emoji} {line[:1].upper()}{line[1:]}{suffix}", CHECK_TITLE_LIMIT)


def status_description(result: GateResult, rules: CheckRules = DEFAULT_RULES) -> str:
    """The commit status's description (the check's stand-in), at most 140 characters."""
    line = _one_liner(result, 2)
    suffix = ""
    if why := _why_no_baseline(result, _NO_CONTEXT, rules):
        suffix = f" · {why[0]}"
    return _line_within(f"{line[:1].upper()}{line[1:]}{suffix}", STATUS_DESCRIPTION_LIMIT)


# For the one-liners, which name no branch.
_NO_CONTEXT = ReportContext(
    repository=None,
    pipeline="",
    head_sha=None,
    base_branch=None,
    pr_number=None,
    run_url=None,
    backend="",
)
