"""What a baseline pooled from 5 base-branch runs adds to a gate: the reads and the comparison.

Builds a store of six finished experiments of one dataset, N records x 3 runs x 3 evaluators
each (`events_read.build_many`: the spans and evaluations as ddtrace 4.16 sends them), serves
it on a thread of this process as `driftgate run --local` does (`BackgroundStore`), and times
what the session does after finding the candidate, as it does it (`session._Gate._gate_one`:
the baseline runs read on a pool of two threads while this thread reads the candidate, then
the comparison):

- one run: the candidate and one baseline run, `compare`;
- pooled: the candidate and five baseline runs, `compare_pooled` (default settings).

The difference is what history costs the gate. The first of each is timed on a store just
started on the file (its connections' caches empty, as in a gate); then the median of
`--repeat` more.

    uv run python benchmarks/pooled_read.py                  # 1,000 records
    uv run python benchmarks/pooled_read.py --records 200 --repeat 3 --no-save
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from driftgate.compare import compare, compare_pooled
from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.experiments.models import ExperimentData
from driftgate.store.server import BackgroundStore
from events_read import RUNS, build_many

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "pooled_read.json"
TARGET_S = 0.3
BASE_RUNS = 5


def _gate(client: ExperimentsClient, candidate: str, bases: list[str]) -> float:
    """The session's reads and comparison for `candidate` against `bases` (newest first)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        reads = [pool.submit(client.experiment_data, eid) for eid in bases]
        cand = client.experiment_data(candidate)
        history: list[ExperimentData] = [read.result() for read in reads]
    report = compare_pooled(history, cand) if len(history) > 1 else compare(history[0], cand)
    assert report.verdict == "pass", report.verdict
    if len(history) > 1:
        assert report.history is not None
        assert report.history.pooled == len(history)
    return time.perf_counter() - start


def measure(records: int, repeat: int, workdir: Path) -> dict[str, Any]:
    db = workdir / "pooled.db"
    candidate, *bases = build_many(db, records, 1 + BASE_RUNS)

    def timed(run: Callable[[ExperimentsClient], float]) -> tuple[float, float]:
        with BackgroundStore(str(db)) as store:
            client = ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url}))
            try:
                first = run(client)
                again = statistics.median(run(client) for _ in range(repeat))
            finally:
                client.close()
        return first, again

    # Imports and numpy's first use are the gate's start-up, not a read: done beforehand.
    timed(lambda c: _gate(c, candidate, bases[:2]))
    one_first, one = timed(lambda c: _gate(c, candidate, bases[:1]))
    pooled_first, pooled = timed(lambda c: _gate(c, candidate, bases))
    return {
        "records": records,
        "runs": RUNS,
        "base_runs": BASE_RUNS,
        "one_run_first_s": round(one_first, 3),
        "pooled_first_s": round(pooled_first, 3),
        "added_first_s": round(pooled_first - one_first, 3),
        "one_run_s": round(one, 3),
        "pooled_s": round(pooled, 3),
        "added_s": round(pooled - one, 3),
        "target_added_s": TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.records, args.repeat, Path(tmp))
    print(json.dumps(result, indent=2))
    if not args.no_save:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
