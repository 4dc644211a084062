"""False alarms and detection through the whole stack: the embedded store and `driftgate compare`.

The same pairs as the in-memory simulation (benchmarks/synthetic.py, same seeds), but each
is written into a real embedded store over HTTP the way ddtrace writes an experiment, and
judged by the real command, `driftgate compare --candidate ID --baseline ID --format json`
(in-process: the client, HTTP, the store's reads and the events parsing all run). Every
pair is also compared in memory, and the two reports must agree exactly on every metric;
a disagreement is a bug, and is listed with the smallest scenario that shows it.

    uv run python benchmarks/simulate_store.py             # the tables in docs/statistics.md
    uv run python benchmarks/simulate_store.py --reps 10 --reps-null 10   # a quick check

What is written per pair, as ddtrace 4.x sends it: a project; a dataset with the records
(`batch_update` with client-side ids, deduplicated); per side an experiment (`run_count`,
tags), PATCH `running`; per run the task spans through the span intake (2,000 events to a
request, tags `experiment_id`, `run_id`, `run_iteration`, `dataset_record_id`,
`dataset_record_canonical_id`), the evaluations of those spans in one request, and one
summary evaluation; then PATCH `completed`. Tokens and cost ride on the task span, or with
`--llm-spans` on an LLM span under it (the store sums them over the trace: the same figures
for twice the spans). Scoring and tables are shared with the in-memory simulation
(benchmarks/scoring.py); the results go to benchmarks/results/simulate_store.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from driftgate import cli
from driftgate.compare import compare
from driftgate.experiments.models import ExperimentData, SummaryEvaluation
from driftgate.store.server import BackgroundStore
from scoring import Cell, Outcome, Rates, Tally, main_tables
from synthetic import Scenario, make_pair

HERE = Path(__file__).resolve().parent
SIZES = (100, 400, 2000)
RUNS = (1, 3, 5)
DROPS = (0.02, 0.05, 0.10)
BATCH = 2000  # spans (or spans' evaluations) per request: ddtrace's writers send many
SUMMARY = "accuracy"  # a summary evaluator: each run's pass rate of `correct`
UNSTABLE = "/api/unstable/llm-obs/v1"
V2 = "/api/v2/llm-obs/v1"
# Every figure of a metric must match exactly: the contract's (the README's JSON report) and
# the additions that come from the same data.
CHECKED = (
    *("baseline", "candidate", "delta", "ci_low", "ci_high", "p_value", "n", "verdict", "gate"),
    *("p_value_unadjusted", "mde", "min_effect", "relative_delta", "n_baseline", "n_candidate"),
    *("method", "paired", "distribution", "notes"),
)
RECORDS_CHECKED = ("compared", "regressed", "improved", "regressed_count", "improved_count")


# -- what the store is given ----------------------------------------------------------------


def with_summary(data: ExperimentData) -> ExperimentData:
    """The pair as a ddtrace script with a summary evaluator records it: each run's pass rate
    of `correct`, as a score."""
    correct = data.evaluators["correct"].value
    summaries = [
        SummaryEvaluation(
            SUMMARY, int(run), "score", float(correct[data.run_iteration == run].mean())
        )
        for run in np.unique(data.run_iteration)
    ]
    return replace(data, summaries=summaries)


def as_written(data: ExperimentData) -> ExperimentData:
    """The in-memory twin of what the store holds: a span's duration is whole nanoseconds."""
    return replace(data, duration_ns=np.round(data.duration_ns))


