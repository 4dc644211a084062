"""The store on a full disk: a write that cannot be stored answers 507 (which ddtrace retries,
as it does any 5xx) and says so, the store goes on once space is back, and `driftgate serve`
started on a full disk says so in one line.

Two ways to fill a disk without root: SQLite's `max_page_count` (here, in this process: the
statement that needs a page fails with SQLITE_FULL), and a real 512 KiB tmpfs mounted in a
user namespace (`unshare -rm`) under a real `driftgate serve`, where the failure comes at
COMMIT, as on a real disk, after SQLite already rolled the transaction back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from driftgate.store.server import BackgroundStore
from tests.storeapi import UNSTABLE, Api, metric, post_metrics, span

DRIFTGATE = [sys.executable, "-m", "driftgate.cli"]


def _full_disk_refusal(resp: httpx.Response) -> None:
    assert resp.status_code == 507, resp.text
    (error,) = resp.json()["errors"]
    assert error["status"] == "507"
    assert error["title"] == "Insufficient Storage"
    assert "disk" in error["detail"]
    assert "full" in error["detail"]
    assert "nothing of this request was stored" in error["detail"]


def _setup(api: Api) -> str:
    pid = api.project()
    did = api.dataset(pid)["id"]
    api.batch(pid, did, insert_records=[{"id": "r1", "input": 1}])
    return str(api.experiment(pid, did)["id"])


def _big_span(eid: str, sid: str) -> dict[str, object]:
    return span(eid, sid, "r1", meta={"span": {"kind": "experiment"}, "output": "x" * 300_000})


def test_a_write_that_meets_a_full_disk_answers_507_and_the_store_goes_on(
    tmp_path: Path,
) -> None:
    with BackgroundStore(str(tmp_path / "s.db")) as store:
        api = Api(store.url)
        eid = _setup(api)
        with store.store.database.tx() as conn:  # the writing connection
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        _full_disk_refusal(
            api.http.post("/api/v2/llmobs", json=[{"spans": [_big_span(eid, "s1")]}])
        )
        _full_disk_refusal(
            api.http.post(
                f"{UNSTABLE}/experiments/{eid}/events",
                json={
                    "data": {
                        "type": "experiments",
                        "attributes": {"metrics": [metric("s1", "m", "json", "y" * 300_000)]},
                    }
                },
            )
        )
        assert api.events(eid)["spans"] == []  # reads still answer; nothing was kept
        with store.store.database.tx() as conn:  # the writing connection
            conn.execute("PRAGMA max_page_count = 1073741823")
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Space is back: the same requests are stored, without a restart.
        api.ok("POST", "/api/v2/llmobs", json=[{"spans": [_big_span(eid, "s1")]}])
        post_metrics(api, eid, [metric("s1", "m", "score", 1)])
        (kept,) = api.events(eid)["spans"]
        assert kept["span_id"] == "s1"
        assert kept["eval_metrics"][0]["score_value"] == 1


def _user_namespaces() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"this machine refuses unprivileged user namespaces: {probe.stderr.strip()}"
    return None


NO_TMPFS = _user_namespaces()
needs_tmpfs = pytest.mark.skipif(NO_TMPFS is not None, reason=f"no tiny tmpfs: {NO_TMPFS}")


def _serve_on_tmpfs(mount: Path, size: str, *serve: str, fill: str = "") -> subprocess.Popen[str]:
    """`driftgate serve` with `mount` a fresh tmpfs of `size`, filled by the shell command
    `fill` first."""
    mount.mkdir()
    script = f'mount -t tmpfs -o size={size} tmpfs "$0" && {fill or "true"} && exec "$@"'
    return subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", script, str(mount), *DRIFTGATE, "serve", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


@needs_tmpfs
def test_a_commit_that_meets_a_real_full_disk_answers_507(tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    proc = _serve_on_tmpfs(mount, "512k", "--port", "0", "--db", str(mount / "s.db"))
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.communicate(timeout=20)
        api = Api(url)
        eid = _setup(api)
        # 600 KB of spans: SQLite keeps the pages in its cache until COMMIT, whose write to
        # the WAL then fails (ENOSPC) after SQLite has already rolled back.
        many = [_big_span(eid, "s1"), _big_span(eid, "s2")]
        _full_disk_refusal(api.http.post("/api/v2/llmobs", json=[{"spans": many}]))
        # What fits still goes in: the failed commit's WAL frames were never valid.
        api.ok("POST", "/api/v2/llmobs", json=[{"spans": [span(eid, "s3", "r1")]}])
        assert [s["span_id"] for s in api.events(eid)["spans"]] == ["s3"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@needs_tmpfs
def test_serve_started_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    proc = _serve_on_tmpfs(
        mount,
        "64k",
        "--port",
        "0",
        "--db",
        str(mount / "s.db"),
        fill='head -c 1M /dev/zero > "$0/fill" 2>/dev/null; true',
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("driftgate: error: cannot set up the store's database"), line
    assert "the disk is full" in line
