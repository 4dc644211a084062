"""The store's HTTP face: the paths ddtrace and Datadog's public API use for LLM Observability
projects, datasets and experiments, answered from a `Store`.

Requests are parsed and validated here (with `wire.py`) into the typed arguments of the
store's resources; their typed rows go back out as JSON:API through `jsonapi.py`.

Each resource answers under both `/api/unstable/llm-obs/v1` (what ddtrace calls) and
`/api/v2/llm-obs/v1` (the public API), and under the agent's `/evp_proxy/vN` prefix, so a
script reaches it whether or not ddtrace thinks an agent is in between.
"""

from __future__ import annotations

import csv
import gc
import hmac
import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from driftgate import __version__
from driftgate.store import jsonapi
from driftgate.store.datasets import NewRecord
from driftgate.store.db import Store
from driftgate.store.errors import BadRequest, PayloadTooLarge, StoreError
from driftgate.store.events import SpanKey
from driftgate.store.experiments import ExperimentFilter
from driftgate.store.wire import (
    BatchUpdateIn,
    DatasetIn,
    DatasetsDeleteIn,
    EventsIn,
    ExperimentIn,
    ExperimentPatchIn,
    ExperimentsDeleteIn,
    ProjectIn,
    attributes,
    parse_json,
    span_events,
    validate,
)

log = logging.getLogger("driftgate.store")

DEFAULT_MAX_BODY = 64 * 1024 * 1024
V1 = ("/api/unstable/llm-obs/v1", "/api/v2/llm-obs/v1")
SPAN_INTAKE = "/api/v2/llmobs"
_EVP_PREFIX = re.compile(r"^/evp_proxy/v\d+(?=/)")


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, title: str, detail: str) -> JSON:
    return JSON({"errors": [{"status": str(status), "title": title, "detail": detail}]}, status)


Handler = Callable[[Request], Awaitable[Response]]