class StoreWriter:
    """Writes `ExperimentData` into a store over HTTP, request by request as ddtrace does."""

    def __init__(self, url: str, *, llm_spans: bool = False) -> None:
        self.llm_spans = llm_spans
        self.http = httpx.Client(
            base_url=url,
            headers={"DD-API-KEY": "sim", "DD-APPLICATION-KEY": "sim"},
            timeout=300,
        )
        self.project_id = str(
            self._post(f"{UNSTABLE}/projects", _body("projects", name="driftgate-sim"))["data"][
                "id"
            ]
        )
        self._datasets: dict[int, tuple[str, str, int, dict[str, str]]] = {}

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, payload: Any) -> Any:
        resp = self.http.request(
            method,
            path,
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def _post(self, path: str, payload: Any) -> Any:
        return self._send("POST", path, payload)

    def dataset(self, data: ExperimentData) -> tuple[str, str, int, dict[str, str]]:
        """The dataset of these records (one per size, as a team keeps one): its id, name,
        version, and the canonical id of each record."""
        keys = list(dict.fromkeys(data.record_key))
        if len(keys) in self._datasets:
            return self._datasets[len(keys)]
        name = f"sim-{len(keys)}-records"
        created = self._post(f"{UNSTABLE}/{self.project_id}/datasets", _body("datasets", name=name))
        dataset_id = str(created["data"]["id"])
        first = {key: row for row, key in reversed(list(enumerate(data.record_key)))}
        records = [
            {
                "id": key,
                "input": data.input_text[first[key]],
                "expected_output": data.expected_text[first[key]],
                "metadata": {},
            }
            for key in keys
        ]
        acks = self._post(
            f"{V2}/{self.project_id}/datasets/{dataset_id}/batch_update",
            {
                "data": {
                    "type": "datasets",
                    "id": dataset_id,
                    "attributes": {
                        "insert_records": records,
                        "update_records": [],
                        "delete_records": [],
                        "deduplicate": True,
                        "create_new_version": True,
                    },
                }
            },
        )["data"]
        version = int(acks[0]["attributes"]["version"])
        canonical = {a["id"]: a["attributes"]["canonical_id"] for a in acks}
        self._datasets[len(keys)] = (dataset_id, name, version, canonical)
        return self._datasets[len(keys)]

    def experiment(self, data: ExperimentData, name: str) -> str:
        dataset_id, dataset_name, version, canonical = self.dataset(data)
        runs = int(data.run_iteration.max()) if data.rows else 1
        created = self._post(
            f"{UNSTABLE}/experiments",
            _body(
                "experiments",
                name=name,
                description="",
                dataset_id=dataset_id,
                project_id=self.project_id,
                dataset_version=version,
                config={},
                metadata={"tags": ["git.branch:sim"]},
                ensure_unique=True,
                run_count=runs,
            ),
        )["data"]
        eid, run_name = str(created["id"]), str(created["attributes"]["name"])
        self._send("PATCH", f"{UNSTABLE}/experiments/{eid}", _body("experiments", status="running"))
        base_tags = {
            "ml_app": "driftgate-sim",
            "experiment_id": eid,
            "dataset_id": dataset_id,
            "dataset_name": dataset_name,
            "project_name": "driftgate-sim",
            "project_id": self.project_id,
            "experiment_name": run_name,
        }
        ids = _Ids()
        for run in range(1, runs + 1):
            tags = {**base_tags, "run_id": uuid.uuid4().hex, "run_iteration": str(run)}
            rows = np.flatnonzero(data.run_iteration == run)
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH].tolist()
                spans = _span_events(data, chunk, ids, tags, canonical, llm_spans=self.llm_spans)
                self._post("/api/v2/llmobs", spans)
                metrics = [m for row in chunk for m in _evaluations(data, row, ids, eid)]
                self._post(f"{UNSTABLE}/experiments/{eid}/events", _eval_body(metrics, tags))
            summaries = [
                _summary_metric(s, eid, _finished_ms(data, rows))
                for s in data.summaries
                if s.run == run
            ]
            if summaries:
                self._post(f"{UNSTABLE}/experiments/{eid}/events", _eval_body(summaries, tags))
        self._send(
            "PATCH", f"{UNSTABLE}/experiments/{eid}", _body("experiments", status="completed")
        )
        return eid


def _body(kind: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attributes}}


def _tag_list(tags: Mapping[str, str]) -> list[str]:
    return [f"{k}:{v}" for k, v in tags.items()]


T0_NS = 1_767_225_600_000_000_000  # 2026-01-01: spans start in row order, so reads keep it
ROW_NS = 1_000_000


