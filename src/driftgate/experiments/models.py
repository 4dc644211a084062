"""The gate's view of experiments: what the client reads and the comparison consumes. Pure.

`ExperimentInfo` is one experiment as the list API describes it (tolerant: Datadog adds
fields and publishes no schema for some). `ExperimentData` is the per-record data of one
experiment (all its runs, or one run of it), stored by column: a 50,000-record experiment
with 3 runs and 5 evaluators is 150,000 rows, and numpy arrays keep that in a few MB where
one object per row and per evaluation would take hundreds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from driftgate.llmobs import MetricType, tag_value

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Types of annotations only: listing experiments (before the user's command runs) needs no
# numpy, which the columns' readers and the statistics import when they run.
FloatArray: TypeAlias = "npt.NDArray[np.float64]"
BoolArray: TypeAlias = "npt.NDArray[np.bool_]"
IntArray: TypeAlias = "npt.NDArray[np.int32]"


class ExperimentInfo(BaseModel):
    """One experiment run as listed by `GET /api/v2/llm-obs/v1/experiments`."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str = ""
    experiment: str = ""
    project_id: str = ""
    dataset_id: str = ""
    dataset_version: int | None = None
    description: str | None = ""
    config: dict[str, Any] | None = Field(default_factory=dict)
    metadata: dict[str, Any] | None = Field(default_factory=dict)
    run_count: int | None = 1
    parent_experiment_id: str | None = None
    status: str | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    aggregate_data: dict[str, Any] | None = None

    @property
    def tags(self) -> list[str]:
        tags = (self.metadata or {}).get("tags")
        return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []

    def tag(self, key: str) -> str | None:
        """The value of the first `key:value` tag, from `metadata.tags`."""
        return tag_value(self.tags, key)

    @property
    def commit(self) -> str | None:
        """The commit the experiment ran at: tag `git.commit.sha`, else metadata `commit`."""
        found = self.tag("git.commit.sha")
        if found:
            return found
        value = (self.metadata or {}).get("commit")
        return value if isinstance(value, str) and value else None

    @property
    def branch(self) -> str | None:
        """The branch it was recorded on: tag `git.branch`, else metadata `branch`."""
        found = self.tag("git.branch")
        if found:
            return found
        value = (self.metadata or {}).get("branch")
        return value if isinstance(value, str) and value else None

    @property
    def dirty(self) -> bool:
        """Recorded from a working tree with uncommitted changes: tag `git.dirty:true`, or
        metadata `dirty: true`."""
        return self.tag("git.dirty") == "true" or (self.metadata or {}).get("dirty") is True

    @property
    def imported(self) -> bool:
        """Created by `driftgate history import` or from the data branch: a copy of a run
        recorded in another backend, on a copy of its dataset (whose id and version are
        this backend's; its records keep theirs)."""
        return isinstance((self.metadata or {}).get(IMPORT_KEY), dict)

    def dataset_comparable(self, other: ExperimentInfo) -> bool:
        """Whether the two runs' dataset ids and versions can be compared: not between a copy
        and a run recorded here, whose datasets are each this backend's own."""
        return self.imported == other.imported

    @property
    def recorded_at(self) -> str | None:
        """When the run was first recorded: an imported run's original `created_at`."""
        found = (self.metadata or {}).get(IMPORT_KEY)
        when = found.get("created_at") if isinstance(found, dict) else None
        return when if isinstance(when, str) and when else self.created_at


IMPORT_KEY = "driftgate_import"
"""Metadata key of an imported run: the original run's `id`, `name` and `created_at`."""


class ConsideredRun(BaseModel):
    """A run the baseline search looked at and did not choose, and why (for the report)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = ""
    experiment: str = ""
    commit: str | None = None
    branch: str | None = None
    created_at: str | None = None
    status: str | None = None
    why: str
    """Why it was not the baseline, in words: "not finished (running)", "recorded from a
    dirty working tree", "at a commit that is not the merge-base or one of its ancestors"..."""

    @classmethod
    def of(cls, info: ExperimentInfo, why: str) -> ConsideredRun:
        return cls(
            id=info.id,
            name=info.name,
            experiment=info.experiment,
            commit=info.commit,
            branch=info.branch,
            created_at=info.created_at,
            status=info.status,
            why=why,
        )


@dataclass(frozen=True, slots=True)
class EvaluatorColumn:
    """One evaluator (custom metric label) over the rows of an `ExperimentData`.

    Arrays are aligned with the rows. `value` is the numeric reading: a boolean as 0/1, a
    score as itself, NaN where there is none (categorical, json, missing or errored).
    `passed` is the assessment (1 pass, 0 fail, NaN none). `category` holds the categorical
    values (None where absent), and is None for other types.
    """

    label: str
    metric_type: MetricType
    value: FloatArray
    passed: FloatArray
    errored: BoolArray
    category: list[str | None] | None = None
    error_messages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SummaryEvaluation:
    """One summary evaluator's value for one run; `run` is None when the backend did not say
    which (each such value is still one run's)."""

    label: str
    run: int | None
    metric_type: MetricType
    value: Any
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExperimentData:
    """Per-record data of one experiment: one row per task span (record x run).

    `record_key` pairs rows across experiments: the dataset record's canonical id when the
    backend gave one, else its record id. `input_text`, `expected_text` and `output_text`
    are short renderings for the report (the full values stay in the backend).
    """

    info: ExperimentInfo
    run: int | None  # the single run selected with ID@N, or None for all runs
    record_key: list[str]
    run_iteration: IntArray
    task_error: BoolArray
    error_message: list[str | None]
    duration_ns: FloatArray
    input_tokens: FloatArray
    output_tokens: FloatArray
    total_tokens: FloatArray
    cost: FloatArray
    input_text: list[str]
    expected_text: list[str]
    output_text: list[str]
    evaluators: dict[str, EvaluatorColumn]
    summaries: list[SummaryEvaluation]
    notes: tuple[str, ...] = ()
    """What the read could not establish (summary runs Datadog did not give): said in the
    report."""
    dataset_records: int | None = None
    """How many records the dataset version the experiment ran on has (with the record tags
    it was filtered on): every run should have a task span for each. None: not known (no
    dataset, or it could not be read; a note then says why)."""
    record_tags: list[tuple[str, ...]] | None = None
    """Each row's dataset record tags (`key:value`, as the dataset gives them), aligned with
    the rows; a row whose record the dataset does not list has none. None: not known (the
    records could not be read; the same note says why)."""

    @property
    def rows(self) -> int:
        return len(self.record_key)

    def with_record_tags(self, by_key: Mapping[str, tuple[str, ...]]) -> ExperimentData:
        """These rows with their records' tags (`record_tags_by_key`); a record not listed
        has none."""
        return dataclasses.replace(
            self, record_tags=[by_key.get(key, ()) for key in self.record_key]
        )


def record_tags_by_key(records: Iterable[tuple[Any, Any, Any]]) -> dict[str, tuple[str, ...]]:
    """A dataset's records, as (id, canonical id, tags), into each one's tags (`key:value`
    strings; anything else skipped) under its id and under its canonical id: a task span
    names its record by either. The first record a key names wins."""
    found: dict[str, tuple[str, ...]] = {}
    for record_id, canonical_id, raw in records:
        tags = tuple(t for t in raw if isinstance(t, str)) if isinstance(raw, list | tuple) else ()
        for key in (record_id, canonical_id):
            if isinstance(key, str) and key:
                found.setdefault(key, tags)
    return found
