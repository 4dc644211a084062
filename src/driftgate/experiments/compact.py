"""driftgate's compact record of one experiment run (all its iterations). Pure: bytes in,
bytes out.

The unit of the run history: one file per run in the `driftgate-data` branch, and what
`driftgate history export` writes and `import` reads. JSON Lines in UTF-8, so that the branch
stays readable in a browser and git's zlib compresses it: line 1 is the header (the run as
the experiments API lists it, with what the history is searched by: pipeline, branch,
commit, dataset, config hash), then one short-keyed line per task span (record x
iteration) with what the comparison reads of it. Texts are kept as the report shows them
(whitespace collapsed, 200 characters), which is what keeps a row near 300 bytes; a run
read back compares exactly as the run read from the API did. docs/history.md has every
field.

Decoding trusts nothing: every line is bounded before it is parsed, every value is checked
for its type, and anything else (another format, another version, a cut file) is a
`CompactError` that says which line and what is wrong; the caller names the file.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import numpy as np
import orjson
from pydantic import ValidationError

from driftgate.experiments.events import short_text
from driftgate.experiments.models import (
    IMPORT_KEY,
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    SummaryEvaluation,
)
from driftgate.llmobs import MetricType

__all__ = [
    "FORMAT",
    "IMPORT_KEY",
    "IMPORT_TAG",
    "TEXT_LIMIT",
    "VERSION",
    "CompactError",
    "CompactRun",
    "config_hash",
    "decode_run",
    "display_text",
    "encode_run",
    "origin_id",
    "path_commit",
    "pipeline_folder",
    "pipeline_of",
    "recorded_at",
    "run_path",
    "to_drop",
]

FORMAT = "driftgate-run"
VERSION = 1
TEXT_LIMIT = 200
"""Characters of an input, expected output, output or error message: what the report shows
(`compare.records.MAX_TEXT`), so that truncation changes nothing a comparison says."""
CATEGORY_LIMIT = 1000
TAG_LIMIT = 200
MAX_TAGS = 100
KEY_LIMIT = 1000
MAX_HEADER = 4 * 1024 * 1024
MAX_LINE = 256 * 1024
MAX_ROWS = 10_000_000
MAX_EVALUATORS = 1000
MAX_LISTED = 1000  # evaluator error messages, summaries, notes
_INT32 = 2**31 - 1
_EXACT_INT = 2**53

IMPORT_TAG = "driftgate.imported_from"
"""Tag of an imported run (`driftgate.imported_from:<id>`), what a second import looks for."""

_METRIC_TYPES: frozenset[str] = frozenset(get_args(MetricType))
_ASSESSED = {1.0: "p", 0.0: "f"}
_PASSED = {"p": 1.0, "f": 0.0, "-": math.nan}
_INFO_FIELDS = (
    "id",
    "name",
    "experiment",
    "project_id",
    "dataset_id",
    "dataset_version",
    "description",
    "config",
    "metadata",
    "run_count",
    "parent_experiment_id",
    "status",
    "error",
    "created_at",
    "updated_at",
)
_PIPELINE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_PATH = re.compile(
    r"runs/(?P<pipeline>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})/"
    r"(?P<stamp>\d{8}T\d{6}Z)-(?P<commit>[0-9a-f]{1,12}|nocommit)-(?P<id>[A-Za-z0-9_-]{1,64})\.jsonl"
)
NO_STAMP = "00000000T000000Z"


class CompactError(ValueError):
    """A file that is not a readable compact run; the message says where and what."""


# -------------------------------------------------------------------------- what a run is


@dataclass(frozen=True)
class CompactRun:
    """A decoded run: its listing (`info`), its rows (`data`), and what its history is
    searched by."""

    info: ExperimentInfo
    data: ExperimentData
    pipeline: str | None
    commit: str | None
    branch: str | None
    recorded_at: str | None
    """When the run was recorded (for a run that was itself imported, the original's time)."""
    origin_id: str
    """The run's id where it was first recorded (an import keeps it)."""
    config_hash: str
    project: str | None
    """The project's name, when the run's tags say it (ddtrace tags `project_name:`)."""
    dataset: str | None
    """The dataset's name, when the run's tags say it (`dataset_name:`)."""

    @property
    def path(self) -> str:
        return run_path(self.pipeline, self.recorded_at, self.commit, self.origin_id)


def origin_id(info: ExperimentInfo) -> str:
    """The id of the run where it was first recorded: an imported run's original id."""
    value = _imported(info).get("id")
    return value if isinstance(value, str) and value else info.id


def recorded_at(info: ExperimentInfo) -> str | None:
    """When the run was first recorded: an imported run's original `created_at`."""
    return info.recorded_at


def pipeline_of(info: ExperimentInfo) -> str:
    """The run's pipeline: tag `ci.pipeline`, else metadata `pipeline`, else the logical
    experiment's name (what `driftgate init` names the pipeline after)."""
    meta = (info.metadata or {}).get("pipeline")
    for name in (info.tag("ci.pipeline"), meta if isinstance(meta, str) else None):
        if name:
            return name
    return info.experiment or info.name or info.id


def _imported(info: ExperimentInfo) -> Mapping[str, Any]:
    found = (info.metadata or {}).get(IMPORT_KEY)
    return found if isinstance(found, Mapping) else {}


def config_hash(config: Mapping[str, Any] | None) -> str:
    """12 hex digits of SHA-256 over the config as JSON with sorted keys: equal configs hash
    equal whatever their keys' order."""
    try:
        text = orjson.dumps(config or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = orjson.dumps(_clean(config or {}), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:12]


def display_text(text: str | None) -> str:
    """A text as the report shows it: one line, at most `TEXT_LIMIT` characters."""
    return short_text(" ".join((text or "").split()), TEXT_LIMIT)


# -------------------------------------------------------------------------- encoding


def encode_run(
    info: ExperimentInfo,
    data: ExperimentData,
    *,
    pipeline: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
) -> bytes:
    """`data` (every row of the run `info` lists) as a compact file. `pipeline`, `commit`
    and `branch` default to what the run's tags and metadata say. The same run gives the
    same bytes. `CompactError` when a record key or a line is beyond the format's bounds."""
    labels = list(data.evaluators)
    columns = [data.evaluators[label] for label in labels]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "experiment_id": info.id,
        "origin_id": origin_id(info),
        "pipeline": pipeline or pipeline_of(info),
        "branch": branch or info.branch,
        "commit": commit or info.commit,
        "created_at": recorded_at(info),
        "project": info.tag("project_name"),
        "dataset": {
            "id": info.dataset_id,
            "name": info.tag("dataset_name"),
            "version": info.dataset_version,
            "records": data.dataset_records,
        },
        "config_hash": config_hash(info.config),
        "run_count": info.run_count,
        "runs": sorted({int(i) for i in data.run_iteration.tolist()}),
        "selected_run": data.run,
        "rows": data.rows,
        "records": len(set(data.record_key)),
        "evaluators": [
            {
                "label": c.label,
                "type": c.metric_type,
                "categorical": c.category is not None,
                "errors": [display_text(m) for m in c.error_messages],
            }
            for c in columns
        ],
        "summaries": [
            {
                "label": s.label,
                "run": s.run,
                "type": s.metric_type,
                "value": s.value,
                "error": s.error,
            }
            for s in data.summaries
        ],
        "notes": list(data.notes),
        "record_tags": data.record_tags is not None,
        "info": {name: getattr(info, name) for name in _INFO_FIELDS},
    }
    lines = [_dumps(header, "the header", MAX_HEADER)]
    # Plain lists: a row is read field by field, and numpy's scalars are slow to index and
    # are not JSON.
    runs = data.run_iteration.tolist()
    failed = data.task_error.tolist()
    numbers = [
        [_number(v) for v in column.tolist()]
        for column in (
            data.duration_ns,
            data.input_tokens,
            data.output_tokens,
            data.total_tokens,
            data.cost,
        )
    ]
    evaluations = [_evaluations(column) for column in columns]
    assessments = [[_ASSESSED.get(p, "-") for p in c.passed.tolist()] for c in columns]
    errors = [c.errored.tolist() for c in columns]
    previous: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for row in range(data.rows):
        key = data.record_key[row]
        if len(key) > KEY_LIMIT:
            raise CompactError(
                f"record key {key[:40]!r}... is {len(key)} characters (at most {KEY_LIMIT})"
            )
        line: dict[str, Any] = {"k": key, "i": runs[row]}
        if columns:
            line["v"] = [values[row] for values in evaluations]
        assessed = "".join(a[row] for a in assessments)
        if assessed.strip("-"):
            line["a"] = assessed
        errored = [index for index, flags in enumerate(errors) if flags[row]]
        if errored:
            line["x"] = errored
        if failed[row]:
            line["t"] = 1
        message = data.error_message[row]
        if message is not None:
            line["m"] = display_text(message)
        duration, tokens_in, tokens_out, tokens_total, cost = (n[row] for n in numbers)
        if duration is not None:
            line["d"] = duration
        if not tokens_in is tokens_out is tokens_total is None:
            line["n"] = [tokens_in, tokens_out, tokens_total]
        if cost is not None:
            line["c"] = cost
        output = display_text(data.output_text[row])
        if output:
            line["out"] = output
        # What belongs to the record rather than the run is written when it changes: once
        # per record, as every run of it reads the same.
        shown = (
            display_text(data.input_text[row]),
            display_text(data.expected_text[row]),
            _tags(data.record_tags[row]) if data.record_tags is not None else (),
        )
        before = previous.get(key, ("", "", ()))
        if shown[0] != before[0]:
            line["in"] = shown[0]
        if shown[1] != before[1]:
            line["ex"] = shown[1]
        if shown[2] != before[2]:
            line["g"] = list(shown[2])
        previous[key] = shown
        lines.append(_dumps(line, f"the row of record {key!r}, run {runs[row]}", MAX_LINE))
    return b"".join(lines)


def _evaluations(column: EvaluatorColumn) -> list[Any]:
    """A column's evaluations as the rows write them: a number (a boolean as 0/1), a
    category, both as a pair, or null. An infinite number is always a pair, so that a bare
    string is a category."""
    categories = column.category or [None] * len(column.value)
    found: list[Any] = []
    for value, category in zip(column.value.tolist(), categories, strict=True):
        number = _number(value)
        if category is None:
            found.append([number, None] if isinstance(number, str) else number)
        else:
            kept = category[:CATEGORY_LIMIT]
            found.append(kept if number is None else [number, kept])
    return found


def _number(value: float) -> int | float | str | None:
    """A float for JSON: null for NaN, a whole number without its `.0`, infinities named."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < _EXACT_INT:
        return int(value)
    return value


def _tags(tags: Sequence[str]) -> tuple[str, ...]:
    return tuple(t[:TAG_LIMIT] for t in tags[:MAX_TAGS])


def _dumps(value: Any, what: str, limit: int) -> bytes:
    try:
        text = orjson.dumps(value)
    except TypeError:
        # A lone surrogate (JSON that was read leniently) or a value JSON cannot carry.
        text = orjson.dumps(_clean(value))
    if len(text) >= limit:
        raise CompactError(f"{what} is {len(text)} bytes as JSON (at most {limit - 1})")
    return text + b"\n"


def _clean(value: Any) -> Any:
    """`value` as JSON can carry it: lone surrogates replaced, anything else as its text."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping):
        return {str(_clean(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(str(value))


# -------------------------------------------------------------------------- decoding


def decode_run(blob: bytes) -> CompactRun:
    """A compact file read back. `CompactError` (a `ValueError`) for anything that is not a
    whole file of this format and version, naming the line and what is wrong."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CompactError("not bytes")
    blob = bytes(blob)
    if not blob:
        raise CompactError("the file is empty")
    if not blob.endswith(b"\n"):
        raise CompactError("the last line is not ended: the file was cut short")
    end = blob.find(b"\n")
    header = _header(_parse(blob[:end], 1, MAX_HEADER))
    reader = _Rows(header)
    start, number = end + 1, 1
    while start < len(blob):
        number += 1
        end = blob.find(b"\n", start)
        if number - 1 > header.rows:
            raise CompactError(f"line {number}: more rows than the header's {header.rows}")
        row = _parse(blob[start:end], number, MAX_LINE)
        try:
            reader.add(row)
        except CompactError as exc:
            raise CompactError(f"line {number}: {exc}") from None
        start = end + 1
    if reader.count != header.rows:
        raise CompactError(
            f"the header says {header.rows} rows and the file has {reader.count}: it was cut "
            "short or edited"
        )
    data = reader.build()
    return CompactRun(
        info=header.info,
        data=data,
        pipeline=header.pipeline,
        commit=header.commit,
        branch=header.branch,
        recorded_at=header.created_at,
        origin_id=header.origin_id,
        config_hash=header.config_hash,
        project=header.project,
        dataset=header.dataset_name,
    )


def _parse(line: bytes, number: int, limit: int) -> dict[str, Any]:
    if len(line) >= limit:
        raise CompactError(f"line {number} is {len(line)} bytes long (at most {limit - 1})")
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CompactError(f"line {number} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CompactError(f"line {number} is not a JSON object")
    return value


@dataclass(frozen=True)
class _Evaluator:
    label: str
    metric_type: MetricType
    categorical: bool
    errors: tuple[str, ...]


@dataclass(frozen=True)
class _Header:
    info: ExperimentInfo
    origin_id: str
    pipeline: str | None
    branch: str | None
    commit: str | None
    created_at: str | None
    project: str | None
    dataset_name: str | None
    dataset_records: int | None
    config_hash: str
    selected_run: int | None
    rows: int
    evaluators: list[_Evaluator]
    summaries: list[SummaryEvaluation]
    notes: tuple[str, ...]
    record_tags: bool


def _header(raw: dict[str, Any]) -> _Header:
    where = "line 1 (the header)"
    if raw.get("format") != FORMAT:
        raise CompactError(f"{where} does not say format {FORMAT!r}: not a driftgate run file")
    version = raw.get("version")
    if version != VERSION:
        raise CompactError(
            f"{where}: version {version!r} of the {FORMAT} format; this driftgate reads version "
            f"{VERSION} (a newer driftgate wrote it: upgrade driftgate)"
        )
    fields = _Fields(raw, where)
    info_raw = fields.mapping("info")
    try:
        info = ExperimentInfo.model_validate(
            {k: info_raw.get(k) for k in _INFO_FIELDS if k in info_raw}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CompactError(f"{where}: info.{loc}: {first['msg']}") from None
    dataset = _Fields(fields.mapping("dataset"), f"{where}, dataset")
    evaluators = []
    listed = fields.sequence("evaluators", MAX_EVALUATORS)
    for index, item in enumerate(listed):
        entry = _Fields(
            _mapping(item, f"{where}: evaluators[{index}]"), f"{where}: evaluators[{index}]"
        )
        evaluators.append(
            _Evaluator(
                label=entry.text("label", KEY_LIMIT, required=True) or "",
                metric_type=entry.metric_type("type"),
                categorical=entry.flag("categorical"),
                errors=tuple(entry.texts("errors", TEXT_LIMIT)),
            )
        )
    if len({e.label for e in evaluators}) != len(evaluators):
        raise CompactError(f"{where}: an evaluator is listed twice")
    summaries = []
    for index, item in enumerate(fields.sequence("summaries", MAX_LISTED)):
        entry = _Fields(
            _mapping(item, f"{where}: summaries[{index}]"), f"{where}: summaries[{index}]"
        )
        summaries.append(
            SummaryEvaluation(
                label=entry.text("label", KEY_LIMIT, required=True) or "",
                run=entry.integer("run", 0, _INT32),
                metric_type=entry.metric_type("type"),
                value=entry.raw("value"),
                error=entry.text("error", MAX_LINE),
            )
        )
    rows = fields.integer("rows", 0, MAX_ROWS)
    if rows is None:
        raise CompactError(f"{where}: 'rows' is missing")
    return _Header(
        info=info,
        origin_id=fields.text("origin_id", KEY_LIMIT) or info.id,
        pipeline=fields.text("pipeline", KEY_LIMIT),
        branch=fields.text("branch", KEY_LIMIT),
        commit=fields.text("commit", KEY_LIMIT),
        created_at=fields.text("created_at", KEY_LIMIT),
        project=fields.text("project", KEY_LIMIT),
        dataset_name=dataset.text("name", KEY_LIMIT),
        dataset_records=dataset.integer("records", 0, 2**62),
        config_hash=fields.text("config_hash", 64) or config_hash(info.config),
        selected_run=fields.integer("selected_run", 0, _INT32),
        rows=rows,
        evaluators=evaluators,
        summaries=summaries,
        notes=tuple(fields.texts("notes", MAX_LINE)),
        record_tags=fields.flag("record_tags"),
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CompactError(f"{where} is not an object")
    return value


class _Fields:
    """Typed reads of one JSON object, each error naming the field."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw_map, self.where = raw, where

    def _fail(self, key: str, what: str) -> CompactError:
        return CompactError(f"{self.where}: {key!r} {what}" if self.where else f"{key!r} {what}")

    def raw(self, key: str) -> Any:
        return self.raw_map.get(key)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw_map.get(key)
        if not isinstance(value, dict):
            raise self._fail(key, "must be an object")
        return value

    def sequence(self, key: str, limit: int) -> list[Any]:
        value = self.raw_map.get(key, [])
        if not isinstance(value, list):
            raise self._fail(key, "must be a list")
        if len(value) > limit:
            raise self._fail(key, f"lists {len(value)} items (at most {limit})")
        return value

    def text(self, key: str, limit: int, *, required: bool = False) -> str | None:
        value = self.raw_map.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise self._fail(key, "must be a non-empty string" if required else "must be a string")
        if len(value) > limit:
            raise self._fail(key, f"is {len(value)} characters (at most {limit})")
        return value

    def texts(self, key: str, limit: int) -> list[str]:
        items = self.sequence(key, MAX_LISTED)
        if not all(isinstance(t, str) and len(t) <= limit for t in items):
            raise self._fail(key, f"must list strings of at most {limit} characters")
        return items

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.raw_map.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"must be a whole number from {low} to {high}")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw_map.get(key, False)
        if not isinstance(value, bool):
            raise self._fail(key, "must be true or false")
        return value

    def metric_type(self, key: str) -> MetricType:
        value = self.raw_map.get(key)
        if value not in _METRIC_TYPES:
            raise self._fail(key, f"must be one of {', '.join(sorted(_METRIC_TYPES))}")
        kind: MetricType = value
        return kind


def _float(value: Any, what: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise CompactError(f"{what} must be a number or null")
    if isinstance(value, int | float):
        return float(value)
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    raise CompactError(f"{what} must be a number or null")


class _Rows:
    """Rows accumulated line by line into columns."""

    def __init__(self, header: _Header) -> None:
        self.header = header
        self.count = 0
        self.keys: list[str] = []
        self.runs: list[int] = []
        self.task_error: list[bool] = []
        self.message: list[str | None] = []
        self.duration: list[float] = []
        self.tokens: list[tuple[float, float, float]] = []
        self.cost: list[float] = []
        self.inputs: list[str] = []
        self.expected: list[str] = []
        self.outputs: list[str] = []
        self.tags: list[tuple[str, ...]] = []
        width = len(header.evaluators)
        self.values: list[list[float]] = [[] for _ in range(width)]
        self.passed: list[list[float]] = [[] for _ in range(width)]
        self.errored: list[list[bool]] = [[] for _ in range(width)]
        self.categories: list[list[str | None]] = [[] for _ in range(width)]
        self.previous: dict[str, tuple[str, str, tuple[str, ...]]] = {}

    def add(self, raw: dict[str, Any]) -> None:
        row = _Fields(raw, "")
        key = row.text("k", KEY_LIMIT, required=True) or ""
        run = row.integer("i", -_INT32 - 1, _INT32)
        if run is None:
            raise CompactError("'i' (the run) is missing")
        self._evaluations(raw)
        task_error = raw.get("t", 0)
        if task_error not in (0, 1) or isinstance(task_error, bool):
            raise CompactError("'t' must be 1 (the task raised) or absent")
        self.keys.append(key)
        self.runs.append(run)
        self.task_error.append(task_error == 1)
        self.message.append(row.text("m", TEXT_LIMIT))
        self.duration.append(_float(raw.get("d"), "'d'"))
        tokens = raw.get("n", [None, None, None])
        if not isinstance(tokens, list) or len(tokens) != 3:
            raise CompactError("'n' must list 3 token counts (input, output, total)")
        self.tokens.append(
            (_float(tokens[0], "'n'"), _float(tokens[1], "'n'"), _float(tokens[2], "'n'"))
        )
        self.cost.append(_float(raw.get("c"), "'c'"))
        self.outputs.append(row.text("out", TEXT_LIMIT) or "")
        before = self.previous.get(key, ("", "", ()))
        text_in = row.text("in", TEXT_LIMIT)
        text_ex = row.text("ex", TEXT_LIMIT)
        tags: tuple[str, ...] = before[2]
        if "g" in raw:
            if not self.header.record_tags:
                raise CompactError("'g' (tags) in a file whose header says none were read")
            listed = row.sequence("g", MAX_TAGS)
            if not all(isinstance(t, str) and len(t) <= TAG_LIMIT for t in listed):
                raise CompactError(f"'g' must list strings of at most {TAG_LIMIT} characters")
            tags = tuple(listed)
        shown = (
            before[0] if text_in is None else text_in,
            before[1] if text_ex is None else text_ex,
            tags,
        )
        self.previous[key] = shown
        self.inputs.append(shown[0])
        self.expected.append(shown[1])
        self.tags.append(shown[2])
        self.count += 1

    def _evaluations(self, raw: dict[str, Any]) -> None:
        evaluators = self.header.evaluators
        width = len(evaluators)
        values = raw.get("v", [None] * width)
        if not isinstance(values, list) or len(values) != width:
            raise CompactError(f"'v' must list {width} values, one per evaluator")
        assessed = raw.get("a", "-" * width)
        if not isinstance(assessed, str) or len(assessed) != width or set(assessed) - set("pf-"):
            raise CompactError(f"'a' must be {width} characters, each p, f or -")
        errored = raw.get("x", [])
        if not isinstance(errored, list) or not all(
            type(i) is int and 0 <= i < width for i in errored
        ):
            raise CompactError(f"'x' must list evaluator indexes from 0 to {width - 1}")
        failed = set(errored)
        for index, (evaluator, value) in enumerate(zip(evaluators, values, strict=True)):
            number, category = value, None
            if isinstance(value, str):
                number, category = None, value
            elif isinstance(value, list):
                if len(value) != 2 or not (value[1] is None or isinstance(value[1], str)):
                    raise CompactError(f"'v'[{index}] must be [number, category]")
                number, category = value
            if category is not None:
                if not evaluator.categorical:
                    raise CompactError(
                        f"'v'[{index}] is a category, and {evaluator.label!r} has none"
                    )
                if len(category) > CATEGORY_LIMIT:
                    raise CompactError(f"'v'[{index}] is longer than {CATEGORY_LIMIT} characters")
            self.values[index].append(_float(number, f"'v'[{index}]"))
            self.categories[index].append(category)
            self.passed[index].append(_PASSED[assessed[index]])
            self.errored[index].append(index in failed)

    def build(self) -> ExperimentData:
        header = self.header
        evaluators = {
            e.label: EvaluatorColumn(
                label=e.label,
                metric_type=e.metric_type,
                value=np.asarray(self.values[i], dtype=np.float64),
                passed=np.asarray(self.passed[i], dtype=np.float64),
                errored=np.asarray(self.errored[i], dtype=np.bool_),
                category=self.categories[i] if e.categorical else None,
                error_messages=e.errors,
            )
            for i, e in enumerate(header.evaluators)
        }
        tokens = np.asarray(self.tokens, dtype=np.float64).reshape(-1, 3)
        return ExperimentData(
            info=header.info,
            run=header.selected_run,
            record_key=self.keys,
            run_iteration=np.asarray(self.runs, dtype=np.int32),
            task_error=np.asarray(self.task_error, dtype=np.bool_),
            error_message=self.message,
            duration_ns=np.asarray(self.duration, dtype=np.float64),
            input_tokens=tokens[:, 0].copy(),
            output_tokens=tokens[:, 1].copy(),
            total_tokens=tokens[:, 2].copy(),
            cost=np.asarray(self.cost, dtype=np.float64),
            input_text=self.inputs,
            expected_text=self.expected,
            output_text=self.outputs,
            evaluators=evaluators,
            summaries=header.summaries,
            notes=header.notes,
            dataset_records=header.dataset_records,
            record_tags=self.tags if header.record_tags else None,
        )


# -------------------------------------------------------------------------- the data branch


def run_path(
    pipeline: str | None, created_at: str | None, commit: str | None, experiment_id: str
) -> str:
    """Where a run's file goes in the data branch (and an export's folder):
    `runs/<pipeline>/<created_at as YYYYmmddTHHMMSSZ>-<commit12>-<experiment id>.jsonl`.
    Every part is reduced to a safe charset, so that no name from a backend makes a path
    outside `runs/<pipeline>/`; names sort oldest first within a pipeline."""
    name = f"{_stamp(created_at)}-{_commit12(commit)}-{_id(experiment_id)}.jsonl"
    return pipeline_folder(pipeline) + name


def _pipeline_dir(pipeline: str | None) -> str:
    name = _PIPELINE_CHARS.sub("-", pipeline or "").lstrip("-._")[:64].rstrip(".")
    return name or "unnamed"


def _stamp(created_at: str | None) -> str:
    if not created_at:
        return NO_STAMP
    try:
        when = datetime.fromisoformat(created_at.strip().replace("Z", "+00:00"))
    except ValueError:
        return NO_STAMP
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _commit12(commit: str | None) -> str:
    text = (commit or "").strip().lower()
    return text[:12] if text and re.fullmatch(r"[0-9a-f]+", text) else "nocommit"


def _id(experiment_id: str) -> str:
    return _ID_CHARS.sub("-", experiment_id)[:64] or "noid"


def to_drop(paths: Iterable[str], keep: int) -> list[str]:
    """The files retention removes: per pipeline, all but the newest `keep` runs, oldest
    first. Paths that are not run files of this layout are never dropped."""
    if keep < 0:
        raise ValueError(f"keep must be 0 or more, not {keep}")
    by_pipeline: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        found = _PATH.fullmatch(path)
        if found is not None:
            name = path.rsplit("/", 1)[1]
            by_pipeline.setdefault(found["pipeline"], []).append((name, path))
    dropped: list[str] = []
    for runs in by_pipeline.values():
        runs.sort()
        dropped += [path for _, path in runs[: max(0, len(runs) - keep)]]
    return sorted(dropped, key=lambda p: (p.rsplit("/", 1)[1], p))


def pipeline_folder(pipeline: str | None) -> str:
    """The folder of a pipeline's runs in the data branch (`runs/<pipeline>/`)."""
    return f"runs/{_pipeline_dir(pipeline)}/"


def path_commit(path: str) -> str | None:
    """The commit (up to 12 hex digits) a run file's path names; None for any other path."""
    found = _PATH.fullmatch(path)
    return found["commit"] if found is not None and found["commit"] != "nocommit" else None