class _Ids:
    """Span and trace ids of one experiment's rows, random per experiment as ddtrace's are."""

    def __init__(self) -> None:
        self.span_base = int.from_bytes(os.urandom(7), "big") << 4
        self.trace_high = os.urandom(8).hex()

    def task(self, row: int) -> str:
        return str(self.span_base + 2 * row)

    def llm(self, row: int) -> str:
        return str(self.span_base + 2 * row + 1)

    def trace(self, row: int) -> str:
        return f"{self.trace_high}{row:016x}"


def _ended_ms(data: ExperimentData, row: int) -> int:
    return (T0_NS + row * ROW_NS + round(float(data.duration_ns[row]))) // 1_000_000


def _finished_ms(data: ExperimentData, rows: np.ndarray) -> int:
    return _ended_ms(data, int(rows[-1])) if len(rows) else T0_NS // 1_000_000


def _span_events(
    data: ExperimentData,
    rows: Sequence[int],
    ids: _Ids,
    tags: Mapping[str, str],
    canonical: Mapping[str, str],
    *,
    llm_spans: bool,
) -> list[dict[str, Any]]:
    """The span intake's body: one event per span. A record's token usage and cost are on an
    LLM span under its task span with `llm_spans` (the store sums them over the trace), else
    on the task span itself: the same figures reach the gate, for half the spans."""
    common = _tag_list(tags)
    events = []
    for r in rows:
        key = data.record_key[r]
        span_id, trace_id = ids.task(r), ids.trace(r)
        start = T0_NS + r * ROW_NS
        duration = round(float(data.duration_ns[r]))
        error = bool(data.task_error[r])
        usage = {
            "input_tokens": float(data.input_tokens[r]),
            "output_tokens": float(data.output_tokens[r]),
            "total_tokens": float(data.total_tokens[r]),
            "estimated_total_cost": float(data.cost[r]),
        }
        meta: dict[str, Any] = {
            "span": {"kind": "experiment"},
            "input": data.input_text[r],
            "output": None if error else data.output_text[r],
            "expected_output": data.expected_text[r],
            "metadata": {},
        }
        if error:
            meta["error"] = {"type": "TimeoutError", "message": data.error_message[r] or ""}
        spans = [
            {
                "span_id": span_id,
                "trace_id": trace_id,
                "parent_id": "undefined",
                "name": "task",
                "start_ns": start,
                "duration": duration,
                "status": "error" if error else "ok",
                "meta": meta,
                "metrics": {} if llm_spans else usage,
                "tags": [
                    *common,
                    f"dataset_record_id:{key}",
                    f"dataset_record_canonical_id:{canonical.get(key, key)}",
                ],
                "_dd": {"scope": "experiments", "span_id": span_id, "trace_id": trace_id},
            }
        ]
        if llm_spans:
            spans.append(
                {
                    "span_id": ids.llm(r),
                    "trace_id": trace_id,
                    "parent_id": span_id,
                    "name": "llm.chat",
                    "start_ns": start + 1_000,
                    "duration": max(0, duration - 2_000),
                    "status": "error" if error else "ok",
                    "meta": {"span": {"kind": "llm"}, "model_name": "sim-model"},
                    "metrics": usage,
                    "tags": common,
                    "_dd": {"scope": "experiments", "span_id": ids.llm(r), "trace_id": trace_id},
                }
            )
        events += [
            {"_dd.stage": "raw", "_dd.scope": "experiments", "event_type": "span", "spans": [span]}
            for span in spans
        ]
    return events


