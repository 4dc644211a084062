"""Time and peak memory of one comparison, after the data is fetched.

    uv run python benchmarks/compare_speed.py    # 50,000 records x 5 evaluators x 3 runs
    uv run python benchmarks/compare_speed.py --records 10000 50000 100000  # against size

Each pair comes from benchmarks/synthetic.py (five evaluators: a boolean, two scores, a
categorical with an assessment, a categorical without; plus errors, tokens, cost, latency).
CPU time is the process time of `compare()` alone (best and median of `--repeat`); peak
memory is what tracemalloc saw allocated during one `compare()` on top of the inputs,
beside the size of the inputs' arrays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from dataclasses import fields

import numpy as np

from driftgate.compare import compare
from driftgate.experiments.models import ExperimentData
from synthetic import Scenario, make_pair

MB = 1024 * 1024


def array_bytes(data: ExperimentData) -> int:
    """Bytes held by the numeric columns (the string lists come on top, in both cases)."""
    total = 0
    for f in fields(data):
        value = getattr(data, f.name)
        if isinstance(value, np.ndarray):
            total += value.nbytes
    for column in data.evaluators.values():
        total += column.value.nbytes + column.passed.nbytes + column.errored.nbytes
    return total


def measure(records: int, runs: int, repeat: int) -> dict[str, float]:
    baseline, candidate = make_pair(Scenario(records=records, runs=runs, full=True, seed=11))
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        report = compare(baseline, candidate)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    assert len(report.metrics) >= 5
    tracemalloc.start()
    compare(baseline, candidate)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "records": records,
        "rows": records * runs,
        "cpu_best": min(cpu),
        "cpu_median": statistics.median(cpu),
        "wall_median": statistics.median(wall),
        "peak_mb": peak / MB,
        "inputs_mb": (array_bytes(baseline) + array_bytes(candidate)) / MB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[50_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        "| records | rows per side | CPU s (best) | CPU s (median) | wall s (median) "
        "| peak MB during compare | input arrays MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for records in args.records:
        r = measure(records, args.runs, args.repeat)
        print(
            f"| {records:,} | {int(r['rows']):,} | {r['cpu_best']:.3f} | {r['cpu_median']:.3f} "
            f"| {r['wall_median']:.3f} | {r['peak_mb']:.1f} | {r['inputs_mb']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
