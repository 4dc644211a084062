"""The store's server on a background thread: stopping it ends what it serves cleanly, an
answer still being sent included."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from driftgate.store.server import BackgroundServer, BackgroundStore


def test_an_answer_in_flight_when_the_server_stops_is_sent_whole() -> None:
    started = threading.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"x" * 100_000})

    server = BackgroundServer(slow).start()
    answers: list[httpx.Response] = []
    reader = threading.Thread(target=lambda: answers.append(httpx.get(server.url, timeout=10)))
    reader.start()
    assert started.wait(10)
    server.stop()
    reader.join(10)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].content == b"x" * 100_000


def test_a_stopped_store_closes_idle_connections_and_listens_no_more() -> None:
    store = BackgroundStore().start()
    with httpx.Client(base_url=store.url) as client:
        assert client.get("/").status_code == 200  # an idle keep-alive connection remains
        store.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/")
