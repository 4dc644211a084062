"""Recording into the embedded store through the real ddtrace SDK, against the floor.

For N records x 3 evaluators x 3 runs, times the same unmodified ddtrace script aimed at
(a) `driftgate serve` on a SQLite file and (b) a server on the same HTTP stack that answers
and keeps nothing. Then times a list call and reading all events back from the store, and
checks that every span and evaluation arrived.

    uv run python benchmarks/store_ingest.py --records 10000

The reads are timed parsed as the gate's client parses them (orjson).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from driftgate.store.clients import client_env

HERE = Path(__file__).parent


def _server(kind: str, db: Path) -> tuple[subprocess.Popen[str], str]:
    if kind == "store":
        argv = [sys.executable, "-m", "driftgate.cli", "serve", "--port", "0", "--db", str(db)]
    else:
        argv = [sys.executable, str(HERE / "discard_server.py")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _record(url: str, records: int) -> tuple[float, str, int]:
    env = client_env(url, {k: v for k, v in os.environ.items() if not k.startswith("DD_")})
    # ddtrace buffers at most 1,000 spans between two writer flushes (1 s by default) and
    # drops the rest; an instant task produces far more than that. Flushing every 0.1 s makes
    # the SDK send everything, so that the store's work is measured in full (both targets).
    env["_DD_LLMOBS_WRITER_INTERVAL"] = "0.05"
    env["DD_TRACE_LOGGING_RATE"] = "0"  # log every drop, so that they can be counted
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / "scripts" / "ingest_experiment.py"), str(records)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    found = re.search(r"experiments/([0-9a-f-]{36})", proc.stdout)
    assert found, proc.stdout + proc.stderr
    # What the SDK itself dropped never reached any server; count it to check the rest.
    dropped = proc.stderr.count("dropping event")
    return elapsed, found.group(1), dropped


def _reads(url: str, experiment_id: str, records: int, dropped: int) -> dict[str, float]:
    http = httpx.Client(base_url=url, timeout=600)
    started = time.perf_counter()
    listed = http.get("/api/v2/llm-obs/v1/experiments", params={"filter[id]": experiment_id})
    list_s = time.perf_counter() - started
    agg = listed.json()["data"][0]["attributes"]["aggregate_data"]

    # Parsed as the gate's client parses them (orjson), once.
    started = time.perf_counter()
    body = orjson.loads(
        http.get(
            f"/api/unstable/llm-obs/v1/experiments/{experiment_id}/events",
            params={"include[eval_metrics]": "true"},
        ).content
    )
    full_s = time.perf_counter() - started
    spans = body["data"]["attributes"]["spans"]

    started = time.perf_counter()
    paged, cursor = 0, None
    while True:
        params = {"page[limit]": "5000", **({"page[cursor]": cursor} if cursor else {})}
        url = f"/api/v2/llm-obs/v3/experiments/{experiment_id}/events"
        page = orjson.loads(http.get(url, params=params).content)
        paged += len(page["data"]["attributes"]["spans"])
        cursor = page["meta"].get("after")
        if not cursor:
            break
    paged_s = time.perf_counter() - started

    evals = sum(len(s["eval_metrics"]) for s in spans)
    # Nothing lost: every span the SDK sent (a task and an LLM span per record and run), and
    # every evaluation (3 per record and run, sent apart from the spans).
    assert agg["total_spans"] == 6 * records - dropped, (agg["total_spans"], dropped)
    assert len(spans) == paged, (len(spans), paged)
    stored_evals = agg["evaluations"]["custom"]
    assert all(v["count"] == 3 * records for v in stored_evals.values()), stored_evals
    return {
        "list_s": list_s,
        "events_full_s": full_s,
        "events_paged_s": paged_s,
        "task_spans_read": len(spans),
        "evals_read": evals,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-save", action="store_true", help="do not write store_ingest.json")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"discard": [], "store": []}
    reads: list[dict[str, float]] = []
    drops: dict[str, list[int]] = {"discard": [], "store": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for kind in ("discard", "store"):
                proc, url = _server(kind, Path(tmp) / f"store-{i}.db")
                try:
                    elapsed, experiment_id, dropped = _record(url, args.records)
                    times[kind].append(elapsed)
                    drops[kind].append(dropped)
                    print(f"run {i + 1} {kind:<8} {elapsed:7.1f} s, {dropped} dropped by the SDK")
                    if kind == "store":
                        reads.append(_reads(url, experiment_id, args.records, dropped))
                        size = (Path(tmp) / f"store-{i}.db").stat().st_size
                finally:
                    proc.terminate()
                    proc.wait()
    floor = statistics.median(times["discard"])
    store = statistics.median(times["store"])
    result = {
        "records": args.records,
        "evaluators": 3,
        "runs": 3,
        "floor_s": round(floor, 2),
        "store_s": round(store, 2),
        "ratio": round(store / floor, 3),
        "list_s": round(statistics.median(r["list_s"] for r in reads), 3),
        "events_full_s": round(statistics.median(r["events_full_s"] for r in reads), 2),
        "events_paged_s": round(statistics.median(r["events_paged_s"] for r in reads), 2),
        "db_mb": round(size / 1e6, 1),
        "sdk_dropped": drops,
    }
    print(json.dumps(result, indent=2))
    if not args.no_save:
        out = HERE / "results" / "store_ingest.json"
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
