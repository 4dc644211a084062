"""Reading an experiment's task spans with their evaluations from the embedded store.

Builds a store of one experiment, N records x 3 runs (a task span and an LLM child span per
record and run, shaped as ddtrace 4.16 sends them) x 3 evaluators (boolean, score,
categorical), serves it with `driftgate serve` in its own process, and times the read the
gate makes (`ExperimentsClient.experiment_data`: the paged v3 events, 5,000 task spans a
page), in three ways:

- the store: from the first request to the last byte of the last page, bytes only (what the
  store costs: its SQL, building the answer, writing it);
- the client: the same pages answered from memory (an httpx mock transport), so only the
  client's own work is timed (parsing, columns, the dataset's record count);
- end to end: the client against the store, as the gate reads.

The store's first read of the experiment (what a gate makes of a fresh candidate: a new
server, its connections' caches empty) is timed apart from the repeated ones. Then, as a gate
reads a candidate and its baseline at once (`--gate-records` x 3 runs each) from the store
served in its own process (`BackgroundStore`, on a thread), both reads are timed one after
the other and at once, the store's side alone (bytes) and end to end.

    uv run python benchmarks/events_read.py                 # 10,000 records: 30,000 spans
    uv run python benchmarks/events_read.py --records 1000 --repeat 3 --no-save

The fixture is written straight through the store's own modules (no SDK run), so it takes
seconds; ddtrace's real traffic into the store is benchmarks/store_ingest.py's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.store.datasets import NewRecord
from driftgate.store.db import Store
from driftgate.store.server import BackgroundStore

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "events_read.json"
TARGET_S = 1.0
RUNS = 3
PAGE = 5000
EVENTS = "/api/v2/llm-obs/v3/experiments/{id}/events"


def _tags(experiment_id: str, run: int, record_id: str | None) -> list[str]:
    """A task span's tags as ddtrace 4.16 sends them (tests/../reference traffic)."""
    tags = [
        "agent_service:bench",
        "dataset_name:bench",
        "ddtrace.version:4.16.0",
        "env:",
        "error:0",
        f"experiment_id:{experiment_id}",
        "experiment_name:read-bench",
        "git.branch:main",
        "git.commit.sha:0123456789abcdef0123456789abcdef01234567",
        "language:python",
        "ml_app:bench",
        "project_name:bench",
        f"run_id:00000000-0000-4000-8000-{run:012d}",
        f"run_iteration:{run}",
        "service:bench",
        "source:integration",
        "version:",
    ]
    if record_id is not None:
        tags.append(f"dataset_record_id:{record_id}")
    return tags


def build(db: Path, records: int) -> str:
    """A store file holding one finished experiment of `records` x RUNS; its id."""
    return build_many(db, records, 1)[0]


def build_many(db: Path, records: int, experiments: int) -> list[str]:
    """A store file holding `experiments` finished experiments of `records` x RUNS on one
    dataset; their ids."""
    store = Store(str(db))
    try:
        project = store.projects.create_or_get("bench")
        dataset = store.datasets.create(project.id, "bench", "")
        acks = store.datasets.batch_update(
            project.id,
            dataset.id,
            [
                NewRecord(input={"n": i}, expected_output=str(2 * i), metadata={"i": i})
                for i in range(records)
            ],
            [],
            [],
        )
        return [
            _experiment(store, project.id, dataset.id, acks, records) for _ in range(experiments)
        ]
    finally:
        store.close()


