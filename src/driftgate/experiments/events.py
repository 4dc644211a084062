"""Experiment events (task spans with their evaluations, and summary evaluations) turned into
the gate's columnar `ExperimentData`. Pure: the client feeds it pages as they arrive, so
the raw JSON of one page at a time is all that is ever held.

Read as Datadog may answer, not only as the embedded store does: token and cost metrics may
be on the task span (rolled up) or only on its child spans (the LLM spans ddtrace sends), and
child spans may or may not come back; summary evaluations may come back without their run
number (ddtrace sends it in the request's tags only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson

from driftgate.experiments.event_pages import Evaluation, Page, Span
from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    FloatArray,
    SummaryEvaluation,
)
from driftgate.llmobs import MetricType, tag_value

TEXT_LIMIT = 300
_TYPES: dict[str, MetricType] = {
    "boolean": "boolean",
    "score": "score",
    "categorical": "categorical",
    "json": "json",
}
_NAN = math.nan
# A task span's parent, as ddtrace sends it: none.
_NO_PARENT = frozenset({"", "undefined", "0", "None"})
# Usage metrics, by the column they fill: (the metric, the metrics whose sum stands in for it).
_USAGE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input_tokens", ()),
    ("output_tokens", ()),
    ("total_tokens", ("input_tokens", "output_tokens")),
    ("estimated_total_cost", ("estimated_input_cost", "estimated_output_cost")),
)


def short_text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A one-value rendering for reports: strings as they are, anything else as compact JSON."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any) -> str:
    """`short_text`, with a short string (the usual value) returned at once."""
    if type(value) is str and len(value) <= TEXT_LIMIT:
        return value
    return short_text(value)


def _metric_type(raw: Any) -> MetricType:
    # An unknown type is read as a score, the SDK's most common type.
    return _TYPES.get(raw, "score") if isinstance(raw, str) else "score"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _NAN
    return float(value)


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("msg")
        kind = error.get("type")
        if not message and not kind:
            return None
        return f"{kind}: {message}" if kind and message else str(message or kind)
    return str(error)


def is_task_span(span: Span) -> bool:
    """A task span (one per record and run) rather than one of its child spans: no parent,
    or the kind `experiment` ddtrace gives it."""
    meta = span.meta
    kind = None
    if type(meta) is dict:
        about = meta.get("span")
        kind = about.get("kind") if type(about) is dict else None
    if kind == "experiment":
        return True
    parent = span.parent_id
    if parent is not None and str(parent) not in _NO_PARENT:
        return False
    # No parent given: a child only when its kind says so and no dataset record names it.
    tags = span.tags if isinstance(span.tags, list) else []
    return not (isinstance(kind, str) and kind and tag_value(tags, "dataset_record_id") is None)


def _usage(metrics: Any) -> dict[str, float]:
    """A span's token and cost metrics, those it reports (a total from its parts when only
    they are given); no usage reported is not zero usage."""
    if not metrics or not (type(metrics) is dict or isinstance(metrics, Mapping)):
        return {}
    found: dict[str, float] = {}
    for name, parts in _USAGE:
        value = _number(metrics.get(name))
        if value is None and parts and not metrics.keys().isdisjoint(parts):
            given = [v for v in (_number(metrics.get(p)) for p in parts) if v is not None]
            value = math.fsum(given) if given else None
        if value is not None:
            found[name] = value
    return found


def _number(value: Any) -> float | None:
    """A reported number (not a boolean, not NaN); None for anything else."""
    if value is None:
        return None
    if type(value) is float:  # the common cases first: thousands of spans are read
        return None if math.isnan(value) else value
    if type(value) is int:
        return float(value)
    number = _float(value)
    return None if math.isnan(number) else number


# The tags a task span is read by; the first of each wins.
_SPAN_TAGS = ("run_iteration", "run_id", "dataset_record_canonical_id", "dataset_record_id")
_SPAN_TAG_PREFIXES = tuple(f"{key}:" for key in _SPAN_TAGS)
_VALUE_KEYS: dict[MetricType, str] = {kind: f"{kind}_value" for kind in _TYPES.values()}


def _span_tags(tags: Iterable[Any]) -> dict[str, str]:
    """The values of `_SPAN_TAGS` among `tags` (`key:value` strings; others skipped), in one
    pass: a span carries some twenty tags, and tens of thousands of spans are read."""
    try:
        hits = [tag for tag in tags if tag.startswith(_SPAN_TAG_PREFIXES)]
    except AttributeError:  # a tag that is not a string
        hits = [t for t in tags if isinstance(t, str) and t.startswith(_SPAN_TAG_PREFIXES)]
    found: dict[str, str] = {}
    for tag in hits:
        key, _, value = tag.partition(":")
        if key not in found:
            found[key] = value
    return found


class _Column:
    """One evaluator's readings by row; rows without one are filled in by `build`."""

    __slots__ = ("category", "errored", "messages", "passed", "types", "value")

    def __init__(self) -> None:
        self.value: dict[int, float] = {}
        self.passed: dict[int, float] = {}
        self.errored: list[int] = []
        self.category: dict[int, str] = {}
        self.types: dict[MetricType, int] = {}
        self.messages: dict[str, None] = {}

    def put(self, row: int, metric: Evaluation) -> None:
        raw_type = metric.metric_type
        kind = _TYPES.get(raw_type, "score") if type(raw_type) is str else _metric_type(raw_type)
        error = metric.error
        message = _error_text(error) if error else None
        if message is not None:
            self.errored.append(row)
            if len(self.messages) < 5:
                self.messages[message] = None
            return
        if kind == "score":
            raw = metric.score_value
            if raw is None:
                return
            self.value[row] = raw if type(raw) is float else _float(raw)
        elif kind == "boolean":
            raw = metric.boolean_value
            if raw is None:
                return
            if isinstance(raw, bool):
                self.value[row] = 1.0 if raw else 0.0
        elif kind == "categorical":
            raw = metric.categorical_value
            if raw is None:
                return
            self.category[row] = str(raw)
        elif metric.json_value is None:
            return
        self.types[kind] = self.types.get(kind, 0) + 1
        assessment = metric.assessment
        if assessment == "pass":
            self.passed[row] = 1.0
        elif assessment == "fail":
            self.passed[row] = 0.0

    def build(self, label: str, rows: int) -> EvaluatorColumn:
        kind: MetricType = max(self.types, key=self.types.__getitem__) if self.types else "score"
        errored = np.zeros(rows, dtype=np.bool_)
        errored[self.errored] = True
        category: list[str | None] | None = None
        if kind == "categorical":
            category = [None] * rows
            for row, value in self.category.items():
                category[row] = value
        return EvaluatorColumn(
            label=label,
            metric_type=kind,
            value=_filled(self.value, rows),
            passed=_filled(self.passed, rows),
            errored=errored,
            category=category,
            error_messages=tuple(self.messages),
        )


