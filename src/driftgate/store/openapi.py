"""The store's API described in OpenAPI 3.1, served at `GET /openapi.json`.

Built from the store's route table (so a route cannot be left out) and from the pydantic
models that validate each request body (so the schemas say what the store really accepts).
What the table cannot say, each operation's summary, query parameters and answers, is in
`_OPERATIONS` below, keyed by handler name: a route whose handler has no entry there fails
the build (and the test that checks every route is described).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from driftgate import __version__
from driftgate.store.wire import (
    BatchUpdateIn,
    DatasetIn,
    DatasetsDeleteIn,
    EventsIn,
    ExperimentIn,
    ExperimentPatchIn,
    ExperimentsDeleteIn,
    ProjectIn,
    SpanEventIn,
)

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class _Query:
    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    repeatable: bool = False


@dataclass(frozen=True)
class _Op:
    summary: str
    ok: int = 200
    body: type[BaseModel] | None = None  # JSON:API `data.attributes`
    raw_body: dict[str, Any] | None = None  # any other request body (media type -> schema)
    query: tuple[_Query, ...] = ()
    errors: tuple[int, ...] = field(default=(400,))
    html: bool = False  # a read-only page: it and its own errors are HTML


_STR = {"type": "string"}
_INT = {"type": "integer"}
_LIMIT = _Query("page[limit]", {"type": "integer"}, "page size; larger than 5000 is clamped")
_CURSOR = _Query("page[cursor]", _STR, "`meta.after` of the previous page")

_OPERATIONS: dict[str, _Op] = {
    "index": _Op("The store's name and version (and its database file, to key holders)"),
    "openapi": _Op("This document"),
    "ui_experiments": _Op("A page: the experiments, newest first", html=True, errors=()),
    "ui_experiment": _Op(
        "A page: an experiment's rows, those the query selects",
        query=(
            _Query("q", _STR, "a query in Datadog's records search language"),
            _Query("page", _INT, "which 1,000 rows: 1 (the default) the first, 2 the next"),
        ),
        html=True,
        errors=(400, 404),
    ),
    "project_create": _Op("Create a project, or get the one of that name", body=ProjectIn),
    "project_list": _Op(
        "List projects", query=(_Query("filter[name]", _STR, "only the project of this name"),)
    ),
    "dataset_create": _Op(
        "Create a dataset, or get the live one of that name", body=DatasetIn, errors=(400, 404)
    ),
    "dataset_list": _Op(
        "List a project's datasets",
        query=(_Query("filter[name]", _STR, "only the dataset of this name"),),
    ),
    "dataset_batch_update": _Op(
        "Insert, update and delete records; a change makes a new version",
        body=BatchUpdateIn,
        errors=(400, 404, 409),
    ),
    "dataset_records": _Op(
        "A dataset's records, paged",
        query=(
            _Query("filter[version]", _INT, "a past version (default: the current one)"),
            _Query("filter[tags]", _STR, "records with every tag given", repeatable=True),
            _LIMIT,
            _CURSOR,
        ),
        errors=(400, 404),
    ),
    "datasets_delete": _Op("Soft-delete datasets", body=DatasetsDeleteIn),
    "dataset_upload": _Op(
        "Insert records from a CSV file (columns input, expected_output, metadata, id)",
        raw_body={
            "multipart/form-data": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        query=(_Query("deduplicate", {"type": "boolean"}, "skip records already present"),),
        errors=(400, 404, 409),
    ),
    "experiment_create": _Op("Create an experiment run", body=ExperimentIn, errors=(400, 404)),
    "experiment_list": _Op(
        "List experiments, newest first, paged",
        query=(
            _Query("filter[id]", _STR, "these experiments", repeatable=True),
            _Query("filter[experiment]", _STR, "the logical (submitted) name"),
            _Query("filter[name]", _STR, "the run's unique name"),
            _Query("filter[metadata]", _STR, "a JSON value the metadata must contain"),
            _Query("filter[project_id]", _STR, "this project's"),
            _Query("filter[dataset_id]", _STR, "this dataset's"),
            _Query("filter[parent_experiment_id]", _STR, "these parents'", repeatable=True),
            _Query("filter[is_deleted]", {"type": "boolean"}, "list only deleted ones"),
            _LIMIT,
            _CURSOR,
        ),
    ),
    "experiments_delete": _Op(
        "Soft-delete experiments", ok=204, body=ExperimentsDeleteIn, errors=(400, 404)
    ),
    "experiment_events_by_name": _Op(
        "Every task span and evaluation of the newest run of that name",
        query=(
            _Query("filter[project_name]", _STR, "the project", required=True),
            _Query("filter[experiment_name]", _STR, "the experiment", required=True),
        ),
        errors=(400, 404),
    ),
    "experiment_patch": _Op(
        "Change status, error, metadata, name or description",
        body=ExperimentPatchIn,
        errors=(400, 404, 409),
    ),
    "experiment_delete": _Op("Soft-delete an experiment", ok=204, errors=(404,)),
    "experiment_events_post": _Op(
        "Record evaluation metrics (and spans)", ok=202, body=EventsIn, errors=(400, 404, 409)
    ),
    "experiment_events_get": _Op(
        "Every task span of every run with its evaluations, and the summary metrics",
        query=(_Query("include[eval_metrics]", {"type": "boolean"}, "include evaluations"),),
        errors=(404,),
    ),
    "experiment_events_paged": _Op(
        "The same, paged by spans", query=(_LIMIT, _CURSOR), errors=(400, 404)
    ),
    "span_intake": _Op(
        "The span intake: a list of span events, or one",
        ok=202,
        raw_body={
            "application/json": {
                "oneOf": [
                    {"type": "array", "items": {"$ref": _REF.format(model="SpanEventIn")}},
                    {"$ref": _REF.format(model="SpanEventIn")},
                ]
            }
        },
    ),
}

_MODELS: tuple[type[BaseModel], ...] = (
    ProjectIn,
    DatasetIn,
    BatchUpdateIn,
    DatasetsDeleteIn,
    ExperimentIn,
    ExperimentPatchIn,
    ExperimentsDeleteIn,
    EventsIn,
    SpanEventIn,
)

_ERROR = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"status": _STR, "title": _STR, "detail": _STR},
                    },
                    {"type": "string"},  # Datadog's shape for 401/403 and 429
                ]
            },
        }
    },
}

_ERROR_TEXT = {
    400: "the request is malformed; `detail` names the field",
    401: "a key header is missing (when the store requires keys)",
    403: "a key does not match, or a browser's Origin or a foreign Host was refused",
    404: "no such project, dataset or experiment",
    409: "a deleted dataset or experiment, or a record id reused with other content",
    413: "the body is larger than --max-body",
    415: "the body is not application/json (multipart/form-data for the CSV upload)",
    503: "the database is locked by another process; retry",
}
_EVERYWHERE = (401, 403, 503)


def _envelope(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["attributes"],
                "properties": {
                    "type": _STR,
                    "attributes": {"$ref": _REF.format(model=model.__name__)},
                },
            }
        },
    }


def _operation(method: str, path: str, handler: str) -> dict[str, Any]:
    op = _OPERATIONS[handler]
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _STR}
        for name in _PATH_PARAM.findall(path)
    ]
    for q in op.query:
        schema = {"type": "array", "items": q.schema} if q.repeatable else q.schema
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": schema,
                **({"style": "form", "explode": True} if q.repeatable else {}),
            }
        )
    errors = set(op.errors) | set(_EVERYWHERE)
    body: dict[str, Any] | None = None
    if op.body is not None:
        body = {"application/json": {"schema": _envelope(op.body)}}
    elif op.raw_body is not None:
        body = {media: {"schema": schema} for media, schema in op.raw_body.items()}
    if body is not None:
        errors |= {400, 413, 415}
    ok: dict[str, Any] = {"description": "done"}
    html = {"text/html": {"schema": _STR}}
    if op.ok != 204:
        ok["content"] = html if op.html else {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {str(op.ok): ok}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": html
            if op.html and status in op.errors
            else {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
        }
    operation: dict[str, Any] = {
        "operationId": f"{handler}_{method.lower()}_{_slug(path)}",
        "summary": op.summary,
        "parameters": params,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"


def document(table: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The OpenAPI document of the routes in `table` (method, path, handler name)."""
    _, defs = models_json_schema([(m, "validation") for m in _MODELS], ref_template=_REF)
    schemas: dict[str, Any] = {**defs.get("$defs", {}), "Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in table:
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, handler)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "driftgate store",
            "version": __version__,
            "description": (
                "Datadog's LLM Observability projects, datasets and experiments API, as "
                "ddtrace calls it, on one SQLite file. Every path also answers behind the "
                "agent's /evp_proxy/vN prefix. Keys (DD-API-KEY, DD-APPLICATION-KEY) are "
                "required only when the store was started with them."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