def _experiment(store: Store, project_id: str, dataset_id: str, acks: Any, records: int) -> str:
    """One finished experiment of `records` x RUNS (a task and an LLM span per record and
    run, 3 evaluations); its id."""
    experiment = store.experiments.create(
        project_id=project_id,
        dataset_id=dataset_id,
        name="read-bench",
        ensure_unique=True,
        config={"model_name": "bench"},
        metadata={"tags": ["git.branch:main"]},
        run_count=RUNS,
    )
    eid = experiment.id
    start = 1_795_628_747_949_721_912
    for run in range(1, RUNS + 1):
        for first in range(0, records, 1000):
            spans: list[dict[str, Any]] = []
            metrics: list[dict[str, Any]] = []
            for i in range(first, min(first + 1000, records)):
                span_id = str(10**18 + run * 10**7 + i)
                trace_id = f"{run:016x}{i:016x}"
                start_ns = start + (run * records + i) * 1_000_000
                spans.append(
                    {
                        "_dd": {"scope": "experiments", "span_id": span_id},
                        "config": {"model_name": "bench"},
                        "duration": 4_398_765 + i,
                        "meta": {
                            "expected_output": str(2 * i),
                            "input": {"n": i},
                            "metadata": {"i": i},
                            "output": str(2 * i if i % 7 else i),
                            "span": {"kind": "experiment"},
                        },
                        "metrics": {},
                        "name": "task",
                        "parent_id": "undefined",
                        "span_id": span_id,
                        "start_ns": start_ns,
                        "status": "ok",
                        "tags": _tags(eid, run, acks[i].id),
                        "trace_id": trace_id,
                    }
                )
                spans.append(
                    {
                        "duration": 264_247,
                        "meta": {
                            "input": {"messages": [{"content": str(i), "role": ""}]},
                            "model_name": "bench",
                            "model_provider": "none",
                            "output": {"messages": [{"content": str(2 * i), "role": ""}]},
                            "span": {"kind": "llm"},
                        },
                        "metrics": {"input_tokens": 8, "output_tokens": 2, "total_tokens": 10},
                        "name": "llm",
                        "parent_id": span_id,
                        "span_id": str(2 * 10**18 + run * 10**7 + i),
                        "start_ns": start_ns + 1000,
                        "status": "ok",
                        "tags": _tags(eid, run, None),
                        "trace_id": trace_id,
                    }
                )
                common = {
                    "metric_source": "custom",
                    "span_id": span_id,
                    "trace_id": trace_id,
                    "timestamp_ms": start_ns // 1_000_000,
                    "error": None,
                    "tags": [],
                    "experiment_id": eid,
                    "status": "OK",
                }
                metrics += [
                    {
                        **common,
                        "metric_type": "boolean",
                        "label": "correct",
                        "boolean_value": i % 7 != 0,
                    },
                    {
                        **common,
                        "metric_type": "score",
                        "label": "closeness",
                        "score_value": 1.0 / (1 + i % 7),
                    },
                    {
                        **common,
                        "metric_type": "categorical",
                        "label": "size",
                        "categorical_value": "long" if i > 99 else "short",
                        "reasoning": "ok",
                        "assessment": "pass",
                    },
                ]
            store.events.add_spans(spans)
            request_tags = [
                f"run_iteration:{run}",
                f"run_id:00000000-0000-4000-8000-{run:012d}",
            ]
            store.events.add_metrics(eid, metrics, request_tags)
    store.experiments.patch(eid, {"status": "completed"})
    return eid


