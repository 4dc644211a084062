"""The store's HTTP face: the paths ddtrace and Datadog's public API use for LLM Observability
projects, datasets and experiments, answered from a `Store`.

Requests are parsed and validated here (with `wire.py`) into the typed arguments of the
store's resources; their typed rows go back out as JSON:API through `jsonapi.py`.

Each resource answers under both `/api/unstable/llm-obs/v1` (what ddtrace calls) and
`/api/v2/llm-obs/v1` (the public API), and under the agent's `/evp_proxy/vN` prefix, so a
script reaches it whether or not ddtrace thinks an agent is in between.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hmac
import io
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
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


class Pieces(Response):
    """A JSON answer sent as the pieces it is the concatenation of (its `Content-Length` their
    total), a large piece in slices of `SLICE` bytes. Handed to uvicorn whole, a 10 MB answer
    was copied three times more: joined (by the answer and by h11) and, on Python 3.11, once
    by asyncio's transport for each part the socket did not take at once; a slice the socket
    takes is copied once, and the next is handed on when the socket has drained."""

    SLICE = 1 << 18

    def __init__(self, pieces: list[bytes], status_code: int = 200) -> None:
        self.pieces = pieces
        self.status_code = status_code
        self.background = None
        self.body = b""
        self.raw_headers = [
            (b"content-length", str(sum(map(len, pieces))).encode()),
            (b"content-type", b"application/json"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        pending = b""  # small pieces go out with the next
        for piece in self.pieces:
            if len(pending) + len(piece) <= self.SLICE:
                pending += piece
                continue
            if pending:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = b""
            for start in range(0, len(piece), self.SLICE):
                part = piece[start : start + self.SLICE]
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": pending, "more_body": False})


def _error(status: int, title: str, detail: str) -> JSON:
    return JSON({"errors": [{"status": str(status), "title": title, "detail": detail}]}, status)


Handler = Callable[[Request], Awaitable[Response]]


def _off_loop(
    read: Callable[[StoreApp, Request], Response],
) -> Callable[[StoreApp, Request], Awaitable[Response]]:
    """A handler that runs `read` on one of the store's reading threads: a long read (an
    events page is 10 MB) then neither holds the event loop nor waits for another read, each
    on its thread's own connection (`Database.read`), so a gate's two experiments are read
    at once."""

    @functools.wraps(read)
    async def handler(self: StoreApp, request: Request) -> Response:
        pool = self.store.database.reading_threads()
        return await asyncio.get_running_loop().run_in_executor(pool, read, self, request)

    return handler


class StoreApp:
    """Routes and handlers over one `Store`."""

    def __init__(self, store: Store, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.store = store
        self.max_body = max_body
        self._openapi: bytes | None = None
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
        answer = {"service": "driftgate-store", "version": __version__}
        if request.scope.get(KEYS_OK, True):
            answer["db"] = self.store.path
        return JSON(answer)

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

    @_off_loop
    def dataset_records(self, request: Request) -> Response:
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

    @_off_loop
    def experiment_list(self, request: Request) -> Response:
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
        self, eid: str, after: SpanKey | None = None, limit: int | None = None, paged: bool = False
    ) -> Response:
        """An experiment's events answer (the paged one with its `meta.after`)."""
        page = self.store.events.read(eid, after, limit)
        meta = None
        if paged:
            cursor = jsonapi.span_cursor(page.next_after)
            meta = {"after": cursor} if cursor else {}
        return Pieces(jsonapi.experiment_events(eid, page, meta))

    @_off_loop
    def experiment_events_get(self, request: Request) -> Response:
        return self._events(request.path_params["experiment_id"])

    @_off_loop
    def experiment_events_by_name(self, request: Request) -> Response:
        q = request.query_params
        project, name = q.get("filter[project_name]"), q.get("filter[experiment_name]")
        if not project or not name:
            raise BadRequest("filter[project_name] and filter[experiment_name] are both required")
        return self._events(self.store.experiments.latest_id(project, name))

    @_off_loop
    def experiment_events_paged(self, request: Request) -> Response:
        q = request.query_params
        limit = jsonapi.clamp_limit(q.get("page[limit]"), 1000)
        after = jsonapi.span_after(q.get("page[cursor]"))
        return self._events(request.path_params["experiment_id"], after, limit, paged=True)

    async def span_intake(self, request: Request) -> Response:
        self.store.events.add_spans(span_events(parse_json(await self.body(request))))
        return JSON({}, 202)

    @_off_loop
    def ui_experiments(self, request: Request) -> Response:
        from driftgate.store import pages  # numpy and the gate's decoder: on the first page

        return HTMLResponse(pages.experiments_page(self.store), headers=pages.HEADERS)

    @_off_loop
    def ui_experiment(self, request: Request) -> Response:
        from driftgate.store import pages

        q = request.query_params
        status, html = pages.experiment_page(
            self.store, request.path_params["experiment_id"], q.get("q", ""), q.get("page", "")
        )
        return HTMLResponse(html, status, headers=pages.HEADERS)

    async def openapi(self, request: Request) -> Response:
        """This API's OpenAPI description, built from the route table on the first ask."""
        if self._openapi is None:
            from driftgate.store.openapi import document

            self._openapi = orjson.dumps(document([(m, p, h.__name__) for m, p, h in self.table()]))
        return Response(self._openapi, media_type="application/json")

    def table(self) -> list[tuple[str, str, Handler]]:
        """Every route: method, path, handler (the OpenAPI document is built from it)."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/", self.index),
            ("GET", "/openapi.json", self.openapi),
            # The read-only pages (pages.py): HTML, for a browser.
            ("GET", "/ui/experiments", self.ui_experiments),
            ("GET", "/ui/experiments/{experiment_id}", self.ui_experiment),
        ]
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
        return table

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

        return [
            Route(path, guard(handler), methods=[method]) for method, path, handler in self.table()
        ]


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
    """Outermost layer: strips the agent proxy prefix, refuses what a web page could send
    (a browser's `Origin`, a `Host` that is not this machine, a body that is not JSON), and
    checks keys when the store has them.

    The store listens on loopback without keys by default, so any web page the user opens
    could otherwise POST to it: a `text/plain` or form body needs no CORS preflight, and a
    DNS-rebound name reaches 127.0.0.1 under the page's own origin. ddtrace sends no `Origin`,
    names the host it was given, and sends `application/json` (multipart for the CSV upload).
    """

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        app_key: str | None,
        allow_hosts: Collection[str] = (),
        allow_origins: Collection[str] = (),
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.app_key = app_key
        self.allow_hosts = {h.lower() for h in allow_hosts}
        self.allow_origins = {o.lower().rstrip("/") for o in allow_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _EVP_PREFIX.sub("", scope["path"])
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        headers, refused = _read_headers(scope)
        if refused is None:
            refused = self._cross_site(headers)
        if refused is None:
            refused = self._keys(headers, path)
            if path == "/" and refused is not None:
                # `/` stays a health check for anyone, without what only key holders may see.
                scope = {**scope, KEYS_OK: False}
                refused = None
        if refused is None:
            refused = _content_type(scope["method"], path, headers.get("content-type"))
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _cross_site(self, headers: dict[str, str]) -> Response | None:
        origin = headers.get("origin")
        if origin is not None and not (
            "*" in self.allow_origins or origin.lower().rstrip("/") in self.allow_origins
        ):
            return _error(
                403,
                "Forbidden",
                f"requests from a web page (Origin: {origin[:200]}) are refused; start the store "
                "with --allow-origin ORIGIN to accept that origin",
            )
        host = headers.get("host")
        if host is not None and not (
            _is_loopback(host) or "*" in self.allow_hosts or _hostname(host) in self.allow_hosts
        ):
            return _error(
                403,
                "Forbidden",
                f"Host: {host[:200]} is not this machine's loopback name; start the store with "
                f"--allow-host {_hostname(host)[:200]} to accept requests addressed to it",
            )
        return None

    def _keys(self, headers: dict[str, str], path: str) -> Response | None:
        wanted = [("DD-API-KEY", self.api_key)]
        if path != SPAN_INTAKE:  # the span intake takes the API key alone, as Datadog's does
            wanted.append(("DD-APPLICATION-KEY", self.app_key))
        for header, key in wanted:
            if key is None:
                continue
            given = headers.get(header.lower())
            if not given:
                return JSON({"errors": [f"Unauthorized: the {header} header is missing"]}, 401)
            if not hmac.compare_digest(given.encode(), key.encode()):
                return JSON({"errors": [f"Forbidden: the {header} header does not match"]}, 403)
        return None


# The headers the store reads; each must be UTF-8 text (Starlette would read others as Latin-1).
_READ_HEADERS = frozenset(
    {b"host", b"origin", b"content-type", b"content-length", b"dd-api-key", b"dd-application-key"}
)
KEYS_OK = "driftgate.keys_ok"
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "::1"})


def _read_headers(scope: Scope) -> tuple[dict[str, str], Response | None]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.lower()
        if name not in _READ_HEADERS or name.decode() in headers:
            continue
        try:
            headers[name.decode()] = raw_value.decode()
        except UnicodeDecodeError:
            return headers, _error(
                400,
                "Bad Request",
                f"the {name.decode()} header is not valid UTF-8; send it as plain ASCII text",
            )
    return headers, None


def _hostname(host: str) -> str:
    """The name in a `Host` header, without its port (`[::1]:80` -> `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _content_type(method: str, path: str, given: str | None) -> Response | None:
    """A body-carrying request must say it is JSON (multipart for the CSV upload): a web page
    can send `text/plain` or a form anywhere without asking, but not `application/json`."""
    if method not in ("POST", "PUT", "PATCH"):
        return None
    media = (given or "").split(";", 1)[0].strip().lower()
    if path.endswith("/records/upload"):
        if media == "multipart/form-data":
            return None
        wanted = 'multipart/form-data (a CSV file in the part named "file")'
    elif _JSON_TYPE.match(media):
        return None
    else:
        wanted = "application/json"
    return _error(
        415,
        "Unsupported Media Type",
        f"Content-Type {media or '(none)'!r} is not accepted here; send {wanted}",
    )


def check_keys(api_key: str | None, app_key: str | None) -> None:
    """Refuse key settings that would leave a door open without saying so (ValueError)."""
    for what, key in (
        ("API key (--api-key, $DRIFTGATE_STORE_API_KEY)", api_key),
        ("application key (--app-key, $DRIFTGATE_STORE_APP_KEY)", app_key),
    ):
        if key is not None and not key.strip():
            raise ValueError(
                f"the store's {what} is set but empty, which would require nothing; "
                "give a key, or unset it to accept any"
            )
    if app_key is not None and api_key is None:
        raise ValueError(
            "--app-key (or $DRIFTGATE_STORE_APP_KEY) without --api-key would leave the span "
            "intake open (it takes the API key alone, as Datadog's does); give an API key too"
        )


def create_app(
    store: Store,
    api_key: str | None = None,
    app_key: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    allow_hosts: Collection[str] = (),
    allow_origins: Collection[str] = (),
) -> ASGIApp:
    check_keys(api_key, app_key)
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
    return _Front(inner, api_key, app_key, allow_hosts, allow_origins)
