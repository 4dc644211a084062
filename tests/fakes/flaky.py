"""An ASGI wrapper that answers scripted failures before letting requests through to the
real app: rate limits, server errors, garbage, slow answers."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class Fault:
    status: int
    body: bytes = b'{"errors": ["injected"]}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (to trigger client timeouts)
    content_type: str = "application/json"


class Flaky:
    """Answers the queued faults in order (for paths containing `match`), then the app."""

    def __init__(self, app: ASGIApp, match: str = "") -> None:
        self.app = app
        self.match = match
        self.faults: deque[Fault] = deque()
        self.seen: list[tuple[str, str, int]] = []

    def fail(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.match not in scope["path"] or not self.faults:
            if scope["type"] == "http":
                self.seen.append((scope["method"], scope["path"], 0))
            await self.app(scope, receive, send)
            return
        fault = self.faults.popleft()
        self.seen.append((scope["method"], scope["path"], fault.status))
        if fault.delay:
            await asyncio.sleep(fault.delay)
        headers: list[Any] = [(b"content-type", fault.content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": fault.body})