def _evaluations(data: ExperimentData, r: int, ids: _Ids, eid: str) -> Iterator[dict[str, Any]]:
    span_id, trace_id, stamp = ids.task(r), ids.trace(r), _ended_ms(data, r)
    for label, column in data.evaluators.items():
        kind = column.metric_type
        metric: dict[str, Any] = {
            "metric_source": "custom",
            "span_id": span_id,
            "trace_id": trace_id,
            "timestamp_ms": stamp,
            "metric_type": kind,
            "label": label,
            "error": None,
            "tags": [],
            "experiment_id": eid,
        }
        if column.errored[r]:
            metric[f"{kind}_value"] = None
            metric["error"] = {"message": "evaluator failed", "type": "RuntimeError"}
        elif kind == "boolean" and not math.isnan(column.value[r]):
            metric["boolean_value"] = bool(column.value[r])
        elif kind == "score" and not math.isnan(column.value[r]):
            metric["score_value"] = float(column.value[r])
        elif kind == "categorical" and column.category and column.category[r] is not None:
            metric["categorical_value"] = column.category[r]
            if not math.isnan(column.passed[r]):
                metric["assessment"] = "pass" if column.passed[r] else "fail"
        else:
            continue  # the evaluator gave nothing for this row
        yield metric


def _summary_metric(s: SummaryEvaluation, eid: str, stamp_ms: int) -> dict[str, Any]:
    return {
        "metric_source": "summary",
        "span_id": "",
        "trace_id": "",
        "timestamp_ms": stamp_ms,
        "metric_type": s.metric_type,
        "label": s.label,
        f"{s.metric_type}_value": s.value,
        "error": None,
        "tags": [],
        "experiment_id": eid,
    }


def _eval_body(metrics: list[dict[str, Any]], tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "data": {
            "type": "experiments",
            "attributes": {"scope": "experiments", "metrics": metrics, "tags": _tag_list(tags)},
        }
    }


# -- one pair through the command -----------------------------------------------------------


def run_compare(candidate_id: str, baseline_id: str) -> tuple[int, dict[str, Any]]:
    """`driftgate compare ... --format json`, in this process; its exit code and report."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["compare", "--candidate", candidate_id, "--baseline", baseline_id, "--format", "json"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    if code not in (0, 1):
        raise RuntimeError(f"driftgate compare exited {code}: {err.getvalue().strip()}")
    return code, json.loads(out.getvalue())


def mismatches(store: Mapping[str, Any], memory: Mapping[str, Any]) -> list[str]:
    """How the store path's report differs from the in-memory one, figure by figure."""
    found = []
    if store["verdict"] != memory["verdict"]:
        found.append(f"verdict: store {store['verdict']!r}, memory {memory['verdict']!r}")
    by_name = {m["name"]: m for m in memory["metrics"]}
    names = [m["name"] for m in store["metrics"]]
    if names != list(by_name):
        found.append(f"metrics: store {names}, memory {list(by_name)}")
    for m in store["metrics"]:
        twin = by_name.get(m["name"])
        if twin is None:
            continue
        for key in CHECKED:
            if m[key] != twin[key]:
                found.append(f"{m['name']}.{key}: store {m[key]!r}, memory {twin[key]!r}")
    for key in RECORDS_CHECKED:
        if store["records"][key] != memory["records"][key]:
            found.append(
                f"records.{key}: store {store['records'][key]!r}, memory {memory['records'][key]!r}"
            )
    return found


def _store(db: str) -> BackgroundStore:
    return BackgroundStore(db)


@dataclass(frozen=True, slots=True)
class Job:
    cell: int
    scenario: Scenario  # the cell's scenario; seeds `first` .. `first + count - 1`
    first: int
    count: int
    llm_spans: bool = False


@dataclass(frozen=True, slots=True)
class PairResult:
    seed: int
    store: Outcome
    memory: Outcome
    exit_code: int
    problems: tuple[str, ...]


