"""Talking to the store's HTTP API from tests: JSON:API bodies, spans and metrics as ddtrace
sends them."""

from __future__ import annotations

from typing import Any

import httpx

V2 = "/api/v2/llm-obs/v1"
UNSTABLE = "/api/unstable/llm-obs/v1"


def body(kind: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attributes}}


class Api:
    def __init__(self, url: str, **headers: str) -> None:
        self.http = httpx.Client(base_url=url, headers=headers, timeout=30)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.http.request(method, path, **kwargs)
        assert resp.status_code < 300, (resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def project(self, name: str = "p") -> str:
        return str(
            self.ok("POST", f"{UNSTABLE}/projects", json=body("projects", name=name))["data"]["id"]
        )

    def dataset(self, project_id: str, name: str = "d") -> dict[str, Any]:
        data = self.ok(
            "POST", f"{UNSTABLE}/{project_id}/datasets", json=body("datasets", name=name)
        )
        return dict(data["data"])

    def batch(self, project_id: str, dataset_id: str, **attrs: Any) -> list[dict[str, Any]]:
        path = f"{V2}/{project_id}/datasets/{dataset_id}/batch_update"
        return list(self.ok("POST", path, json=body("datasets", **attrs))["data"])

    def records(self, project_id: str, dataset_id: str, **params: Any) -> dict[str, Any]:
        return dict(
            self.ok("GET", f"{V2}/{project_id}/datasets/{dataset_id}/records", params=params)
        )

    def experiment(
        self, project_id: str, dataset_id: str, name: str = "exp", **attrs: Any
    ) -> dict[str, Any]:
        payload = body(
            "experiments", name=name, project_id=project_id, dataset_id=dataset_id, **attrs
        )
        return dict(self.ok("POST", f"{UNSTABLE}/experiments", json=payload)["data"])

    def patch(self, experiment_id: str, **attrs: Any) -> dict[str, Any]:
        path = f"{UNSTABLE}/experiments/{experiment_id}"
        return dict(self.ok("PATCH", path, json=body("experiments", **attrs))["data"])

    def listing(self, **params: Any) -> dict[str, Any]:
        return dict(self.ok("GET", f"{V2}/experiments", params=params))

    def events(self, experiment_id: str) -> dict[str, Any]:
        path = f"{UNSTABLE}/experiments/{experiment_id}/events"
        return dict(
            self.ok("GET", path, params={"include[eval_metrics]": "true"})["data"]["attributes"]
        )


def span(
    experiment_id: str, span_id: str, record: str, run: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "trace_id": f"t-{span_id}",
        "parent_id": "undefined",
        "name": "task",
        "start_ns": 1_000 + int("".join(c for c in span_id if c.isdigit()) or 0),
        "duration": 500,
        "status": extra.pop("status", "ok"),
        "meta": {
            "span": {"kind": "experiment"},
            "input": {"q": record},
            "output": "a",
            "expected_output": "a",
        },
        "metrics": {},
        "tags": [
            f"experiment_id:{experiment_id}",
            f"dataset_record_id:{record}",
            f"run_iteration:{run}",
        ],
        **extra,
    }


def metric(
    span_id: str, label: str, kind: str, value: Any, ts: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "metric_source": "custom",
        "span_id": span_id,
        "trace_id": f"t-{span_id}",
        "timestamp_ms": ts,
        "metric_type": kind,
        "label": label,
        f"{kind}_value": value,
        "error": None,
        "tags": [],
        **extra,
    }


def post_metrics(api: Api, experiment_id: str, metrics: list[dict[str, Any]], run: int = 1) -> None:
    api.ok(
        "POST",
        f"{UNSTABLE}/experiments/{experiment_id}/events",
        json=body(
            "experiments", scope="experiments", metrics=metrics, tags=[f"run_iteration:{run}"]
        ),
    )


def post_spans(api: Api, spans: list[dict[str, Any]]) -> None:
    events = [{"_dd.scope": "experiments", "event_type": "span", "spans": [s]} for s in spans]
    api.ok("POST", "/api/v2/llmobs", json=events)
