"""The experiments API client: one httpx client for Datadog and for the embedded store.

The backend is chosen the way ddtrace chooses it: `DD_LLMOBS_OVERRIDE_ORIGIN` if set, else
`https://api.$DD_SITE` with `DD_API_KEY`/`DD_APP_KEY`. Retries cover what is worth retrying
(429, 5xx, timeouts, dropped connections) with capped exponential backoff and jitter, and
nothing else. Errors say what to do, and never contain a key.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SITE",
    "AuthError",
    "Backend",
    "DatasetRecords",
    "ExperimentsClient",
    "NotFoundError",
    "RetryPolicy",
    "backend_from_env",
    "ui_host",
]

import dataclasses
import email.utils
import gc
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from driftgate import __version__
from driftgate.errors import BackendError
from driftgate.experiments import event_pages
from driftgate.experiments.backend import (
    DEFAULT_SITE,
    AuthError,
    Backend,
    NotFoundError,
    backend_from_env,
    ui_host,
)
from driftgate.experiments.event_pages import Page
from driftgate.experiments.models import ExperimentData, ExperimentInfo, record_tags_by_key

LIST = "/api/v2/llm-obs/v1/experiments"
EVENTS_V3 = "/api/v2/llm-obs/v3/experiments/{id}/events"
EVENTS_UNSTABLE = "/api/unstable/llm-obs/v1/experiments/{id}/events"
RECORDS = "/api/v2/llm-obs/v1/{project_id}/datasets/{dataset_id}/records"
# Writes, at the paths ddtrace writes to (docs: DATADOG-API's "Paths ddtrace uses").
PROJECTS = "/api/unstable/llm-obs/v1/projects"
DATASETS = "/api/unstable/llm-obs/v1/{project_id}/datasets"
DATASETS_LIST = "/api/v2/llm-obs/v1/{project_id}/datasets"
BATCH_UPDATE = "/api/v2/llm-obs/v1/{project_id}/datasets/{dataset_id}/batch_update"
EXPERIMENTS = "/api/unstable/llm-obs/v1/experiments"
EXPERIMENT = "/api/unstable/llm-obs/v1/experiments/{id}"
EVALUATIONS = "/api/unstable/llm-obs/v1/experiments/{id}/events"
SPANS = "/api/v2/llmobs"
SPAN_INTAKE = "https://llmobs-intake.{site}"
MAX_PAGE = 5000
RECORDS_PAGE = 1000


@dataclass(frozen=True)
class DatasetRecords:
    """What the gate reads of a dataset version: how many records it has, and each one's
    tags by its id and by its canonical id (a task span names its record by either)."""

    count: int
    tags: dict[str, tuple[str, ...]]


def _record_fields(record: Any) -> tuple[Any, Any, Any]:
    """A record of the list answer as (id, canonical id, tags), whatever the answer holds."""
    if not isinstance(record, Mapping):
        return None, None, None
    attributes = record.get("attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    return record.get("id"), attributes.get("canonical_id"), attributes.get("tags")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0


class ExperimentsClient:
    """Typed reads of the experiments API, with retries and paging."""

    def __init__(
        self,
        backend: Backend,
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.backend = backend
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": f"driftgate/{__version__}"}
        if backend.api_key:
            headers["DD-API-KEY"] = backend.api_key.get_secret_value()
        if backend.app_key:
            headers["DD-APPLICATION-KEY"] = backend.app_key.get_secret_value()
        # No TLS context for a plain-HTTP backend (the embedded store): building one loads
        # the CA bundle, tens of milliseconds at every start for nothing.
        verify = not backend.base_url.startswith("http://")
        self._http = http or httpx.Client(timeout=timeout, verify=verify)
        self._base = backend.base_url
        self._headers = headers
        # A candidate and its baseline usually ran on the same dataset version: count it once
        # (they are read at the same time: the lock makes the second wait for the first).
        self._records: dict[tuple[str, str, int | None, tuple[str, ...]], DatasetRecords] = {}
        self._records_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExperimentsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------

    def _get(self, path: str, params: Sequence[tuple[str, str]], what: str) -> dict[str, Any]:
        return self._parsed(self._fetch(path, params, what), what)

    def _fetch(self, path: str, params: Sequence[tuple[str, str]], what: str) -> httpx.Response:
        """A successful answer (retried on 429, 5xx and connection failures); an error that
        says what was refused and how to fix it otherwise."""
        url = self._base + path
        last: str = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                resp = self._http.get(url, params=list(params), headers=self._headers)
            except httpx.TimeoutException:
                last = "the request timed out"
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                last = f"the connection failed ({type(exc).__name__})"
                delay = self._backoff(attempt)
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    delay = self._retry_after(resp) or self._backoff(attempt)
                else:
                    return self._checked(resp, what)
            if attempt < self.retry.attempts:
                self._sleep(delay)
        raise BackendError(
            f"{self.backend.describe()} did not answer {what} after {self.retry.attempts} "
            f"attempts (last: {last}); it may be down or rate-limiting: retry later"
        )

    def _backoff(self, attempt: int) -> float:
        capped = min(self.retry.max_delay, self.retry.base_delay * 2.0 ** (attempt - 1))
        return capped / 2 + random.uniform(0, capped / 2)  # noqa: S311 (jitter, not crypto)

    def _retry_after(self, resp: httpx.Response) -> float | None:
        for header in ("Retry-After", "X-RateLimit-Reset"):
            raw = resp.headers.get(header)
            if not raw:
                continue
            try:
                seconds = float(raw)
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(raw) if header == "Retry-After" else None
                if parsed is None:
                    continue
                seconds = parsed.timestamp() - time.time()
            return max(0.0, min(seconds, self.retry.max_retry_after))
        return None

    def _checked(self, resp: httpx.Response, what: str, access: str = "read") -> httpx.Response:
        status = resp.status_code
        if status in (401, 403):
            raise AuthError(self._auth_message(status, access))
        if status == 404:
            raise NotFoundError(f"{self.backend.describe()} answered 404 for {what}")
        if status >= 400:
            raise BackendError(
                f"{self.backend.describe()} refused {what} with HTTP {status}: {_detail(resp)}"
            )
        return resp

    def _parsed(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        status = resp.status_code
        try:
            # orjson: an events page is megabytes of JSON, which it reads several times faster.
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            try:
                body = resp.json()  # what orjson does not read, e.g. UTF-16 or a BOM
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
        if not isinstance(body, dict):
            raise BackendError(
                f"{self.backend.describe()} answered {what} with something that is not a JSON "
                f"object (HTTP {status}, {resp.headers.get('content-type', 'no content type')}, "
                f"starts with {resp.text[:80]!r}); is {self._base} the experiments API?"
            )
        return body

    def _auth_message(self, status: int, access: str = "read") -> str:
        if self.backend.is_datadog:
            missing = [
                name
                for name, key in (
                    ("DD_API_KEY", self.backend.api_key),
                    ("DD_APP_KEY", self.backend.app_key),
                )
                if key is None
            ]
            hint = f"{' and '.join(missing)} not set; " if missing else ""
            return (
                f"Datadog ({self.backend.site}) refused the keys (HTTP {status}): {hint}set "
                "DD_API_KEY to an API key and DD_APP_KEY to an application key of your "
                f"organization with LLM Observability {access} access, and DD_SITE to your "
                f"organization's site (now {self.backend.site!r})"
            )
        return (
            f"the experiments API at {self._base} refused the keys (HTTP {status}): set "
            "DD_API_KEY and DD_APP_KEY to the keys it was started with (driftgate serve "
            "--api-key/--app-key)"
        )

    # -- experiments --------------------------------------------------------------------------

    def list_experiments(
        self,
        *,
        ids: Sequence[str] = (),
        name: str | None = None,
        experiment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        project_id: str | None = None,
        dataset_id: str | None = None,
        parent_ids: Sequence[str] = (),
        is_deleted: bool = False,
        limit: int = 100,
        max_results: int | None = None,
    ) -> list[ExperimentInfo]:
        """Newest first, every page: `meta.after` is followed whenever it is present, for
        every filter (Datadog documents the cursor on all list queries; a page of `limit` is
        not the whole answer). `max_results` stops early."""
        params: list[tuple[str, str]] = [("page[limit]", str(max(1, min(limit, MAX_PAGE))))]
        params += [("filter[id]", i) for i in ids]
        params += [("filter[parent_experiment_id]", p) for p in parent_ids]
        for key, value in (
            ("filter[name]", name),
            ("filter[experiment]", experiment),
            ("filter[project_id]", project_id),
            ("filter[dataset_id]", dataset_id),
        ):
            if value is not None:
                params.append((key, value))
        if metadata is not None:
            params.append(("filter[metadata]", json.dumps(metadata, separators=(",", ":"))))
        if is_deleted:
            params.append(("filter[is_deleted]", "true"))
        found: list[ExperimentInfo] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self._get(
                LIST, params + ([("page[cursor]", cursor)] if cursor else []), "the experiment list"
            )
            for item in page.get("data") or []:
                found.append(_experiment(item))
                if max_results is not None and len(found) >= max_results:
                    return found
            cursor = _cursor(page)
            if not cursor:
                return found
            if cursor in seen:
                # A server answering the same cursor again would be followed forever.
                raise BackendError(
                    f"{self.backend.describe()} answered the experiment list with a cursor it "
                    "had already given (meta.after repeats); the listing cannot be completed"
                )
            seen.add(cursor)

    def get_experiment(self, experiment_id: str) -> ExperimentInfo:
        found = self.list_experiments(ids=[experiment_id], limit=1)
        if not found:
            raise NotFoundError(
                f"experiment {experiment_id!r} does not exist in {self.backend.describe()}; "
                "check the id (and DD_SITE, or DD_LLMOBS_OVERRIDE_ORIGIN for the embedded store)"
            )
        return found[0]

    def iter_event_pages(self, experiment_id: str, page_size: int = MAX_PAGE) -> Iterator[Page]:
        """Each events page, decoded: the paged v3 read, or the unstable one-shot read where
        v3 is not served."""
        what = f"the events of experiment {experiment_id!r}"
        path = EVENTS_V3.format(id=experiment_id)

        def get(cursor: str | None) -> Page:
            params = [("page[limit]", str(page_size))]
            resp = self._fetch(path, params + ([("page[cursor]", cursor)] if cursor else []), what)
            return self._page(resp, what)

        cursor: str | None = None
        try:
            page = get(None)
            # The next page is asked for (and decoded) while this one is read into columns:
            # the backend answers while the client works.
            with ThreadPoolExecutor(1, thread_name_prefix="driftgate-events") as ahead:
                while True:
                    cursor = page.after
                    following = ahead.submit(get, cursor) if cursor else None
                    yield page
                    if following is None:
                        return
                    page = following.result()
        except NotFoundError:
            if cursor is not None:
                raise
        try:
            resp = self._fetch(
                EVENTS_UNSTABLE.format(id=experiment_id), [("include[eval_metrics]", "true")], what
            )
        except NotFoundError as exc:
            raise NotFoundError(
                f"experiment {experiment_id!r} has no events in {self.backend.describe()}; "
                "check the id"
            ) from exc
        yield self._page(resp, what)

    def _page(self, resp: httpx.Response, what: str) -> Page:
        page = event_pages.decode(resp.content)
        if page is not None:
            return page
        # Another nesting than Datadog's, or JSON msgspec does not read: plain JSON, then
        # whatever of it is a page.
        try:
            return event_pages.from_object(self._parsed(resp, what))
        except event_pages.NotAPage:
            raise BackendError(
                f"{self.backend.describe()} answered {what} without data.attributes; is "
                f"{self.backend.base_url} the experiments API?"
            ) from None

    def dataset_records(
        self,
        project_id: str,
        dataset_id: str,
        version: int | None,
        tags: Sequence[str] = (),
    ) -> DatasetRecords:
        """How many records `version` of the dataset has (those carrying every tag in `tags`)
        and each one's tags, read the way ddtrace's `pull_dataset` reads them: every page of
        the records list; once per client for the same version and tags (a dataset version
        never changes)."""
        key = (project_id, dataset_id, version, tuple(sorted(tags)))
        with self._records_lock:
            if key not in self._records:
                self._records[key] = self._read_records(project_id, dataset_id, version, tags)
            return self._records[key]

    def _read_records(
        self, project_id: str, dataset_id: str, version: int | None, tags: Sequence[str]
    ) -> DatasetRecords:
        fields = [
            _record_fields(record)
            for page in self._record_pages(project_id, dataset_id, version, tags)
            for record in page
        ]
        return DatasetRecords(len(fields), record_tags_by_key(fields))

    def _record_pages(
        self, project_id: str, dataset_id: str, version: int | None, tags: Sequence[str]
    ) -> Iterator[list[Any]]:
        path = RECORDS.format(project_id=project_id, dataset_id=dataset_id)
        params: list[tuple[str, str]] = [("page[limit]", str(RECORDS_PAGE))]
        if version is not None:
            params.append(("filter[version]", str(version)))
        params += [("filter[tags]", tag) for tag in tags]
        what = f"the records of dataset {dataset_id!r}"
        cursor, seen = None, set()
        while True:
            page = self._get(path, params + ([("page[cursor]", cursor)] if cursor else []), what)
            data = page.get("data")
            if not isinstance(data, list):
                raise BackendError(f"{self.backend.describe()} answered {what} without a data list")
            yield data
            cursor = _cursor(page)
            if not cursor:
                return
            if cursor in seen:
                raise BackendError(
                    f"{self.backend.describe()} answered {what} with a cursor it had already "
                    "given (meta.after repeats); they cannot be counted"
                )
            seen.add(cursor)

    def experiment_data(self, experiment_id: str, run: int | None = None) -> ExperimentData:
        """Everything the comparison needs about one experiment (or one run of it), with the
        record count of its dataset version (what each run should have a task span for)."""
        # numpy, with the columns: imported when data is read, not to list experiments.
        from driftgate.experiments.events import ExperimentDataBuilder

        info = self.get_experiment(experiment_id)
        builder = ExperimentDataBuilder(info, run)
        # Tens of thousands of spans become millions of short-lived objects, none in a cycle:
        # the cyclic collector's passes over them took most of the read. Reference counting
        # still frees each page once it is in columns.
        with _gc_paused():
            for page in self.iter_event_pages(experiment_id):
                builder.add_page(page)
            data = builder.build()
        if run is not None and data.rows == 0 and not data.summaries:
            runs = info.run_count or 1
            raise NotFoundError(
                f"experiment {experiment_id!r} has no run {run} (it has {runs} run"
                f"{'s' if runs != 1 else ''}: use @1 to @{runs})"
            )
        return self._with_dataset_records(data)

    def _with_dataset_records(self, data: ExperimentData) -> ExperimentData:
        """`data` with its dataset's record count, or with a note saying why it is not known
        (whether a run is complete then goes unchecked, and the report says so)."""
        info = data.info
        if not info.dataset_id or not info.project_id:
            return data
        # ddtrace keeps the tags a dataset was pulled with (`pull_dataset(tags=...)`) in the
        # experiment's config: the run covered only the records carrying them.
        raw = (info.config or {}).get("filtered_record_tags")
        tags = [t for t in raw if isinstance(t, str)] if isinstance(raw, list) else []
        try:
            records = self.dataset_records(
                info.project_id, info.dataset_id, info.dataset_version, tags
            )
        except BackendError as exc:
            note = (
                f"the records of its dataset could not be counted ({exc}), so whether every "
                "run has a task span for each record is not known"
            )
            return dataclasses.replace(data, notes=(*data.notes, note))
        return dataclasses.replace(data, dataset_records=records.count).with_record_tags(
            records.tags
        )

    # -- writes (`driftgate history import`) -----------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        body: Any,
        what: str,
        *,
        idempotent: bool,
        api_key_only: bool = False,
    ) -> dict[str, Any] | None:
        """A write. Retried like a read when sending it twice changes nothing (`idempotent`:
        create-or-get, a batch of records by id, events by span id, a status); otherwise
        only when the request cannot have arrived (the connection was refused) or was
        refused unread (429), so that an experiment is never created twice. The answer's
        JSON object, or None for an empty answer (202)."""
        content = orjson.dumps(body)
        headers = {**self._headers, "Content-Type": "application/json"}
        if api_key_only:
            headers.pop("DD-APPLICATION-KEY", None)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                resp = self._http.request(method, url, content=content, headers=headers)
            except httpx.ConnectError:
                last = "the connection was refused"
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                if not idempotent:
                    raise BackendError(
                        f"{self.backend.describe()} did not answer {what} "
                        f"({type(exc).__name__}); it may have been done: look before retrying"
                    ) from exc
                last = f"the connection failed ({type(exc).__name__})"
                delay = self._backoff(attempt)
            else:
                status = resp.status_code
                if status == 429 or (status >= 500 and idempotent):
                    last = f"HTTP {status}"
                    delay = self._retry_after(resp) or self._backoff(attempt)
                else:
                    self._checked(resp, what, "write")
                    return self._parsed(resp, what) if resp.content.strip() else None
            if attempt < self.retry.attempts:
                self._sleep(delay)
        raise BackendError(
            f"{self.backend.describe()} did not take {what} after {self.retry.attempts} "
            f"attempts (last: {last}); it may be down or rate-limiting: retry later"
        )

    def _data(self, answer: dict[str, Any] | None, what: str) -> dict[str, Any]:
        data = (answer or {}).get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise BackendError(
                f"{self.backend.describe()} answered {what} without data.id; is "
                f"{self.backend.base_url} the experiments API?"
            )
        return data

    def create_project(self, name: str) -> str:
        """The id of the project `name`, created if it does not exist (as ddtrace does)."""
        what = f"the project {name!r}"
        answer = self._send(
            "POST",
            self._base + PROJECTS,
            _body("projects", name=name, description=""),
            what,
            idempotent=True,
        )
        return str(self._data(answer, what)["id"])

    def find_dataset(self, project_id: str, name: str) -> tuple[str, int] | None:
        """The id and current version of the project's dataset `name`, if there is one."""
        what = f"the datasets named {name!r}"
        page = self._get(
            DATASETS_LIST.format(project_id=project_id), [("filter[name]", name)], what
        )
        for item in page.get("data") or []:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                attributes = item.get("attributes")
                attributes = attributes if isinstance(attributes, Mapping) else {}
                if attributes.get("name", name) == name:
                    version = attributes.get("current_version")
                    return item["id"], version if isinstance(version, int) else 0
        return None

    def create_dataset(self, project_id: str, name: str, description: str = "") -> tuple[str, int]:
        """A new dataset (the embedded store answers the live one of that name): its id and
        current version."""
        what = f"the dataset {name!r}"
        answer = self._send(
            "POST",
            self._base + DATASETS.format(project_id=project_id),
            _body("datasets", name=name, description=description),
            what,
            idempotent=True,
        )
        data = self._data(answer, what)
        attributes = data.get("attributes")
        version = attributes.get("current_version") if isinstance(attributes, Mapping) else None
        return data["id"], version if isinstance(version, int) else 0

    def record_ids(self, project_id: str, dataset_id: str) -> list[str]:
        """The ids of the records in the dataset's current version (read now, never cached:
        an import changes them)."""
        return [
            record["id"]
            for page in self._record_pages(project_id, dataset_id, None, ())
            for record in page
            if isinstance(record, Mapping) and isinstance(record.get("id"), str)
        ]

    def update_records(
        self,
        project_id: str,
        dataset_id: str,
        *,
        insert: Sequence[Mapping[str, Any]] = (),
        delete: Sequence[str] = (),
        new_version: bool,
    ) -> int | None:
        """One `batch_update`: records inserted by id (a record already there with the same
        content is acknowledged, not added again) and deleted. The dataset's version after
        it, when the answer says."""
        what = f"the records of dataset {dataset_id!r}"
        answer = self._send(
            "POST",
            self._base + BATCH_UPDATE.format(project_id=project_id, dataset_id=dataset_id),
            {
                "data": {
                    "type": "datasets",
                    "id": dataset_id,
                    "attributes": {
                        "insert_records": list(insert),
                        "update_records": [],
                        "delete_records": list(delete),
                        "deduplicate": True,
                        "create_new_version": new_version,
                    },
                }
            },
            what,
            idempotent=True,
        )
        versions = [
            item["attributes"].get("version")
            for item in (answer or {}).get("data") or []
            if isinstance(item, Mapping) and isinstance(item.get("attributes"), Mapping)
        ]
        return max((v for v in versions if isinstance(v, int)), default=None)

    def create_experiment(self, attributes: Mapping[str, Any]) -> ExperimentInfo:
        """A new experiment (`pending`), as ddtrace creates one; never retried once it may
        have been sent."""
        what = f"the experiment {attributes.get('name')!r}"
        answer = self._send(
            "POST",
            self._base + EXPERIMENTS,
            _body("experiments", **attributes),
            what,
            idempotent=False,
        )
        return _experiment(self._data(answer, what))

    def patch_experiment(self, experiment_id: str, attributes: Mapping[str, Any]) -> None:
        """`status` (and `error`), `metadata`, as ddtrace patches them."""
        self._send(
            "PATCH",
            self._base + EXPERIMENT.format(id=experiment_id),
            _body("experiments", **attributes),
            f"the status of experiment {experiment_id!r}",
            idempotent=True,
        )

    def post_evaluations(
        self, experiment_id: str, metrics: Sequence[Mapping[str, Any]], tags: Sequence[str]
    ) -> None:
        """Evaluations of one run (`tags`: its `run_id:` and `run_iteration:`), as ddtrace
        posts them; posting the same again keeps one (the latest) per span and label."""
        body = _body("experiments", scope="experiments", metrics=list(metrics), tags=list(tags))
        self._send(
            "POST",
            self._base + EVALUATIONS.format(id=experiment_id),
            body,
            f"the evaluations of experiment {experiment_id!r}",
            idempotent=True,
        )

    def post_spans(self, spans: Sequence[Mapping[str, Any]]) -> None:
        """Task spans, to the span intake (Datadog's is its own host; an override origin
        takes them itself), one event per span as ddtrace sends them."""
        intake = (
            SPAN_INTAKE.format(site=self.backend.site) if self.backend.is_datadog else self._base
        )
        events = [
            {"_dd.scope": "experiments", "event_type": "span", "spans": [span]} for span in spans
        ]
        self._send(
            "POST",
            intake + SPANS,
            events,
            f"{len(events)} task spans",
            idempotent=True,
            api_key_only=True,
        )


def _body(kind: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attributes}}


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while any thread is inside the block (the collector runs
    again after the last one leaves, unless something else had turned it off)."""
    global _gc_pauses, _gc_was_enabled  # noqa: PLW0603 (one process-wide collector)
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _experiment(item: Any) -> ExperimentInfo:
    if not isinstance(item, Mapping):
        raise BackendError(f"an experiment in the list answer is not an object: {str(item)[:80]!r}")
    try:
        return ExperimentInfo.model_validate(
            {**(item.get("attributes") or {}), "id": item.get("id")}
        )
    except ValidationError as exc:
        raise BackendError(
            f"the list answered an experiment this client cannot read ({exc.error_count()} "
            f"problems, first: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']})"
        ) from exc


def _cursor(page: Mapping[str, Any]) -> str | None:
    """The next page's cursor: `meta.after`, absent or empty (`""`) on the last page."""
    meta = page.get("meta")
    after = meta.get("after") if isinstance(meta, Mapping) else None
    return after if isinstance(after, str) and after else None


def _detail(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return resp.text[:200] or resp.reason_phrase
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, Mapping):
            return str(first.get("detail") or first.get("title") or first)
        return str(first)
    return resp.text[:200]
