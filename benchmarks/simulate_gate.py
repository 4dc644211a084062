"""How often driftgate's defaults cry wolf, and how often they catch a real drop.

Generates baseline/candidate pairs with a known truth (benchmarks/synthetic.py), compares
each with the default gate configuration, and prints Markdown tables beside the naive rule
other tools use: fail when a metric's mean drops by more than a fixed 2 or 5 points.

    uv run python benchmarks/simulate_gate.py            # the tables in docs/statistics.md
    uv run python benchmarks/simulate_gate.py --reps 100 # quicker, noisier

Each simulated experiment has two gated evaluators ("correct", a pass/fail; "quality", a
0..1 score), plus task errors, tokens, cost and latency, so the false-alarm figures include
every metric that could fail the gate. Scoring and tables are in benchmarks/scoring.py,
shared with benchmarks/simulate_store.py (the same pairs through the store and the command).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from driftgate.compare import compare
from driftgate.config import GateConfig, MetricRule
from scoring import Cell, Outcome, Rates, Tally, main_tables, percent
from synthetic import Scenario, make_pair

SIZES = (100, 400, 1000, 2000)
RUNS = (1, 3, 5)
DROPS = (0.02, 0.05, 0.10)


def run_cell(cell: Cell) -> Rates:
    tally = Tally(cell.metric)
    for rep in range(cell.reps):
        scenario = replace(cell.scenario, seed=cell.scenario.seed + rep)
        baseline, candidate = make_pair(scenario)
        tally.add(Outcome.of_report(compare(baseline, candidate, cell.config)))
    return tally.rates()


def cells(reps_null: int, reps_drop: int) -> dict[str, list[Cell]]:
    base = Scenario(seed=1_000_000)
    null = [Cell(replace(base, records=n, runs=r), reps_null, None) for n in SIZES for r in RUNS]
    flips = [
        Cell(replace(base, records=400, runs=1, flip_rate=f, pass_drop=0.05), reps_drop, "correct")
        for f in (0.05, 0.10, 0.20)
    ]
    flips_null = [
        Cell(replace(base, records=400, runs=1, flip_rate=f), reps_null, None)
        for f in (0.05, 0.10, 0.20)
    ]
    # One gated evaluator: the score is reported but not gated. Four: the five-evaluator shape
    # (a boolean, two scores, a categorical with an assessment; the other categorical is
    # never gated).
    only_correct = GateConfig(metrics=(MetricRule(pattern="quality", level="off"),))
    family = []
    for label, full, config in (
        ("1", False, only_correct),
        ("2", False, GateConfig()),
        ("4", True, GateConfig()),
    ):
        for runs in (1, 3):
            s = replace(base, records=400, runs=runs, full=full)
            family.append(
                (
                    label,
                    Cell(s, reps_null, None, config),
                    Cell(replace(s, pass_drop=0.05), reps_drop, "correct", config),
                )
            )
    return {
        "family_null": [null for _, null, _ in family],
        "family_drop": [drop for _, _, drop in family],
        "null": null,
        "pass": [
            Cell(replace(base, records=n, runs=r, pass_drop=d), reps_drop, "correct")
            for d in DROPS
            for n in SIZES
            for r in RUNS
        ],
        "score": [
            Cell(replace(base, records=n, runs=r, score_drop=d), reps_drop, "quality")
            for d in DROPS
            for n in SIZES
            for r in RUNS
        ],
        "flips": flips,
        "flips_null": flips_null,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="repetitions per drop scenario")
    parser.add_argument(
        "--reps-null", type=int, default=2000, help="repetitions per no-change scenario"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    args = parser.parse_args()
    started = time.perf_counter()
    groups = cells(args.reps_null, args.reps)
    flat = [(name, cell) for name, group in groups.items() for cell in group]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rates = list(pool.map(run_cell, [cell for _, cell in flat], chunksize=1))
    results: dict[str, list[tuple[Cell, Rates]]] = {name: [] for name in groups}
    for (name, cell), rate in zip(flat, rates, strict=True):
        results[name].append((cell, rate))

    out = [
        *main_tables(results["null"], results["pass"], results["score"], args.reps, args.reps_null),
        "",
        "Sensitivity to how often records flip between identical runs (400 records, 1 run): "
        "false alarms with no change, and a 5-point pass-rate drop caught.",
        "",
        "| flip rate | driftgate fails (no change) | driftgate catches 5-pt drop "
        "| naive 2-pt fails (no change) | naive 2-pt catches |",
        "|---:|---:|---:|---:|---:|",
    ]
    for (cell, null), (_, drop) in zip(results["flips_null"], results["flips"], strict=True):
        out.append(
            f"| {cell.scenario.flip_rate:.0%} | {percent(null.fail)} | {percent(drop.caught)} "
            f"| {percent(null.naive[0])} | {percent(drop.naive[0])} |"
        )
    out += [
        "",
        "The price of testing several evaluators at once (400 records, flip rate 10%): Holm "
        "keeps the false alarms of the whole experiment under 5%, so each evaluator's test is "
        "stricter.",
        "",
        "| gated evaluators | runs | driftgate fails (no change) | catches a 5-pt drop |",
        "|---:|---:|---:|---:|",
    ]
    gated = ("1", "1", "2", "2", "4", "4")
    for label, (cell, null), (_, drop) in zip(
        gated, results["family_null"], results["family_drop"], strict=True
    ):
        out.append(
            f"| {label} | {cell.scenario.runs} | {percent(null.fail)} | {percent(drop.caught)} |"
        )
    print("\n".join(out))
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
