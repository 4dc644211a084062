"""The embedded store as a gate starts it: the file is opened (and checked) and the socket
bound at once, in the caller's thread; the HTTP server's modules (uvicorn, starlette, the
app: about a third of the gate's start-up) are imported and served from a thread of their
own, while the user's command starts. ddtrace's first request comes a second or so after
that, and a connection made before the server is up waits in the listen queue.

Everything that can fail for a reason the user can fix (the file, the port) fails here,
before the command runs; what fails on the thread is said when the store is first needed,
and its socket is closed at once so that the command's connections are refused instead of
left waiting.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from driftgate.errors import BackendError
from driftgate.store.db import Store
from driftgate.store.sockets import bind, url_of

if TYPE_CHECKING:
    from driftgate.store.server import BackgroundStore

_START_TIMEOUT_S = 60.0


class DeferredStore:
    """`with DeferredStore(path) as store:` the store at `store.url`, served until the block
    ends; `store.wait()` returns once it serves (raises BackendError if it cannot)."""

    def __init__(self, db: str) -> None:
        self.store = Store(db)
        try:
            self._sock = bind("127.0.0.1", 0)
        except OSError:
            self.store.close()
            raise
        self.url = url_of(self._sock)
        self._server: BackgroundStore | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="driftgate-store", daemon=True)

    def _serve(self) -> None:
        try:
            from driftgate.store.server import BackgroundStore

            self._server = BackgroundStore(store=self.store, sock=self._sock).start()
        except BaseException as exc:  # said by wait(), in the caller's thread
            self._error = exc
            self._sock.close()
        finally:
            self._started.set()

    def wait(self) -> None:
        if not self._started.wait(_START_TIMEOUT_S):
            raise BackendError(
                f"the embedded store did not start within {_START_TIMEOUT_S:.0f} s; is the "
                "machine overloaded?"
            )
        if self._error is not None:
            raise BackendError(
                f"the embedded store could not start: {self._error}; `driftgate serve --db "
                f"{self.store.path}` starts it alone and shows the whole error (an import "
                "error means a broken install: reinstall driftgate)"
            )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._started.wait(_START_TIMEOUT_S)
        if self._server is not None:
            self._server.stop()  # closes the socket and the store
        else:
            self._sock.close()
            self.store.close()
