"""What the store accepts on the wire: JSON:API envelopes and the attribute models of each
request, tolerant of keys we do not know (Datadog and ddtrace add fields over time), and the
typed arguments of the store's resources that some of them become."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from driftgate.llmobs import ExperimentStatus, MetricType
from driftgate.store.core import INT64_MAX, INT64_MIN
from driftgate.store.datasets import NewRecord, RecordChange
from driftgate.store.errors import BadRequest
from driftgate.store.experiments import ExperimentChanges


def _to_str(value: Any) -> Any:
    # ddtrace sends span and trace ids as strings; raw callers often send numbers.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IdStr = Annotated[str, BeforeValidator(_to_str)]

# A number SQLite's INTEGER cannot hold, in a column the store indexes, would fail the whole
# request: it is refused here, by name.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def _runs_are_numbers(tags: list[str]) -> list[str]:
    # The run a span or metric belongs to is stored and paged as an integer; one that is not
    # would otherwise be filed under run 1 without a word.
    for tag in tags:
        key, _, value = tag.partition(":")
        if key == "run_iteration" and not _is_int64(value, minimum=0):
            raise ValueError(f"{tag!r}: run_iteration must be a whole number from 0 to {INT64_MAX}")
    return tags


def _is_int64(text: str, minimum: int = INT64_MIN) -> bool:
    # ASCII digits only: int() also takes "١", "+1" and " 1".
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and minimum <= int(text) <= INT64_MAX


Tags = Annotated[list[str], AfterValidator(_runs_are_numbers)]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProjectIn(_Tolerant):
    name: str = Field(min_length=1)
    description: str | None = ""


class DatasetIn(_Tolerant):
    name: str = Field(min_length=1)
    description: str | None = ""


class RecordIn(_Tolerant):
    id: IdStr | None = None
    input: Any
    expected_output: Any = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None

    def new_record(self) -> NewRecord:
        return NewRecord(
            id=self.id,
            input=self.input,
            expected_output=self.expected_output,
            metadata=self.metadata,
            tags=self.tags or (),
        )


class TagOperations(_Tolerant):
    add: list[str] | None = None
    remove: list[str] | None = None
    set: list[str] | None = None


class RecordUpdateIn(_Tolerant):
    id: IdStr = Field(min_length=1)
    input: Any = None
    expected_output: Any = None
    metadata: dict[str, Any] | None = None
    tag_operations: TagOperations | None = None

    def change(self) -> RecordChange:
        ops = self.tag_operations or TagOperations()
        return RecordChange(
            id=self.id,
            input=self.input,
            expected_output=self.expected_output,
            metadata=self.metadata,
            set_tags=ops.set,
            add_tags=ops.add or (),
            remove_tags=ops.remove or (),
        )


class BatchUpdateIn(_Tolerant):
    insert_records: list[RecordIn] = []
    update_records: list[RecordUpdateIn] = []
    delete_records: list[IdStr] = []
    deduplicate: bool = True
    create_new_version: bool = True


class ExperimentIn(_Tolerant):
    name: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    dataset_id: str = Field(min_length=1)
    dataset_version: int | None = Field(default=None, ge=0, le=INT64_MAX)
    description: str | None = ""
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    ensure_unique: bool = False
    run_count: int | None = Field(default=None, ge=1, le=INT64_MAX)
    parent_experiment_id: str | None = None


class ExperimentPatchIn(_Tolerant):
    status: ExperimentStatus | None = None
    error: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None

    def changes(self) -> ExperimentChanges:
        """The attributes the request gave; a null status or name is refused."""
        given = self.model_fields_set
        for key in ("status", "name"):
            if key in given and getattr(self, key) is None:
                raise BadRequest(f"data.attributes.{key} cannot be null")
        if "description" in given and self.description is None:
            raise BadRequest('data.attributes.description cannot be null; send "" to clear it')
        changes: ExperimentChanges = {}
        if self.status is not None:
            changes["status"] = self.status
        if self.name is not None:
            changes["name"] = self.name
        if "error" in given:
            changes["error"] = self.error
        if "description" in given:
            changes["description"] = self.description
        if "metadata" in given:
            changes["metadata"] = self.metadata
        return changes


class ExperimentsDeleteIn(_Tolerant):
    experiment_ids: list[str] = Field(min_length=1)


class DatasetsDeleteIn(_Tolerant):
    dataset_ids: list[str] = Field(min_length=1)


class MetricIn(_Tolerant):
    metric_source: Literal["custom", "summary"] = "custom"
    span_id: IdStr = ""
    trace_id: IdStr | None = None
    timestamp_ms: Int64 = 0
    metric_type: MetricType
    label: str = Field(min_length=1)
    error: dict[str, Any] | str | None = None
    tags: Tags | None = None
    assessment: Literal["pass", "fail"] | None = None
    boolean_value: bool | None = None
    score_value: float | None = None
    categorical_value: str | None = None


class SpanMetaIn(_Tolerant):
    # What the store reads of a span's meta: whether it is an experiment's task span.
    span: dict[str, Any] | None = None


class SpanIn(_Tolerant):
    span_id: IdStr = Field(min_length=1)
    trace_id: IdStr | None = None
    parent_id: IdStr | None = None
    name: str | None = None
    start_ns: Int64 = 0
    duration: Int64 = 0
    status: str | None = None
    tags: Tags = []
    meta: SpanMetaIn = SpanMetaIn()
    metrics: dict[str, float | None] = {}


class EventsIn(_Tolerant):
    metrics: list[MetricIn] = []
    tags: Tags = []
    spans: list[SpanIn] | None = None


class SpanEventIn(_Tolerant):
    spans: list[SpanIn] = []


_span_events = TypeAdapter(list[SpanEventIn] | SpanEventIn)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from exc


def attributes(body: Any) -> dict[str, Any]:
    """The `data.attributes` object of a JSON:API request."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest(
            'the body must be a JSON object {"data": {"type": ..., "attributes": {...}}}'
        )
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise BadRequest("data.attributes must be a JSON object")
    return attrs


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], attrs: dict[str, Any]) -> M:
    try:
        return model.model_validate(attrs)
    except ValidationError as exc:
        raise BadRequest(_describe(exc, "data.attributes")) from exc


def span_events(body: Any) -> list[dict[str, Any]]:
    """The spans of a span-intake body (a list of events, or one event), as sent."""
    try:
        parsed = _span_events.validate_python(body)
    except ValidationError as exc:
        raise BadRequest(_describe(exc, "body")) from exc
    events = parsed if isinstance(parsed, list) else [parsed]
    raw_events = body if isinstance(body, list) else [body]
    spans: list[dict[str, Any]] = []
    for event, raw in zip(events, raw_events, strict=True):
        for span, raw_span in zip(event.spans, raw.get("spans") or [], strict=True):
            spans.append({**raw_span, "span_id": span.span_id, "trace_id": span.trace_id or ""})
    return spans


def _describe(exc: ValidationError, root: str) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in (root, *err["loc"]) if not _is_union_tag(p))
        problems.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("list", "SpanEventIn"))
