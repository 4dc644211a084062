"""Errors the store raises; the HTTP layer turns each into a JSON:API error answer."""

from __future__ import annotations

from driftgate.errors import BackendError


class StoreError(Exception):
    """A request the store refuses, with the HTTP status and a message that says what to fix."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(StoreError):
    pass


class NotFound(StoreError):
    status = 404
    title = "Not Found"


class Conflict(StoreError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(StoreError):
    status = 413
    title = "Payload Too Large"


class Busy(StoreError):
    """The database file is locked by another writer; the client may retry."""

    status = 503
    title = "Service Unavailable"


class InsufficientStorage(StoreError):
    """The disk under the database is full: nothing of the request was stored. ddtrace 4.16
    retries any 5xx as it does 503, so a script whose disk gets space back goes on."""

    status = 507
    title = "Insufficient Storage"


class CannotOpen(BackendError):
    """The database file cannot be opened or set up (at start-up, not per request)."""
