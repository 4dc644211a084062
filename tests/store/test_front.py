"""What reaches the store from outside: keys, a browser's cross-site requests, hostile
headers; and the real ddtrace SDK still recording through all of it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundStore
from tests.conftest import SCRIPTS, ddtrace_env, run_script
from tests.storeapi import UNSTABLE, V2, Api, body

KEYS = {"DD-API-KEY": "k-api", "DD-APPLICATION-KEY": "k-app"}


def _projects(url: str) -> list[str]:
    return [p["attributes"]["name"] for p in httpx.get(f"{url}{V2}/projects").json()["data"]]


# -- cross-site writes ------------------------------------------------------------------------


def test_a_web_page_cannot_plant_a_project_with_a_simple_cross_site_post(
    store: BackgroundStore,
) -> None:
    # What <form enctype="text/plain"> or fetch(..., {mode: "no-cors"}) sends: no preflight.
    planted = json.dumps(body("projects", name="planted")).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        resp = httpx.post(f"{store.url}{UNSTABLE}/projects", content=planted, headers=headers)
        assert resp.status_code == 415, resp.text
        assert "application/json" in resp.json()["errors"][0]["detail"]
    # The same request with a page's Origin, even with the JSON type, is refused too.
    resp = httpx.post(
        f"{store.url}{UNSTABLE}/projects",
        content=planted,
        headers={"Content-Type": "application/json", "Origin": "https://evil.example"},
    )
    assert resp.status_code == 403
    assert "--allow-origin" in resp.json()["errors"][0]["detail"]
    # A form post of a CSV (multipart needs no preflight either) carries the page's Origin.
    upload = httpx.post(
        f"{store.url}{V2}/datasets/any/records/upload",
        files={"file": ("d.csv", b"input\n1\n")},
        headers={"Origin": "null"},
    )
    assert upload.status_code == 403
    assert _projects(store.url) == []


def test_a_dns_rebound_host_is_refused(store: BackgroundStore) -> None:
    port = urlsplit(store.url).port
    for host in ("evil.example", f"attacker.example:{port}", "10.0.0.1"):
        resp = httpx.post(
            f"{store.url}{UNSTABLE}/projects",
            json=body("projects", name="rebound"),
            headers={"Host": host},
        )
        assert resp.status_code == 403, (host, resp.text)
        assert "--allow-host" in resp.json()["errors"][0]["detail"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]", "127.0.0.2"):
        ok = httpx.get(f"{store.url}{V2}/projects", headers={"Host": host})
        assert ok.status_code == 200, (host, ok.text)
    assert _projects(store.url) == []


def test_hosts_and_origins_can_be_allowed(tmp_path: Path) -> None:
    with BackgroundStore(
        str(tmp_path / "s.db"),
        allow_hosts=["store.internal"],
        allow_origins=["http://localhost:3000"],
    ) as open_store:
        resp = httpx.post(
            f"{open_store.url}{UNSTABLE}/projects",
            json=body("projects", name="p"),
            headers={"Host": "store.internal:8765", "Origin": "http://localhost:3000"},
        )
        assert resp.status_code == 200, resp.text
        other = httpx.get(f"{open_store.url}/", headers={"Origin": "http://localhost:4000"})
        assert other.status_code == 403


def test_json_types_ddtrace_and_json_api_clients_send_are_accepted(
    store: BackgroundStore,
) -> None:
    for i, content_type in enumerate(
        ("application/json", "application/json; charset=utf-8", "application/vnd.api+json")
    ):
        resp = httpx.post(
            f"{store.url}{UNSTABLE}/projects",
            content=json.dumps(body("projects", name=f"p{i}")),
            headers={"Content-Type": content_type},
        )
        assert resp.status_code == 200, (content_type, resp.text)
    # Reads and deletes carry no body and need no type.
    assert httpx.delete(f"{store.url}{UNSTABLE}/experiments/none").status_code == 404


# -- keys -------------------------------------------------------------------------------------


def test_the_span_intake_is_never_left_open_by_an_app_key_alone(tmp_path: Path) -> None:
    db = Store(":memory:")
    with pytest.raises(ValueError, match="span intake"):
        create_app(db, app_key="k-app")
    db.close()
    with BackgroundStore(str(tmp_path / "s.db"), api_key="k-api") as locked:
        assert httpx.post(f"{locked.url}/api/v2/llmobs", json=[]).status_code == 401
        assert (
            httpx.post(
                f"{locked.url}/api/v2/llmobs", json=[], headers={"DD-API-KEY": "k-api"}
            ).status_code
            == 202
        )


@pytest.mark.parametrize(
    ("env", "args", "fragment"),
    [
        ({"DRIFTGATE_STORE_API_KEY": ""}, [], "DRIFTGATE_STORE_API_KEY"),
        ({"DRIFTGATE_STORE_API_KEY": "k", "DRIFTGATE_STORE_APP_KEY": " "}, [], "--app-key"),
        ({}, ["--api-key", ""], "--api-key"),
        ({"DRIFTGATE_STORE_APP_KEY": "k"}, [], "span intake"),
    ],
)
def test_serve_refuses_key_settings_that_require_nothing(
    tmp_path: Path, env: dict[str, str], args: list[str], fragment: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTGATE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "serve", "--port", "0", "--db", ":memory:", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _raw_request(url: str, head: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers.lower()
    return int(status_line.split()[1]), payload


@pytest.mark.parametrize("locked", [True, False])
def test_a_header_that_is_not_utf8_is_a_json_400(tmp_path: Path, locked: bool) -> None:
    keys = {"api_key": "k-api", "app_key": "k-app"} if locked else {}
    with BackgroundStore(str(tmp_path / "s.db"), **keys) as running:
        for header in (b"DD-API-KEY", b"Content-Type", b"Host"):
            head = (
                b"POST "
                + UNSTABLE.encode()
                + b"/projects HTTP/1.1\r\n"
                + (b"" if header == b"Host" else b"Host: 127.0.0.1\r\n")
                + header
                + b": \xff\xfe\r\n"
                + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            status, payload = _raw_request(running.url, head)
            assert status == 400, payload
            detail = json.loads(payload)["errors"][0]["detail"]
            assert header.decode().lower() in detail
            assert "UTF-8" in detail


def test_the_index_names_the_database_only_to_key_holders(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with BackgroundStore(db, api_key="k-api", app_key="k-app") as locked:
        anonymous = httpx.get(f"{locked.url}/")
        assert anonymous.status_code == 200
        assert anonymous.json()["service"] == "driftgate-store"
        assert db not in anonymous.text
        assert "db" not in anonymous.json()
        assert db in httpx.get(f"{locked.url}/", headers=KEYS).text
        wrong = httpx.get(f"{locked.url}/", headers={**KEYS, "DD-API-KEY": "nope"})
        assert db not in wrong.text


# -- the real SDK -----------------------------------------------------------------------------


def test_ddtrace_records_through_keys_and_the_cross_site_checks(tmp_path: Path) -> None:
    with BackgroundStore(str(tmp_path / "s.db"), api_key="k-api", app_key="k-app") as locked:
        env = ddtrace_env(locked.url, DD_API_KEY="k-api", DD_APP_KEY="k-app")
        run_script(SCRIPTS / "keyed_record.py", str(tmp_path / "ids.json"), env=env)
        ids = json.loads((tmp_path / "ids.json").read_text())
        api = Api(locked.url, **KEYS)
        records = api.ok("GET", f"{V2}/experiments", params={"filter[id]": ids["experiment_id"]})
        (experiment,) = records["data"]
        assert experiment["attributes"]["status"] == "completed"
        events = api.ok("GET", f"{UNSTABLE}/experiments/{ids['experiment_id']}/events")
        spans = events["data"]["attributes"]["spans"]
        # Three records from the CSV upload, each with its task span (span intake, API key
        # alone) and its evaluation (events, both keys).
        assert sorted(s["meta"]["output"] for s in spans) == ["2", "4", "6"]
        assert sorted(m["boolean_value"] for s in spans for m in s["eval_metrics"]) == [
            False,
            True,
            True,
        ]
