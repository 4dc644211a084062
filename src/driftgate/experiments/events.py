"""Experiment events (task spans with their evaluations, and summary evaluations) turned into
the gate's columnar `ExperimentData`. Pure: the client feeds it pages as they arrive, so
the raw JSON of one page at a time is all that is ever held."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson

from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
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


class _Column:
    __slots__ = ("category", "errored", "messages", "passed", "types", "value")

    def __init__(self, rows_before: int) -> None:
        self.value: list[float] = [_NAN] * rows_before
        self.passed: list[float] = [_NAN] * rows_before
        self.errored: list[bool] = [False] * rows_before
        self.category: list[str | None] = [None] * rows_before
        self.types: dict[MetricType, int] = {}
        self.messages: dict[str, None] = {}

    def pad(self) -> None:
        self.value.append(_NAN)
        self.passed.append(_NAN)
        self.errored.append(False)
        self.category.append(None)

    def put(self, metric: Mapping[str, Any]) -> None:
        kind = _metric_type(metric.get("metric_type"))
        raw = metric.get(f"{kind}_value")
        message = _error_text(metric.get("error"))
        if message is not None:
            self.errored[-1] = True
            if len(self.messages) < 5:
                self.messages[message] = None
            return
        if raw is None:
            return
        self.types[kind] = self.types.get(kind, 0) + 1
        if kind == "boolean" and isinstance(raw, bool):
            self.value[-1] = 1.0 if raw else 0.0
        elif kind == "score":
            self.value[-1] = _float(raw)
        elif kind == "categorical":
            self.category[-1] = str(raw)
        assessment = metric.get("assessment")
        if assessment in ("pass", "fail"):
            self.passed[-1] = 1.0 if assessment == "pass" else 0.0

    def build(self, label: str) -> EvaluatorColumn:
        kind: MetricType = max(self.types, key=self.types.__getitem__) if self.types else "score"
        return EvaluatorColumn(
            label=label,
            metric_type=kind,
            value=np.asarray(self.value, dtype=np.float64),
            passed=np.asarray(self.passed, dtype=np.float64),
            errored=np.asarray(self.errored, dtype=np.bool_),
            category=self.category if kind == "categorical" else None,
            error_messages=tuple(self.messages),
        )


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
        self._tok_in: list[float] = []
        self._tok_out: list[float] = []
        self._tok_total: list[float] = []
        self._cost: list[float] = []
        self._input: list[str] = []
        self._expected: list[str] = []
        self._output: list[str] = []
        self._columns: dict[str, _Column] = {}
        self._summaries: dict[tuple[str, int], tuple[int, SummaryEvaluation]] = {}

    def add_page(self, attributes: Mapping[str, Any]) -> None:
        """One events answer's `data.attributes`: `spans` and `summary_metrics`."""
        for span in attributes.get("spans") or []:
            if isinstance(span, Mapping):
                self.add_span(span)
        for metric in attributes.get("summary_metrics") or []:
            if isinstance(metric, Mapping):
                self.add_summary(metric)

    def add_span(self, span: Mapping[str, Any]) -> None:
        tags = span.get("tags") or []
        run = _int(tag_value(tags, "run_iteration"), 1)
        if self.run is not None and run != self.run:
            return
        meta = span.get("meta") or {}
        metrics = span.get("metrics") or {}
        key = (
            tag_value(tags, "dataset_record_canonical_id")
            or tag_value(tags, "dataset_record_id")
            or str(span.get("span_id", ""))
        )
        message = _error_text(meta.get("error"))
        self._keys.append(key)
        self._runs.append(run)
        self._error.append(span.get("status") == "error" or message is not None)
        self._message.append(message)
        self._duration.append(_float(span.get("duration")))
        self._tok_in.append(_float(metrics.get("input_tokens")))
        self._tok_out.append(_float(metrics.get("output_tokens")))
        self._tok_total.append(_float(metrics.get("total_tokens")))
        self._cost.append(_float(metrics.get("estimated_total_cost")))
        self._input.append(short_text(meta.get("input")))
        self._expected.append(short_text(meta.get("expected_output")))
        self._output.append(short_text(meta.get("output")))
        for column in self._columns.values():
            column.pad()
        for metric in _latest_per_label(span.get("eval_metrics") or []):
            label = str(metric["label"])
            if label not in self._columns:
                self._columns[label] = _Column(len(self._keys))
            self._columns[label].put(metric)

    def add_summary(self, metric: Mapping[str, Any]) -> None:
        label = metric.get("label")
        if not label:
            return
        run = _int(
            metric.get("run_iteration") or tag_value(metric.get("tags") or [], "run_iteration"), 1
        )
        if self.run is not None and run != self.run:
            return
        kind = _metric_type(metric.get("metric_type"))
        stamp = _int(metric.get("timestamp_ms"), 0)
        previous = self._summaries.get((label, run))
        if previous is not None and previous[0] > stamp:
            return
        self._summaries[(label, run)] = (
            stamp,
            SummaryEvaluation(
                label=str(label),
                run=run,
                metric_type=kind,
                value=metric.get(f"{kind}_value"),
                error=_error_text(metric.get("error")),
            ),
        )

    def build(self) -> ExperimentData:
        return ExperimentData(
            info=self.info,
            run=self.run,
            record_key=self._keys,
            run_iteration=np.asarray(self._runs, dtype=np.int32),
            task_error=np.asarray(self._error, dtype=np.bool_),
            error_message=self._message,
            duration_ns=np.asarray(self._duration, dtype=np.float64),
            input_tokens=np.asarray(self._tok_in, dtype=np.float64),
            output_tokens=np.asarray(self._tok_out, dtype=np.float64),
            total_tokens=np.asarray(self._tok_total, dtype=np.float64),
            cost=np.asarray(self._cost, dtype=np.float64),
            input_text=self._input,
            expected_text=self._expected,
            output_text=self._output,
            evaluators={label: col.build(label) for label, col in self._columns.items()},
            summaries=[
                s for _, s in sorted(self._summaries.values(), key=lambda p: (p[1].run, p[1].label))
            ],
        )


def _latest_per_label(metrics: Iterable[Any]) -> list[Mapping[str, Any]]:
    """When several evaluations share a label on one span, the latest `timestamp_ms` wins."""
    latest: dict[str, Mapping[str, Any]] = {}
    for metric in metrics:
        if not isinstance(metric, Mapping) or not metric.get("label"):
            continue
        label = str(metric["label"])
        seen = latest.get(label)
        if seen is None or _int(metric.get("timestamp_ms"), 0) >= _int(seen.get("timestamp_ms"), 0):
            latest[label] = metric
    return list(latest.values())
