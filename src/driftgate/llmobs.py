"""Datadog LLM Observability's vocabulary, as both sides of the experiments API speak it:
the client (`experiments/`) and the embedded store (`store/`) read the same words from here,
and neither imports the other."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

ExperimentStatus = Literal["pending", "running", "completed", "failed", "interrupted"]
FINISHED: frozenset[ExperimentStatus] = frozenset({"completed", "failed", "interrupted"})
"""An experiment in one of these has stopped: nothing more will be recorded into it."""

MetricType = Literal["boolean", "score", "categorical", "json"]
"""An evaluation's `metric_type`."""


def tag_value(tags: Iterable[Any], key: str) -> str | None:
    """The value of the first `key:value` tag; None when there is none (non-strings skipped)."""
    prefix = key + ":"
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(prefix):
            return tag[len(prefix) :]
    return None