def run_job(job: Job) -> tuple[int, list[PairResult], float]:
    """Some repetitions of one cell, on a store of their own (a fresh SQLite file: the store
    is append-only, and a long run would otherwise grow it by gigabytes)."""
    started = time.perf_counter()
    results = []
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="driftgate-sim-") as tmp:
        os.chdir(tmp)  # no driftgate.toml or pyproject.toml here: the default gate
        with _store(str(Path(tmp) / "store.db")) as store:
            os.environ["DD_LLMOBS_OVERRIDE_ORIGIN"] = store.url
            writer = StoreWriter(store.url, llm_spans=job.llm_spans)
            try:
                for seed in range(job.first, job.first + job.count):
                    scenario = replace(job.scenario, seed=seed)
                    baseline, candidate = (with_summary(d) for d in make_pair(scenario))
                    base_id = writer.experiment(baseline, f"sim-baseline-{seed}")
                    cand_id = writer.experiment(candidate, f"sim-candidate-{seed}")
                    code, report = run_compare(cand_id, base_id)
                    memory = compare(as_written(baseline), as_written(candidate))
                    reference = json.loads(json.dumps(memory.model_dump(mode="json")))
                    problems = mismatches(report, reference)
                    expected_code = 1 if report["verdict"] == "fail" else 0
                    if code != expected_code:
                        problems.append(f"exit code {code} for verdict {report['verdict']!r}")
                    results.append(
                        PairResult(
                            seed,
                            Outcome.of_json(report),
                            Outcome.of_report(memory),
                            code,
                            tuple(problems),
                        )
                    )
            finally:
                writer.close()
                os.environ.pop("DD_LLMOBS_OVERRIDE_ORIGIN", None)
                os.chdir(home)
    return job.cell, results, time.perf_counter() - started


# -- the plan and the tables ----------------------------------------------------------------


def cells(reps_null: int, reps_drop: int) -> dict[str, list[Cell]]:
    """The scenarios: a subset of the in-memory simulation's, with its seeds (the same pairs).

    No change at 2,000 records with 3 or 5 runs is left out: it is half of the whole run's
    spans, and the in-memory simulation never saw a false alarm there. A 5-point drop over
    400 records with 3 runs is added: it is the issue's target. `shapes` are only checked
    against memory: five evaluators (categorical ones too), many task errors, few records."""
    base = Scenario(seed=1_000_000)
    null = [(n, r) for n in SIZES if n < 2000 for r in RUNS] + [(2000, 1)]
    drops = [(d, n, 1) for d in DROPS for n in SIZES]
    return {
        "null": [Cell(replace(base, records=n, runs=r), reps_null, None) for n, r in null],
        "pass": [
            Cell(replace(base, records=n, runs=r, pass_drop=d), reps_drop, "correct")
            for d, n, r in sorted([*drops, (0.05, 400, 3)])
        ],
        "score": [
            Cell(replace(base, records=n, runs=r, score_drop=d), reps_drop, "quality")
            for d, n, r in drops
        ],
        "shapes": [
            Cell(replace(shape, full=True), min(reps_drop, 20), None)
            for shape in (
                replace(base, records=400, runs=3),
                replace(base, records=100, pass_drop=0.10, score_drop=0.05),
                replace(base, records=30, runs=2, error_rate=0.3, flip_rate=0.3),
            )
        ],
    }


