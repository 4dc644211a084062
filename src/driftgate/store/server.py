"""Serving the store: in the foreground (`driftgate serve`) or on a background thread of this
process (`driftgate run --local`, the demo, the tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Collection
from contextlib import suppress
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from driftgate.store.app import DEFAULT_MAX_BODY, create_app
from driftgate.store.db import Store
from driftgate.store.sockets import bind, url_of

_CLOSE_WAIT_S = 5.0
"""How long a stopping store waits for the answers it is still sending."""


class _Server(uvicorn.Server):
    """uvicorn's server, stopping as soon as it is told to: uvicorn notices `should_exit`
    on a 0.1 s tick and then sleeps 0.1 s more for open connections, whatever they do,
    which made up most of a gate's 0.19 s store stop."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        await super().startup(sockets)
        if self.started:
            self._on_ready()

    def exit_soon(self) -> None:
        """From any thread: stop serving now, not at the next tick."""
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._wake.set)

    async def main_loop(self) -> None:
        # uvicorn's loop (its tick keeps the Date header current and sees a signal's
        # `should_exit`), but woken at once by `exit_soon`.
        assert self._wake is not None
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's steps (lifespan is off): stop listening, ask every connection to close
        # once its answer is sent, wait for them; waited for with a short backoff instead of
        # uvicorn's fixed 0.1 s sleeps, for at most `timeout_graceful_shutdown` (or 5 s).
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or _CLOSE_WAIT_S)
        delay = 0.001
        while (state.connections or state.tasks) and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        for task in state.tasks:
            task.cancel(msg="the store is stopping")
        for server in self.servers:
            await server.wait_closed()


def _config(app: ASGIApp, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # ddtrace opens one connection per request; no reason to keep idle ones long.
        timeout_keep_alive=5,
        server_header=False,
    )


def serve_forever(
    store: Store,
    sock: socket.socket,
    on_ready: Callable[[], None],
    api_key: str | None = None,
    app_key: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
    allow_hosts: Collection[str] = (),
    allow_origins: Collection[str] = (),
) -> None:
    app = create_app(store, api_key, app_key, max_body, allow_hosts, allow_origins)
    _Server(_config(app, log_level), on_ready).run(sockets=[sock])


class BackgroundServer:
    """An ASGI app served on a daemon thread of this process while the `with` block runs."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        self._sock = sock if sock is not None else bind(host, port)
        self.url = url_of(self._sock)
        self._ready = threading.Event()
        self._server = _Server(_config(app), self._ready.set)
        self._thread = threading.Thread(target=self._run, name="driftgate-server", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    def start(self) -> Self:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self._server.started:
            raise RuntimeError(f"the server did not start: {self._error}")
        return self

    def stop(self) -> None:
        self._server.exit_soon()
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BackgroundStore(BackgroundServer):
    """The embedded store on a background thread (`driftgate run --local`, the demo, tests)."""

    def __init__(
        self,
        db: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        app_key: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        allow_hosts: Collection[str] = (),
        allow_origins: Collection[str] = (),
        store: Store | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        # `store` and `sock`, when given, become this server's (closed when it stops).
        self.store = store if store is not None else Store(db)
        app = create_app(self.store, api_key, app_key, max_body, allow_hosts, allow_origins)
        super().__init__(app, host, port, sock)

    def stop(self) -> None:
        super().stop()
        self.store.close()
