"""`driftgate serve` and `driftgate demo` as a user runs them: real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

DRIFTGATE = [sys.executable, "-m", "driftgate.cli"]


def _start(*args: str, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*DRIFTGATE, "serve", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    return err


def test_serve_prints_its_url_once_ready_and_keeps_state_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "store.db"
    proc, url = _start("--port", "0", "--db", str(db), cwd=tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        resp = httpx.post(
            f"{url}/api/unstable/llm-obs/v1/projects",
            json={"data": {"type": "projects", "attributes": {"name": "p"}}},
        )
        assert resp.status_code == 200
        project_id = resp.json()["data"]["id"]
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert db.exists()
    proc, url = _start("--port", "0", "--db", str(db), cwd=tmp_path)
    try:
        listed = httpx.get(f"{url}/api/v2/llm-obs/v1/projects").json()["data"]
        assert httpx.get(f"{url}/ui/experiments").status_code == 200
    finally:
        err = _stop(proc, signal.SIGTERM)  # as `docker stop` does
    assert proc.returncode == 0, err
    assert f"its experiments' pages: {url}/ui/experiments" in err
    assert [p["id"] for p in listed] == [project_id]


def test_serve_on_a_busy_port_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = subprocess.run(
            [*DRIFTGATE, "serve", "--port", port, "--db", ":memory:"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "--port 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_requires_keys_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "DRIFTGATE_STORE_API_KEY": "sekret"}
    proc = subprocess.Popen(
        [*DRIFTGATE, "serve", "--port", "0", "--db", ":memory:"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        assert httpx.get(f"{url}/api/v2/llm-obs/v1/experiments").status_code == 401
        ok = httpx.get(f"{url}/api/v2/llm-obs/v1/experiments", headers={"DD-API-KEY": "sekret"})
        assert ok.status_code == 200
    finally:
        err = _stop(proc)
    assert "sekret" not in err


def test_demo_gates_a_pull_request_end_to_end(tmp_path: Path) -> None:
    repo = tmp_path / "demo"
    proc = subprocess.run(
        [*DRIFTGATE, "demo", "--keep", str(repo)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "driftgate exited 1 (verdict fail): this pull request would be blocked." in proc.stdout
    assert "| exact_match |" in proc.stdout
    # Kept, the demo's experiments open at the report's links once its store is served.
    assert "/ui/experiments/" in proc.stdout
    assert f"To open the links above: cd {repo.resolve()} && driftgate serve" in proc.stdout
    report = json.loads((repo / ".driftgate" / "report" / "report.json").read_text())
    assert report["verdict"] == "fail"
    exact = next(m for m in report["metrics"] if m["name"] == "exact_match")
    assert exact["verdict"] == "regressed"
    assert exact["delta"] < 0
    assert report["baseline_reason"].startswith("the newest run at ")
    assert report["baseline_reason"].endswith("the merge-base on main")


def test_serve_on_a_file_that_is_not_a_database_says_so_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are notes, not a database\n")
    done = subprocess.run(
        [*DRIFTGATE, "serve", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"driftgate: error: cannot open the store's database {db} (file is not a database); "
        "point --db at another file"
    ]