def jobs_for(flat: Sequence[Cell], rows_per_job: int, *, llm_spans: bool) -> list[Job]:
    """Each cell cut into jobs of about `rows_per_job` spans, biggest first (so that the
    workers finish together)."""
    jobs = []
    for i, cell in enumerate(flat):
        rows = cell.scenario.records * cell.scenario.runs * 2
        per_job = max(1, min(cell.reps, rows_per_job // rows))
        for first in range(0, cell.reps, per_job):
            count = min(per_job, cell.reps - first)
            jobs.append(Job(i, cell.scenario, cell.scenario.seed + first, count, llm_spans))
    return sorted(jobs, key=lambda j: -j.count * j.scenario.records * j.scenario.runs)


def _row(cell: Cell, store: Rates, memory: Rates) -> dict[str, Any]:
    s = cell.scenario
    return {
        "records": s.records,
        "runs": s.runs,
        "flip_rate": s.flip_rate,
        "pass_drop": s.pass_drop,
        "score_drop": s.score_drop,
        "metric": cell.metric,
        "reps": cell.reps,
        "seeds": [s.seed, s.seed + cell.reps - 1],
        "driftgate_fails": store.fail,
        "driftgate_fails_or_warns": store.alarm,
        "driftgate_catches": store.caught if cell.metric else None,
        "naive_2pt": store.naive[0],
        "naive_5pt": store.naive[1],
        "in_memory_same_pairs": {
            "driftgate_fails": memory.fail,
            "driftgate_fails_or_warns": memory.alarm,
            "driftgate_catches": memory.caught if cell.metric else None,
            "naive_2pt": memory.naive[0],
            "naive_5pt": memory.naive[1],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=100, help="repetitions per drop scenario")
    parser.add_argument(
        "--reps-null", type=int, default=200, help="repetitions per no-change scenario"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    parser.add_argument(
        "--llm-spans",
        action="store_true",
        help="put each record's tokens and cost on an LLM span under its task span, as an "
        "instrumented LLM call does (twice the spans, about half the speed)",
    )
    parser.add_argument(
        "--out",
        default=str(HERE / "results" / "simulate_store.json"),
        help="where the JSON results go (default: benchmarks/results/simulate_store.json)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    groups = cells(args.reps_null, args.reps)
    flat = [cell for group in groups.values() for cell in group]
    jobs = jobs_for(flat, rows_per_job=40_000, llm_spans=args.llm_spans)
    store_tally = [Tally(c.metric) for c in flat]
    memory_tally = [Tally(c.metric) for c in flat]
    problems: list[dict[str, Any]] = []
    pairs, total = 0, sum(c.reps for c in flat)
    print(
        f"{total} pairs in {len(flat)} scenarios, {len(jobs)} jobs on {args.workers} workers",
        file=sys.stderr,
        flush=True,
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            index, results, seconds = future.result()
            cell = flat[index]
            for r in results:
                store_tally[index].add(r.store)
                memory_tally[index].add(r.memory)
                if r.problems:
                    scenario = replace(cell.scenario, seed=r.seed)
                    problems.append(
                        {
                            "rows": scenario.records * scenario.runs,
                            "scenario": repr(scenario),
                            "problems": list(r.problems),
                        }
                    )
            pairs += len(results)
            s = cell.scenario
            print(
                f"[{time.perf_counter() - started:4.0f} s] job {done}/{len(jobs)}: "
                f"{len(results)} pairs of {s.records} records x {s.runs} runs in {seconds:.1f} s; "
                f"{pairs}/{total} pairs done, {len(problems)} disagreeing",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.perf_counter() - started
    rates = {
        id(c): (t.rates(), m.rates())
        for c, t, m in zip(flat, store_tally, memory_tally, strict=True)
    }

    def tabled(name: str) -> list[tuple[Cell, Rates]]:
        return [(c, rates[id(c)][0]) for c in groups[name]]

    tables = main_tables(tabled("null"), tabled("pass"), tabled("score"), args.reps, args.reps_null)
    # Identical figures on every pair make identical tables; this says so of the tables too.
    identical = all(store == memory for store, memory in rates.values())
    # The smallest disagreeing pair is the one to debug first.
    problems.sort(key=lambda p: p["rows"])
    summary = (
        f"{pairs} pairs written into the store and judged by `driftgate compare`, each also "
        f"compared in memory: {len(problems)} disagreed"
        + ("" if problems else " (every metric's figures identical)")
        + f"; tables {'identical' if identical else 'NOT identical'} to the in-memory ones on "
        f"the same pairs. {elapsed / 60:.1f} minutes with {args.workers} workers."
    )
    print("\n".join(tables))
    print("\n" + summary)
    command = (
        "uv run python benchmarks/simulate_store.py"
        + "".join(
            f" {flag} {value}"
            for flag, value, default in (
                ("--reps", args.reps, 100),
                ("--reps-null", args.reps_null, 200),
                ("--workers", args.workers, 2),
            )
            if value != default
        )
        + (" --llm-spans" if args.llm_spans else "")
    )
    out = {
        "command": command,
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "llm_spans": args.llm_spans,
        "pairs": pairs,
        "disagreeing_pairs": len(problems),
        "disagreements": problems[:50],
        "tables_identical_to_memory": identical,
        "null": [_row(c, *rates[id(c)]) for c in groups["null"]],
        "pass_drop": [_row(c, *rates[id(c)]) for c in groups["pass"]],
        "score_drop": [_row(c, *rates[id(c)]) for c in groups["score"]],
        "markdown": "\n".join(tables),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"results in {args.out}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
