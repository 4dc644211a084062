"""The floor for the ingest benchmark: a server on the same HTTP stack as the store (starlette
on uvicorn) that answers every request ddtrace makes with the smallest valid answer and keeps
nothing. Prints its URL on stdout once ready."""

from __future__ import annotations

import itertools
import sys
import uuid

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from driftgate.store.sockets import bind, url_of

_counter = itertools.count()


def _json(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, media_type="application/json")


async def anything(request: Request) -> Response:
    path = request.url.path
    raw = await request.body()
    if request.method == "GET":
        return _json({"data": [], "meta": {}})
    if path.endswith("/projects"):
        return _json({"data": {"id": str(uuid.uuid4()), "type": "projects", "attributes": {}}})
    if path.endswith("/datasets"):
        attrs = {"current_version": 0}
        return _json({"data": {"id": str(uuid.uuid4()), "type": "datasets", "attributes": attrs}})
    if path.endswith("/batch_update"):
        inserted = orjson.loads(raw)["data"]["attributes"].get("insert_records") or []
        acks = [{"id": r.get("id"), "attributes": {"version": 1}} for r in inserted]
        return _json({"data": acks})
    if path.endswith("/experiments"):
        name = orjson.loads(raw)["data"]["attributes"]["name"]
        attrs = {"name": f"{name}-{next(_counter)}"}
        return _json(
            {"data": {"id": str(uuid.uuid4()), "type": "experiments", "attributes": attrs}}
        )
    if request.method == "PATCH":
        return _json({"data": {}})
    return Response(status_code=202)


def main() -> None:
    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "PATCH"])])
    sock = bind("127.0.0.1", 0)
    print(url_of(sock), flush=True)  # listening already: connections queue until served
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