def _cpu(pid: int) -> float:
    """CPU seconds (user and system) the process `pid` has used so far: Linux's /proc; NaN
    elsewhere. Less sensitive than wall time to other work on the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(db: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "driftgate.cli", "serve", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _pages(http: httpx.Client, eid: str) -> list[tuple[str, bytes]]:
    """Every events page as the client asks for it: (the query string, the body's bytes)."""
    pages, cursor = [], None
    while True:
        params = {"page[limit]": str(PAGE), **({"page[cursor]": cursor} if cursor else {})}
        resp = http.get(EVENTS.format(id=eid), params=params)
        resp.raise_for_status()
        pages.append((resp.request.url.query.decode(), resp.content))
        cursor = json.loads(resp.content)["meta"].get("after")
        if not cursor:
            return pages


def _raw_read(http: httpx.Client, eid: str) -> float:
    """The store's side: every page's bytes, nothing parsed but the cursor."""
    started = time.perf_counter()
    cursor = None
    while True:
        params = {"page[limit]": str(PAGE), **({"page[cursor]": cursor} if cursor else {})}
        body = http.get(EVENTS.format(id=eid), params=params).content
        # The cursor sits in the last few bytes ({"data":...,"meta":{"after":"..."}}).
        tail = body[-200:]
        cursor = (
            tail.split(b'"after":"', 1)[1].split(b'"', 1)[0].decode()
            if b'"after"' in tail
            else None
        )
        if not cursor:
            return time.perf_counter() - started


def _mock_client(url: str, http: httpx.Client) -> ExperimentsClient:
    """A client whose every answer comes from memory: what the store answered once."""
    recorded: dict[tuple[str, str], bytes] = {}

    def record(request: httpx.Request) -> httpx.Response:
        key = (request.url.path, request.url.query.decode())
        if key not in recorded:
            recorded[key] = http.get(str(request.url)).content
        return httpx.Response(
            200, content=recorded[key], headers={"content-type": "application/json"}
        )

    backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": url})
    mock = httpx.Client(transport=httpx.MockTransport(record))
    return ExperimentsClient(backend, http=mock)


def measure(records: int, repeat: int, workdir: Path) -> dict[str, Any]:
    db = workdir / "store.db"
    started = time.perf_counter()
    eid = build(db, records)
    built_s = time.perf_counter() - started
    proc, url = _serve(db)
    try:
        http = httpx.Client(base_url=url, timeout=600)
        # The first read of the experiment, from a store just started on the file.
        cpu = _cpu(proc.pid)
        first_s = _raw_read(http, eid)
        first_cpu = _cpu(proc.pid) - cpu
        pages = _pages(http, eid)
        mock = _mock_client(url, http)
        real = ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": url}))
        data = real.experiment_data(eid)  # also warms the mock's recording
        data = mock.experiment_data(eid)
        assert data.rows == RUNS * records, data.rows
        assert data.dataset_records == records, data.dataset_records
        # Every evaluation read back, on its row.
        assert sorted(data.evaluators) == ["closeness", "correct", "size"], data.evaluators
        for col in data.evaluators.values():
            if col.category is not None:
                assert None not in col.category, col.label
            else:
                assert not math.isnan(col.value.sum()), col.label
        store_s, client_s, both_s = [], [], []
        store_cpu, client_cpu = [], []
        for _ in range(repeat):
            cpu = _cpu(proc.pid)
            store_s.append(_raw_read(http, eid))
            store_cpu.append(_cpu(proc.pid) - cpu)
            t, cpu = time.perf_counter(), time.process_time()
            mock.experiment_data(eid)
            client_s.append(time.perf_counter() - t)
            client_cpu.append(time.process_time() - cpu)
            t = time.perf_counter()
            real.experiment_data(eid)
            both_s.append(time.perf_counter() - t)
        real.close()
        mock.close()
        http.close()
    finally:
        proc.terminate()
        proc.wait()
    return {
        "records": records,
        "runs": RUNS,
        "evaluators": 3,
        "task_spans": RUNS * records,
        "evaluations": 3 * RUNS * records,
        "pages": len(pages),
        "answer_mb": round(sum(len(b) for _, b in pages) / 1e6, 1),
        "repeat": repeat,
        "store_first_s": round(first_s, 3),
        "store_first_cpu_s": round(first_cpu, 3),
        "store_s": round(statistics.median(store_s), 3),
        "store_cpu_s": round(statistics.median(store_cpu), 3),
        "client_s": round(statistics.median(client_s), 3),
        "client_cpu_s": round(statistics.median(client_cpu), 3),
        "end_to_end_s": round(statistics.median(both_s), 3),
        "end_to_end_runs_s": [round(s, 3) for s in both_s],
        "target_s": TARGET_S,
        "fixture_s": round(built_s, 1),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _at_once(read: Callable[[str], object], first: str, second: str) -> float:
    """Seconds to read both experiments at once, as the gate does (the baseline on a thread
    of its own, the candidate on the caller's)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(read, second)
        read(first)
        other.result()
    return time.perf_counter() - started


def _one_after_other(read: Callable[[str], object], first: str, second: str) -> float:
    started = time.perf_counter()
    read(first)
    read(second)
    return time.perf_counter() - started


def measure_gate(records: int, repeat: int, workdir: Path) -> dict[str, Any]:
    """A candidate and its baseline of `records` x RUNS each, read from the store served on
    a thread of this process, as `driftgate run --local` reads them. The first reads (the
    store's bytes, then end to end) are each made of a store just started on the file, the
    client's modules imported beforehand (their import is the gate's start-up, not a read)."""
    import driftgate.experiments.events  # noqa: F401

    db = workdir / "gate.db"
    candidate, baseline = build_many(db, records, 2)
    backend = {"DD_LLMOBS_OVERRIDE_ORIGIN": ""}
    with BackgroundStore(str(db)) as first, httpx.Client(base_url=first.url, timeout=600) as h:
        first_store_s = _at_once(lambda eid: _raw_read(h, eid), candidate, baseline)
    with BackgroundStore(str(db)) as store:
        http = httpx.Client(base_url=store.url, timeout=600)
        backend["DD_LLMOBS_OVERRIDE_ORIGIN"] = store.url
        client = ExperimentsClient(backend_from_env(backend))

        def raw(eid: str) -> float:
            return _raw_read(http, eid)

        def data(eid: str) -> object:
            got = client.experiment_data(eid)
            assert got.rows == RUNS * records, got.rows
            return got

        first_s = _at_once(data, candidate, baseline)
        times: dict[str, list[float]] = {
            k: [] for k in ("store_serial", "store_at_once", "serial", "at_once")
        }
        for _ in range(repeat):
            times["store_serial"].append(_one_after_other(raw, candidate, baseline))
            times["store_at_once"].append(_at_once(raw, candidate, baseline))
            times["serial"].append(_one_after_other(data, candidate, baseline))
            times["at_once"].append(_at_once(data, candidate, baseline))
        client.close()
        http.close()
    return {
        "task_spans_each": RUNS * records,
        "first_store_at_once_s": round(first_store_s, 3),
        "first_at_once_s": round(first_s, 3),
        **{f"{k}_s": round(statistics.median(v), 3) for k, v in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--gate-records",
        type=int,
        default=1000,
        help="records of the candidate and of the baseline read at once (0: skip)",
    )
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftgate-read-") as tmp:
        result = measure(args.records, args.repeat, Path(tmp))
        if args.gate_records:
            result["gate"] = measure_gate(args.gate_records, args.repeat, Path(tmp))
    verdict = "under" if result["end_to_end_s"] < TARGET_S else "OVER"
    print(
        f"\nreading {result['task_spans']:,} task spans with their {result['evaluations']:,} "
        f"evaluations ({result['pages']} pages, {result['answer_mb']} MB), median of "
        f"{result['repeat']} (load average {result['load_average'][0]} on {result['cpus']} "
        "CPUs):\n"
    )
    print("| | wall seconds | CPU seconds |\n|---|---|---|")
    print(
        f"| the store's first read (a new server; bytes only) | {result['store_first_s']:.3f} | "
        f"{result['store_first_cpu_s']:.3f} |"
    )
    print(
        f"| the store (answering every page, bytes only) | {result['store_s']:.3f} | "
        f"{result['store_cpu_s']:.3f} |"
    )
    print(
        f"| the client (parsing, columns; answers from memory) | {result['client_s']:.3f} | "
        f"{result['client_cpu_s']:.3f} |"
    )
    print(
        f"| **end to end** (`experiment_data`) | **{result['end_to_end_s']:.3f}** ({verdict} the "
        f"{TARGET_S} s target) | |"
    )
    gate = result.get("gate")
    if gate:
        print(
            f"\na candidate and its baseline ({gate['task_spans_each']:,} task spans each) read "
            "from the store served on a thread of this process, wall seconds:\n"
        )
        print("| | one after the other | at once |\n|---|---|---|")
        print(
            f"| the store (bytes only) | {gate['store_serial_s']:.3f} | "
            f"{gate['store_at_once_s']:.3f} |"
        )
        print(
            f"| end to end (`experiment_data`) | {gate['serial_s']:.3f} | {gate['at_once_s']:.3f} |"
        )
        print(
            f"| the store, the first read (a new server) | | {gate['first_store_at_once_s']:.3f} |"
        )
        print(f"| end to end, the first read (a new server) | | {gate['first_at_once_s']:.3f} |")
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
