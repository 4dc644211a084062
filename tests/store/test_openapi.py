"""The store's OpenAPI document: served by the store, valid, and naming every route."""

from __future__ import annotations

import re
from typing import Any

import httpx
from openapi_schema_validator import OAS31Validator
from starlette.routing import Route

from driftgate.store.app import StoreApp
from driftgate.store.db import Store
from driftgate.store.server import BackgroundStore


def test_every_route_is_described(store: BackgroundStore) -> None:
    doc = httpx.get(f"{store.url}/openapi.json").json()
    app = StoreApp(Store(":memory:"))
    routes = [r for r in app.routes() if isinstance(r, Route)]
    assert len(routes) > 20
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            op = doc["paths"].get(route.path, {}).get(method.lower())
            assert op is not None, f"{method} {route.path} is missing from /openapi.json"
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", route.path)), route.path
            if method in ("POST", "PATCH"):
                assert op["requestBody"]["content"], route.path
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m.lower(), r.path) for r in routes for m in (r.methods or set()) - {"HEAD"}}
    assert described == served


def test_the_document_is_openapi_31_with_valid_schemas(store: BackgroundStore) -> None:
    doc = httpx.get(f"{store.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        OAS31Validator.check_schema(schema)
    refs = set(
        re.findall(r'"#/components/schemas/(\w+)"', httpx.get(f"{store.url}/openapi.json").text)
    )
    assert refs <= set(doc["components"]["schemas"])
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_a_described_body_is_one_the_store_accepts(store: BackgroundStore) -> None:
    doc = httpx.get(f"{store.url}/openapi.json").json()
    schema: dict[str, Any] = doc["paths"]["/api/unstable/llm-obs/v1/projects"]["post"][
        "requestBody"
    ]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": doc["components"]})
    payload = {"data": {"type": "projects", "attributes": {"name": "p"}}}
    validator.validate(payload)
    assert not validator.is_valid({"data": {"attributes": {"name": ""}}})
    resp = httpx.post(f"{store.url}/api/unstable/llm-obs/v1/projects", json=payload)
    assert resp.status_code == 200
