"""What the templates show, decided in Python: order, selection and how much fits.

Templates format and escape; they do not sort, count or choose. A `Detail` says how much of
each list one rendering may show; the renderer tries richer details first and keeps the
first rendering that fits the surface's size limit (see `render.py`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from driftgate.compare.completeness import shortfall
from driftgate.compare.pooled_flags import history_flags
from driftgate.compare.schema import (
    EvaluatorCoverage,
    ExperimentRef,
    FlippedRecord,
    History,
    Metric,
    PooledRun,
    Report,
    RunOutputs,
    Slice,
    Trend,
    TrendPoint,
)
from driftgate.result import CommandResult, GateResult
from driftgate.verdict import Verdict

__all__ = [
    "BUDGET_KINDS",
    "Detail",
    "ExperimentView",
    "RecordView",
    "ResultView",
    "TrendRow",
    "build",
    "input_summary",
    "ordered_metrics",
    "ordered_slices",
    "outputs_line",
    "record_view",
    "top_categories",
]

# The budgets, shown again in the totals line; everything else is a quality metric.
BUDGET_KINDS = frozenset({"errors", "tokens", "cost", "latency"})
_GATE_ORDER = {"fail": 0, "warn": 1, "pass": 2}
_VERDICT_ORDER = {"regressed": 0, "inconclusive": 1, "improved": 2, "unchanged": 3}


@dataclass(frozen=True, slots=True)
class Detail:
    """How much one rendering shows. None: everything there is."""

    metrics: int | None  # metric rows per experiment
    flipped: int | None  # flipped records per experiment
    text: int  # characters per record text (input, outputs)
    name: int  # characters per name (experiments, metrics, evaluators)
    warnings: int | None  # flags per experiment
    ids: int | None  # record ids listed (job summary)
    tail: int  # lines of the command's output
    line: int = 300  # characters per flag or note
    charts: int | None = None  # metrics whose trend is drawn (and tabled); 0: no trend


@dataclass(frozen=True, slots=True)
class RecordView:
    record: FlippedRecord
    # (metric name, its unit, baseline value, candidate value) per metric that flipped.
    changes: list[tuple[str, str, float | None, float | None]]
    title: str  # what heads the record: its input, summarised (raw: escape where printed)
    label: str  # the title and the record's tags, for a table cell
    input: str  # the input in full, when the title is not just that; else empty
    baseline: str  # every run's output, "Wellington x2 · Auckland x1", errors said
    candidate: str
    # Regressed, and its outcome varied between the pooled base runs (`History.flaky`).
    flaky: bool = False


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One run of the trend's table: a base run (oldest first) or the candidate, with its
    value of each trend shown (None where that run has no point of it)."""

    run_id: str
    label: str  # its short commit, else its id (raw: escape where printed)
    created_at: str | None
    candidate: bool
    pooled: bool
    values: list[tuple[Trend, float | None]]


# Characters of a record's title in a heading; the input is shown in full below it if longer.
TITLE_LENGTH = 80
# An input that is a small JSON object of plain values reads better as its values.
_SUMMARY_KEYS = 8