class StoreApp:
    """Routes and handlers over one `Store`."""

    def __init__(self, store: Store, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.store = store
        self.max_body = max_body
        # ddtrace uploads a dataset as a CSV of json.dumps(input): a large record is a large
        # field, which Python's csv refuses past 128 KiB. The body limit bounds fields already.
        # (The setting is process-wide; it is only ever raised.)
        csv.field_size_limit(max(csv.field_size_limit(), max_body))

    async def body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise PayloadTooLarge(
                f"the body is {declared} bytes; this store accepts at most {self.max_body} "
                "(start it with a larger --max-body, or send smaller batches)"
            )
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(
                    f"the body exceeds {self.max_body} bytes; send smaller batches or start "
                    "the store with a larger --max-body"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_attrs(self, request: Request) -> dict[str, Any]:
        return attributes(parse_json(await self.body(request)))

    # -- handlers ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return JSON({"service": "driftgate-store", "version": __version__, "db": self.store.path})

    async def project_create(self, request: Request) -> Response:
        p = validate(ProjectIn, await self.json_attrs(request))
        created = self.store.projects.create_or_get(p.name, p.description or "")
        return JSON({"data": jsonapi.resource(created)})

    async def project_list(self, request: Request) -> Response:
        rows = self.store.projects.find(request.query_params.get("filter[name]"))
        return JSON({"data": [jsonapi.resource(r) for r in rows]})

    async def dataset_create(self, request: Request) -> Response:
        d = validate(DatasetIn, await self.json_attrs(request))
        ds = self.store.datasets.create(
            request.path_params["project_id"], d.name, d.description or ""
        )
        return JSON({"data": jsonapi.resource(ds)})

    async def dataset_list(self, request: Request) -> Response:
        rows = self.store.datasets.find(
            request.path_params["project_id"], request.query_params.get("filter[name]")
        )
        return JSON({"data": [jsonapi.resource(r) for r in rows]})

    async def dataset_batch_update(self, request: Request) -> Response:
        b = validate(BatchUpdateIn, await self.json_attrs(request))
        acks = self.store.datasets.batch_update(
            request.path_params["project_id"],
            request.path_params["dataset_id"],
            [r.new_record() for r in b.insert_records],
            [r.change() for r in b.update_records],
            b.delete_records,
            b.deduplicate,
            b.create_new_version,
        )
        return JSON({"data": [jsonapi.resource(a) for a in acks]})

    async def dataset_records(self, request: Request) -> Response:
        q = request.query_params
        version = q.get("filter[version]")
        limit = jsonapi.clamp_limit(q.get("page[limit]"), 1000)
        page = self.store.datasets.records(
            request.path_params["project_id"],
            request.path_params["dataset_id"],
            jsonapi.int_param("filter[version]", version) if version else None,
            q.getlist("filter[tags]"),
            jsonapi.seq_after(q.get("page[cursor]")),
            limit,
        )
        return JSON(
            {
                "data": [jsonapi.resource(r) for r in page.rows],
                "meta": {"after": jsonapi.seq_cursor(page.next_after)},
            }
        )

    async def datasets_delete(self, request: Request) -> Response:
        d = validate(DatasetsDeleteIn, await self.json_attrs(request))
        self.store.datasets.delete(d.dataset_ids)
        return JSON({"data": [{"id": i, "type": "datasets"} for i in d.dataset_ids]})

    async def dataset_upload(self, request: Request) -> Response:
        """ddtrace's bulk upload: a multipart CSV with input, expected_output, metadata, id."""
        raw = await self.body(request)
        form_request = Request(request.scope, _replay(raw))
        try:
            async with form_request.form() as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise BadRequest('the multipart body needs a CSV file in the part named "file"')
                data = await upload.read()
        except HTTPException as exc:  # starlette's answer to a malformed multipart body
            raise BadRequest(
                f"the multipart body cannot be read ({exc.detail}); send Content-Type "
                'multipart/form-data with its boundary, and the CSV in the part named "file"'
            ) from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"the CSV file is not UTF-8 (byte {exc.start}: {data[exc.start : exc.end]!r}); "
                "save it as UTF-8"
            ) from exc
        rows = []
        reader = csv.DictReader(io.StringIO(text))
        try:
            for line in reader:
                rows.append(
                    NewRecord(
                        id=line.get("id") or None,
                        input=orjson.loads(line["input"]),
                        expected_output=_json_cell(line.get("expected_output")),
                        metadata=_json_cell(line.get("metadata")) or None,
                    )
                )
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise BadRequest(
                f"CSV line {reader.line_num}: each row needs JSON in the column input, and in "
                f"expected_output and metadata when given ({type(exc).__name__}: {exc})"
            ) from exc
        except csv.Error as exc:
            raise BadRequest(f"CSV line {reader.line_num}: {exc}") from exc
        dedupe = request.query_params.get("deduplicate", "true").lower() != "false"
        added = self.store.datasets.import_rows(request.path_params["dataset_id"], rows, dedupe)
        return JSON({"data": {"type": "datasets", "attributes": {"records": added}}})

    async def experiment_create(self, request: Request) -> Response:
        e = validate(ExperimentIn, await self.json_attrs(request))
        created = self.store.experiments.create(
            project_id=e.project_id,
            dataset_id=e.dataset_id,
            name=e.name,
            ensure_unique=e.ensure_unique,
            dataset_version=e.dataset_version,
            description=e.description or "",
            config=e.config,
            metadata=e.metadata,
            run_count=e.run_count or 1,
            parent_experiment_id=e.parent_experiment_id,
        )
        return JSON({"data": jsonapi.resource(created)})

    async def experiment_patch(self, request: Request) -> Response:
        p = validate(ExperimentPatchIn, await self.json_attrs(request))
        patched = self.store.experiments.patch(request.path_params["experiment_id"], p.changes())
        return JSON({"data": jsonapi.resource(patched)})

    async def experiment_delete(self, request: Request) -> Response:
        self.store.experiments.delete([request.path_params["experiment_id"]])
        return Response(status_code=204)

    async def experiments_delete(self, request: Request) -> Response:
        d = validate(ExperimentsDeleteIn, await self.json_attrs(request))
        self.store.experiments.delete(d.experiment_ids)
        return Response(status_code=204)

    async def experiment_list(self, request: Request) -> Response:
        q = request.query_params
        metadata = None
        if "filter[metadata]" in q:
            metadata = parse_json(q["filter[metadata]"].encode())
            if not isinstance(metadata, dict | list):
                raise BadRequest(
                    'filter[metadata] must be a JSON object, e.g. {"tags":["git.branch:main"]}'
                )
        flt = ExperimentFilter(
            ids=q.getlist("filter[id]"),
            name=q.get("filter[name]"),
            experiment=q.get("filter[experiment]"),
            metadata=metadata,
            project_id=q.get("filter[project_id]"),
            dataset_id=q.get("filter[dataset_id]"),
            parent_ids=q.getlist("filter[parent_experiment_id]"),
            is_deleted=q.get("filter[is_deleted]", "false").lower() == "true",
        )
        cursor = q.get("page[cursor]")
        limit = jsonapi.clamp_limit(q.get("page[limit]"), 100)
        page = self.store.experiments.find(flt, jsonapi.seq_after(cursor), limit)
        after = jsonapi.seq_cursor(page.next_after)
        meta = {"after": after} if after else {}
        return JSON({"data": [jsonapi.resource(r) for r in page.rows], "meta": meta})

    async def experiment_events_post(self, request: Request) -> Response:
        attrs = await self.json_attrs(request)
        e = validate(EventsIn, attrs)
        eid = request.path_params["experiment_id"]
        if e.spans:
            self.store.events.add_spans(
                [
                    {**raw, "span_id": s.span_id}
                    for raw, s in zip(attrs["spans"], e.spans, strict=True)
                ]
            )
        metrics = [
            {**raw, "span_id": m.span_id, "metric_source": m.metric_source}
            for raw, m in zip(attrs.get("metrics") or [], e.metrics, strict=True)
        ]
        if metrics:
            self.store.events.add_metrics(eid, metrics, e.tags)
        return Response(status_code=202)

    def _events(
        self, eid: str, after: SpanKey | None = None, limit: int | None = None
    ) -> tuple[dict[str, Any], SpanKey | None]:
        """An experiment's events answer, and the key of the next page."""
        # The largest answer the store gives: tens of thousands of short-lived dicts and
        # lists, none of them in a cycle, whose cyclic-GC passes cost about a quarter of
        # the read (benchmarks/store_ingest.py). Reference counting still frees them.
        with _gc_paused():
            page = self.store.events.read(eid, after, limit)
            return jsonapi.experiment_events(eid, page), page.next_after

    async def experiment_events_get(self, request: Request) -> Response:
        eid = request.path_params["experiment_id"]
        return JSON({"data": self._events(eid)[0]})

    async def experiment_events_by_name(self, request: Request) -> Response:
        q = request.query_params
        project, name = q.get("filter[project_name]"), q.get("filter[experiment_name]")
        if not project or not name:
            raise BadRequest("filter[project_name] and filter[experiment_name] are both required")
        eid = self.store.experiments.latest_id(project, name)
        return JSON({"data": self._events(eid)[0]})

    async def experiment_events_paged(self, request: Request) -> Response:
        q = request.query_params
        eid = request.path_params["experiment_id"]
        limit = jsonapi.clamp_limit(q.get("page[limit]"), 1000)
        data, next_after = self._events(eid, jsonapi.span_after(q.get("page[cursor]")), limit)
        after = jsonapi.span_cursor(next_after)
        return JSON(
            {
                "data": data,
                "meta": {"after": after} if after else {},
            }
        )

    async def span_intake(self, request: Request) -> Response:
        self.store.events.add_spans(span_events(parse_json(await self.body(request))))
        return JSON({}, 202)

    def routes(self) -> list[Route]:
        def guard(handler: Handler) -> Handler:
            async def wrapped(request: Request) -> Response:
                try:
                    return await handler(request)
                except StoreError as exc:
                    return _error(exc.status, exc.title, exc.detail)
                except Exception:
                    log.exception("store failed on %s %s", request.method, request.url.path)
                    return _error(
                        500,
                        "Internal Server Error",
                        "the store failed on this request (see its log); nothing of it was stored",
                    )

            return wrapped

        table: list[tuple[str, str, Handler]] = [("GET", "/", self.index)]
        for p in V1:
            table += [
                ("POST", f"{p}/projects", self.project_create),
                ("GET", f"{p}/projects", self.project_list),
                ("POST", f"{p}/datasets/delete", self.datasets_delete),
                ("POST", f"{p}/datasets/{{dataset_id}}/records/upload", self.dataset_upload),
                ("POST", f"{p}/experiments", self.experiment_create),
                ("GET", f"{p}/experiments", self.experiment_list),
                ("POST", f"{p}/experiments/delete", self.experiments_delete),
                ("GET", f"{p}/experiments/events", self.experiment_events_by_name),
                ("PATCH", f"{p}/experiments/{{experiment_id}}", self.experiment_patch),
                ("DELETE", f"{p}/experiments/{{experiment_id}}", self.experiment_delete),
                ("POST", f"{p}/experiments/{{experiment_id}}/events", self.experiment_events_post),
                ("GET", f"{p}/experiments/{{experiment_id}}/events", self.experiment_events_get),
                ("POST", f"{p}/{{project_id}}/datasets", self.dataset_create),
                ("GET", f"{p}/{{project_id}}/datasets", self.dataset_list),
                (
                    "POST",
                    f"{p}/{{project_id}}/datasets/{{dataset_id}}/batch_update",
                    self.dataset_batch_update,
                ),
                (
                    "GET",
                    f"{p}/{{project_id}}/datasets/{{dataset_id}}/records",
                    self.dataset_records,
                ),
            ]
        table += [
            (
                "GET",
                "/api/v2/llm-obs/v3/experiments/{experiment_id}/events",
                self.experiment_events_paged,
            ),
            ("POST", SPAN_INTAKE, self.span_intake),
        ]
        return [Route(path, guard(handler), methods=[method]) for method, path, handler in table]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (the collector runs again after it,
    unless something else had turned it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _json_cell(cell: str | None) -> Any:
    return orjson.loads(cell) if cell else None


def _replay(raw: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return receive


class _Front:
    """Outermost layer: strips the agent proxy prefix, checks keys when the store has them."""

    def __init__(self, app: ASGIApp, api_key: str | None, app_key: str | None) -> None:
        self.app = app
        self.api_key = api_key
        self.app_key = app_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _EVP_PREFIX.sub("", scope["path"])
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        denied = self._denied(scope, path)
        if denied is not None:
            await denied(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _denied(self, scope: Scope, path: str) -> Response | None:
        if path == "/" or not (self.api_key or self.app_key):
            return None
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        wanted = [("DD-API-KEY", self.api_key)]
        if path != SPAN_INTAKE:  # the span intake takes the API key alone, as Datadog's does
            wanted.append(("DD-APPLICATION-KEY", self.app_key))
        for header, key in wanted:
            if not key:
                continue
            given = headers.get(header.lower())
            if not given:
                return JSON({"errors": [f"Unauthorized: the {header} header is missing"]}, 401)
            if not hmac.compare_digest(given.encode(), key.encode()):
                return JSON({"errors": [f"Forbidden: the {header} header does not match"]}, 403)
        return None


def create_app(
    store: Store,
    api_key: str | None = None,
    app_key: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> ASGIApp:
    routes = StoreApp(store, max_body).routes()

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(
            404,
            "Not Found",
            f"{request.method} {request.url.path} is not a path of the experiments API",
        )

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(
            405, "Method Not Allowed", f"{request.method} is not allowed on {request.url.path}"
        )

    inner = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    return _Front(inner, api_key, app_key)