def _filled(values: dict[int, float], rows: int) -> FloatArray:
    """`values` by row, NaN in the rows without one."""
    column = np.full(rows, _NAN, dtype=np.float64)
    if values:
        column[np.fromiter(values, dtype=np.intp, count=len(values))] = np.fromiter(
            values.values(), dtype=np.float64, count=len(values)
        )
    return column


class ExperimentDataBuilder:
    """Accumulates events page by page; `build()` gives the `ExperimentData`."""

    def __init__(self, info: ExperimentInfo, run: int | None = None) -> None:
        self.info = info
        self.run = run
        self._keys: list[str] = []
        self._runs: list[int] = []
        self._error: list[bool] = []
        self._message: list[str | None] = []
        self._duration: list[float] = []
        self._trace: list[str] = []
        self._usage: list[dict[str, float]] = []
        # Usage summed over the child spans of each trace, as they are read.
        self._child_usage: dict[str, dict[str, float]] = {}
        self._input: list[str] = []
        self._expected: list[str] = []
        self._output: list[str] = []
        self._columns: dict[str, _Column] = {}
        self._run_of: dict[str, int] = {}  # run_id -> run_iteration, from the task spans
        self._summaries: list[_Summary] = []

    def add_page(self, page: Page) -> None:
        """One events page: its spans and summary metrics."""
        for span in page.spans:
            self.add_span(span)
        for metric in page.summary_metrics:
            self.add_summary(metric)

    def add_span(self, span: Span) -> None:
        if not is_task_span(span):
            # A child span (an LLM call of the task): its usage counts towards its task's.
            usage = _usage(span.metrics)
            if usage:
                into = self._child_usage.setdefault(str(span.trace_id or ""), {})
                for name, value in usage.items():
                    into[name] = into.get(name, 0.0) + value
            return
        tags = _span_tags(span.tags if type(span.tags) is list else ())
        run = _int(tags.get("run_iteration"), 1)
        run_id = tags.get("run_id")
        if run_id:
            self._run_of.setdefault(run_id, run)
        if self.run is not None and run != self.run:
            return
        meta = span.meta if type(span.meta) is dict else {}
        key = (
            tags.get("dataset_record_canonical_id")
            or tags.get("dataset_record_id")
            or str(span.span_id if span.span_id is not None else "")
        )
        error = meta.get("error")
        message = _error_text(error) if error else None
        duration = span.duration
        trace = span.trace_id
        row = len(self._keys)
        self._keys.append(key)
        self._runs.append(run)
        self._error.append(span.status == "error" or message is not None)
        self._message.append(message)
        # (The common types first, without a call: tens of thousands of spans are read.)
        self._duration.append(float(duration) if type(duration) is int else _float(duration))
        self._trace.append(trace if type(trace) is str else str(trace or ""))
        self._usage.append(_usage(span.metrics))
        self._input.append(_short(meta.get("input")))
        self._expected.append(_short(meta.get("expected_output")))
        self._output.append(_short(meta.get("output")))
        if span.eval_metrics:
            for label, metric in _latest_per_label(span.eval_metrics).items():
                column = self._columns.get(label)
                if column is None:
                    column = self._columns[label] = _Column()
                column.put(row, metric)

    def add_summary(self, metric: Mapping[str, Any]) -> None:
        label = metric.get("label")
        if not label:
            return
        tags = metric.get("tags") or []
        # The run: the metric's own field (the embedded store answers it), else its tags
        # (where a backend kept the request's), else its run id, matched at the end against
        # the task spans' runs. Datadog promises none of them.
        raw_run = metric.get("run_iteration") or tag_value(tags, "run_iteration")
        run_id = metric.get("run_id") or tag_value(tags, "run_id")
        kind = _metric_type(metric.get("metric_type"))
        self._summaries.append(
            _Summary(
                label=str(label),
                run=_int(raw_run, 0) or None,
                run_id=str(run_id) if run_id else None,
                stamp=_int(metric.get("timestamp_ms"), 0),
                metric_type=kind,
                value=metric.get(f"{kind}_value"),
                error=_error_text(metric.get("error")),
            )
        )

    def _usage_column(self, name: str) -> FloatArray:
        """One usage metric per row: the task span's own, else the sum over its child
        spans (Datadog may not roll it up onto the task span), else NaN (not reported)."""
        children = self._child_usage
        if not children:
            return np.fromiter((own.get(name, _NAN) for own in self._usage), np.float64)
        none: dict[str, float] = {}
        values = [
            own[name] if name in own else children.get(trace, none).get(name, _NAN)
            for own, trace in zip(self._usage, self._trace, strict=True)
        ]
        return np.asarray(values, dtype=np.float64)

    def _resolved_summaries(self) -> tuple[list[SummaryEvaluation], list[str]]:
        """The summary evaluations of the runs read, and what could not be said of them.

        A run known (from the metric, or from its run id): the latest value per label and
        run wins. A run unknown: when the experiment has one run it is that run; else each
        value is kept as its own, never collapsed into one run (which would compare one
        run's value with another experiment's mean over runs)."""
        runs = set(self._runs) | set(self._run_of.values())
        single = len(runs) <= 1 and (self.info.run_count or 1) <= 1
        known: dict[tuple[str, int], _Summary] = {}
        unknown: list[_Summary] = []
        for item in self._summaries:
            run = item.run or (self._run_of.get(item.run_id) if item.run_id else None)
            if run is None and single:
                run = min(runs, default=1)
            if run is None:
                unknown.append(item)
                continue
            if self.run is not None and run != self.run:
                continue
            seen = known.get((item.label, run))
            if seen is None or item.stamp >= seen.stamp:
                known[(item.label, run)] = item._replace(run=run)
        notes: list[str] = []
        if unknown:
            labels = ", ".join(sorted({u.label for u in unknown}))
            if self.run is not None:
                unknown = []
                notes.append(
                    f"summary evaluations ({labels}) came back without their run number, so "
                    f"those of run {self.run} cannot be told apart: not compared"
                )
            else:
                notes.append(
                    f"summary evaluations ({labels}) came back without their run number: "
                    "each value is kept as its own, none is taken for another run's"
                )
        ordered = sorted(known.values(), key=lambda s: (s.run or 0, s.label)) + unknown
        return [item.evaluation() for item in ordered], notes

    def build(self) -> ExperimentData:
        summaries, notes = self._resolved_summaries()
        rows = len(self._keys)
        return ExperimentData(
            info=self.info,
            run=self.run,
            record_key=self._keys,
            run_iteration=np.asarray(self._runs, dtype=np.int32),
            task_error=np.asarray(self._error, dtype=np.bool_),
            error_message=self._message,
            duration_ns=np.asarray(self._duration, dtype=np.float64),
            input_tokens=self._usage_column("input_tokens"),
            output_tokens=self._usage_column("output_tokens"),
            total_tokens=self._usage_column("total_tokens"),
            cost=self._usage_column("estimated_total_cost"),
            input_text=self._input,
            expected_text=self._expected,
            output_text=self._output,
            evaluators={label: col.build(label, rows) for label, col in self._columns.items()},
            summaries=summaries,
            notes=tuple(notes),
        )


class _Summary(NamedTuple):
    """A summary evaluation as read, before its run is settled."""

    label: str
    run: int | None
    run_id: str | None
    stamp: int
    metric_type: MetricType
    value: Any
    error: str | None

    def evaluation(self) -> SummaryEvaluation:
        return SummaryEvaluation(
            label=self.label,
            run=self.run,
            metric_type=self.metric_type,
            value=self.value,
            error=self.error,
        )


def _latest_per_label(metrics: list[Evaluation]) -> dict[str, Evaluation]:
    """When several evaluations share a label on one span, the latest `timestamp_ms` wins."""
    latest: dict[str, Evaluation] = {}
    for metric in metrics:
        label = metric.label
        if not label:
            continue
        if type(label) is not str:
            label = str(label)
        seen = latest.get(label)
        if seen is None or _int(metric.timestamp_ms, 0) >= _int(seen.timestamp_ms, 0):
            latest[label] = metric
    return latest