def input_summary(text: str, fallback: str = "") -> str:
    """A record's input as a reader recognises it: `country: Canada · difficulty: medium`
    for a small JSON object of plain values, else the text itself; `fallback` (the record's
    id) when there is no input."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if (
            isinstance(data, dict)
            and 0 < len(data) <= _SUMMARY_KEYS
            and all(isinstance(v, str | int | float | bool) or v is None for v in data.values())
        ):
            return " · ".join(f"{k}: {_plain_value(v)}" for k, v in data.items())
    return text if stripped else fallback


def _plain_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def outputs_line(outputs: list[RunOutputs], runs: int, first: str) -> str:
    """A side's runs of a record in one line: each distinct output once, with how many runs
    gave it when the record has several ("Wellington x2 · Auckland x1"); a run that raised
    as its error message. `first` (the earliest run's output) for reports without them."""
    if not outputs:
        return first
    counted = runs > 1
    parts = []
    for o in outputs:
        many = f" x{o.runs}" if counted else ""
        if o.error is not None:
            parts.append(f"error{many}: {o.error}")
        else:
            parts.append(f"{o.output or '(empty)'}{many}")
    rest = runs - sum(o.runs for o in outputs)
    if rest > 0:
        parts.append(f"{rest} more run{'s' if rest != 1 else ''} with other outputs")
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class ExperimentView:
    report: Report
    verdict: Verdict
    metrics: list[Metric]  # regressions first, cut to the detail
    hidden_metrics: int
    hidden_metrics_by_verdict: str  # "250 unchanged, 3 inconclusive"
    failing: list[Metric]  # regressed at the fail level
    warning: list[Metric]  # regressed at the warn level
    improved: list[Metric]
    budgets: dict[str, Metric]  # errors, tokens, cost, latency_p50, latency_p95
    flipped: list[RecordView]
    hidden_flipped: int  # flipped records (regressed + improved) not shown
    warnings: list[str]
    hidden_warnings: int
    regressed_ids: list[str]
    improved_ids: list[str]
    baseline_only_ids: list[str]
    candidate_only_ids: list[str]
    coverage: list[EvaluatorCoverage]
    hidden_coverage: int
    confidence: float | None
    # Per side ("candidate", "baseline"), the runs short of task spans: "run 2: 284 of 300
    # records"; empty when complete, unknown, or `incomplete = "off"`.
    incomplete: dict[str, str]
    # The slices by tag that changed, and the gated ones: gates first, then regressions,
    # the largest change first; cut to the detail.
    slices: list[Slice] = field(default_factory=list)
    hidden_slices: int = 0
    slice_tests: int = 0  # the exploratory tests their p-values were adjusted over
    # A pooled baseline: the runs pooled (newest first), those left out, and the regressed
    # record ids split into the stable ones and the known-flaky ones.
    history: History | None = None
    pooled_runs: list[PooledRun] = field(default_factory=list)  # the first MAX_HISTORY_RUNS
    left_out: int = 0  # runs considered and not pooled
    history_runs: list[PooledRun] = field(default_factory=list)  # the first MAX_HISTORY_RUNS
    hidden_history_runs: int = 0
    flaky_regressed_ids: list[str] = field(default_factory=list)
    flaky_ids: list[str] = field(default_factory=list)
    # The trends drawn (two base points or more), cut to the detail, and their table.
    trends: list[Trend] = field(default_factory=list)
    hidden_trends: int = 0
    trend_rows: list[TrendRow] = field(default_factory=list)

    @property
    def trend_runs(self) -> int:
        """The base runs the trend shows."""
        return sum(1 for row in self.trend_rows if not row.candidate)

    @property
    def incomplete_sides(self) -> str:
        """`the candidate (run 2: 284 of 300 records) and the baseline (...)`."""
        return " and ".join(f"the {side} ({runs})" for side, runs in self.incomplete.items())

    @property
    def title(self) -> str:
        """The experiment's name as people know it (raw: escape where printed)."""
        return _ref_name(self.report.candidate) or "experiment"

    @property
    def omitted(self) -> bool:
        return bool(
            self.hidden_metrics
            or self.hidden_flipped
            or self.hidden_warnings
            or self.hidden_coverage
            or self.hidden_slices
            or self.hidden_trends
        )

    @property
    def compared(self) -> bool:
        return self.report.baseline is not None and self.verdict not in ("error", "no_baseline")


@dataclass(frozen=True, slots=True)
class ResultView:
    verdict: Verdict
    experiments: list[ExperimentView]
    command: CommandResult | None
    command_failed: bool
    tail: str  # the command's output tail, cut to the detail's lines
    tail_lines: int  # how many lines `tail` holds
    found_how: str
    notes: list[str]
    hidden_notes: int
    detail: Detail
    # Something the source holds is not shown: say where the rest is.
    omitted: bool = False
    # For the footnote on the statistics: the first experiment's, as they share the config.
    confidence: float | None = None
    alpha: float | None = None

    @property
    def linked(self) -> bool:
        """Whether an experiment shown has a link (its page)."""
        return any(
            ref is not None and ref.url
            for e in self.experiments
            for ref in (e.report.candidate, e.report.baseline)
        )

    @property
    def verdict_counts(self) -> str:
        counts = Counter(e.verdict for e in self.experiments)
        return ", ".join(f"{counts[v]} {words}" for v, words in _COUNTED if counts[v])


_COUNTED: tuple[tuple[Verdict, str], ...] = (
    ("error", "in error"),
    ("fail", "failed"),
    ("warn", "with warnings"),
    ("no_baseline", "without a baseline"),
    ("pass", "passed"),
)


def _ref_name(ref: ExperimentRef | None) -> str:
    if ref is None:
        return ""
    return ref.name or ref.id


def ordered_metrics(metrics: list[Metric]) -> list[Metric]:
    """Regressions first (failing, then warning, then not gated), then inconclusive,
    improved and unchanged; the report's own order (evaluators, summaries, budgets) within."""
    return sorted(metrics, key=lambda m: (_GATE_ORDER[m.gate], _VERDICT_ORDER[m.verdict]))


def ordered_slices(slices: list[Slice]) -> list[Slice]:
    """The slices a table shows: the gated ones and those that changed; failing gates first,
    then by verdict, the largest change first within."""
    shown = [s for s in slices if s.gated or s.changed]
    return sorted(
        shown,
        key=lambda s: (
            _GATE_ORDER[s.metric.gate],
            not s.gated,
            _VERDICT_ORDER[s.metric.verdict],
            -abs(s.metric.delta or 0.0),
            s.tag,
            s.metric.name,
        ),
    )


def top_categories(metric: Metric, limit: int) -> list[tuple[str, float | None, float | None]]:
    """A categorical metric's categories, the largest share (on either side) first."""
    rows = [(name, b, c) for name, (b, c) in (metric.distribution or {}).items()]
    rows.sort(key=lambda r: -max(r[1] or 0.0, r[2] or 0.0))
    return rows[:limit]


T = TypeVar("T")


def _cut(items: list[T], limit: int | None) -> tuple[list[T], int]:
    if limit is None or len(items) <= limit:
        return list(items), 0
    return items[: max(limit, 0)], len(items) - max(limit, 0)


def record_view(
    record: FlippedRecord, units: dict[str, str] | None = None, *, flaky: bool = False
) -> RecordView:
    """What the report shows of a record that changed; `units` by metric name; `flaky`:
    regressed, and known-flaky."""
    units = units or {}
    title = input_summary(record.input, record.id)
    return RecordView(
        record,
        [(c.name, units.get(c.name, ""), c.baseline, c.candidate) for c in record.changes],
        title=title,
        label=f"{title} ({', '.join(record.tags)})" if record.tags else title,
        input=record.input if title != record.input or len(title) > TITLE_LENGTH else "",
        baseline=outputs_line(
            record.baseline_outputs, record.baseline_runs, record.baseline_output
        ),
        candidate=outputs_line(
            record.candidate_outputs, record.candidate_runs, record.candidate_output
        ),
        flaky=flaky,
    )


# Base runs a history lists (`compare_pooled` considers 5 by default; a report.json handed to
# `driftgate publish` could hold any number).
MAX_HISTORY_RUNS = 20
# Points of a trend drawn: the newest ones (`compare.trend` keeps 10 by default).
MAX_TREND_POINTS = 30


def drawable_trends(trends: list[Trend]) -> list[Trend]:
    """The trends a report can draw: two base points or more, every value finite (a
    report.json handed to `driftgate publish` is not trusted to be either), the newest
    `MAX_TREND_POINTS` of them."""
    drawn = []
    for t in trends:
        points = t.points[-MAX_TREND_POINTS:]
        values = [p.value for p in [*points, t.candidate]]
        if len(points) >= 2 and all(math.isfinite(v) for v in values):
            drawn.append(t if points == t.points else t.model_copy(update={"points": points}))
    return drawn


def merged_order(sequences: list[list[str]]) -> list[str]:
    """One order holding every item of `sequences`, each a subsequence of one total order
    (the base runs each trend has): an item missing from the first goes right after the
    one it follows in its own."""
    order: list[str] = []
    for sequence in sequences:
        at = 0
        for item in sequence:
            if item in order:
                at = order.index(item) + 1
            else:
                order.insert(at, item)
                at += 1
    return order


def trend_rows(trends: list[Trend]) -> list[TrendRow]:
    """The trends' table: every base run any of them has, oldest first, then the
    candidate."""
    if not trends:
        return []
    points: dict[str, TrendPoint] = {}
    values: dict[str, dict[str, float]] = {}
    for t in trends:
        for p in t.points:
            points.setdefault(p.run_id, p)
            values.setdefault(p.run_id, {})[t.metric] = p.value
    rows = []
    for run_id in merged_order([[p.run_id for p in t.points] for t in trends]):
        point = points[run_id]
        rows.append(
            TrendRow(
                run_id=run_id,
                label=point.commit[:7] if point.commit else run_id,
                created_at=point.created_at,
                candidate=False,
                pooled=point.pooled,
                values=[(t, values[run_id].get(t.metric)) for t in trends],
            )
        )
    candidate = trends[0].candidate
    rows.append(
        TrendRow(
            run_id=candidate.run_id,
            label="candidate",
            created_at=candidate.created_at,
            candidate=True,
            pooled=False,
            values=[(t, t.candidate.value) for t in trends],
        )
    )
    return rows


def _flipped_order(records: list[FlippedRecord], flaky: set[str]) -> list[FlippedRecord]:
    """The real regressions first, then the known-flaky ones, then the improvements."""
    return sorted(
        records,
        key=lambda r: (r.direction != "regressed", r.direction == "regressed" and r.id in flaky),
    )


def _experiment(report: Report, detail: Detail) -> ExperimentView:
    ordered = ordered_metrics(report.metrics)
    shown, hidden = _cut(ordered, detail.metrics)
    left_out = Counter(m.verdict for m in ordered[len(shown) :])
    by_verdict = ", ".join(
        f"{left_out[v]} {v}"
        for v in ("regressed", "inconclusive", "improved", "unchanged")
        if left_out[v]
    )
    units = {m.name: m.unit for m in report.metrics}
    records = report.records
    history = report.history
    runs = history.runs if history is not None else []
    flaky = set(history.flaky) if history is not None else set()
    flipped, _ = _cut(_flipped_order(records.flipped, flaky), detail.flipped)
    # What the report knows changed, not only what it kept texts for.
    total_flipped = max(records.regressed_count + records.improved_count, len(records.flipped))
    warnings, hidden_warnings = _cut(_flags(report), detail.warnings)
    confidence = next((m.confidence for m in report.metrics if m.confidence), None)
    coverage, hidden_coverage = _cut(report.evaluators, detail.metrics)
    slices, hidden_slices = _cut(ordered_slices(report.slices), detail.metrics)
    # In the metrics' order: the regressions first, so that a short comment draws them.
    rank = {m.name: i for i, m in enumerate(ordered)}
    trends, hidden_trends = _cut(
        sorted(drawable_trends(report.trend), key=lambda t: rank.get(t.metric, len(rank))),
        detail.charts,
    )
    return ExperimentView(
        report=report,
        verdict=report.verdict,
        metrics=shown,
        hidden_metrics=hidden,
        hidden_metrics_by_verdict=by_verdict,
        failing=[m for m in ordered if m.verdict == "regressed" and m.gate == "fail"],
        warning=[m for m in ordered if m.verdict == "regressed" and m.gate == "warn"],
        improved=[m for m in ordered if m.verdict == "improved" and m.level != "off"],
        budgets={m.name: m for m in report.metrics if m.kind in BUDGET_KINDS},
        flipped=[
            record_view(r, units, flaky=r.direction == "regressed" and r.id in flaky)
            for r in flipped
        ],
        hidden_flipped=total_flipped - len(flipped),
        warnings=warnings,
        hidden_warnings=hidden_warnings,
        regressed_ids=_cut([k for k in records.regressed if k not in flaky], detail.ids)[0],
        improved_ids=_cut(records.improved, detail.ids)[0],
        baseline_only_ids=_cut(records.baseline_only_ids, detail.ids)[0],
        candidate_only_ids=_cut(records.candidate_only_ids, detail.ids)[0],
        coverage=coverage,
        hidden_coverage=hidden_coverage,
        confidence=confidence,
        incomplete=_incomplete(report),
        slices=slices,
        hidden_slices=hidden_slices,
        slice_tests=next((s.tests for s in report.slices if not s.gated), 0),
        history=history,
        pooled_runs=[r for r in runs if r.pooled][:MAX_HISTORY_RUNS],
        left_out=sum(1 for r in runs if not r.pooled),
        history_runs=runs[:MAX_HISTORY_RUNS],
        hidden_history_runs=max(len(runs) - MAX_HISTORY_RUNS, 0),
        flaky_regressed_ids=_cut([k for k in records.regressed if k in flaky], detail.ids)[0],
        flaky_ids=_cut(history.flaky, detail.ids)[0] if history is not None else [],
        trends=trends,
        hidden_trends=hidden_trends,
        trend_rows=trend_rows(trends),
    )


def _flags(report: Report) -> list[str]:
    """The report's warnings less those `compare_pooled` appended for its history, which
    the history's own section says."""
    said = history_flags(report.history) if report.history is not None else []
    if said and report.warnings[-len(said) :] == said:
        return report.warnings[: -len(said)]
    return report.warnings


def _incomplete(report: Report) -> dict[str, str]:
    if report.incomplete == "off":
        return {}
    sides = (("candidate", report.candidate), ("baseline", report.baseline))
    return {side: said for side, ref in sides if (said := shortfall(ref))}


def build(result: GateResult, detail: Detail) -> ResultView:
    experiments = [_experiment(r, detail) for r in result.reports]
    command = result.command
    failed = command is not None and not command.ok
    tail_lines = command.tail.split("\n") if command is not None and command.tail else []
    kept = tail_lines[-detail.tail :] if detail.tail > 0 else []
    notes, hidden_notes = _cut(result.notes, detail.warnings)
    omitted = any(e.omitted for e in experiments) or hidden_notes > 0 or len(kept) < len(tail_lines)
    stats = next((e for e in experiments if e.confidence is not None), None)
    return ResultView(
        verdict=result.verdict,
        experiments=experiments,
        command=command,
        command_failed=failed,
        tail="\n".join(kept),
        tail_lines=len(kept),
        found_how=result.found_how,
        notes=notes,
        hidden_notes=hidden_notes,
        detail=detail,
        omitted=omitted,
        confidence=stats.confidence if stats else None,
        alpha=stats.report.alpha if stats else None,
    )
