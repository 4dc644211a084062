"""The pooled baseline (compare/pooled.py) against a known truth: K base-branch runs of the
same system, a candidate, and optionally a change on the base branch inside the history.

    nice -n 19 uv run python benchmarks/simulate_history.py      # docs/statistics.md's tables
    nice -n 19 uv run python benchmarks/simulate_history.py --reps 40 --reps-null 40 \
        --reps-drift 40                                           # quicker, noisier

Same noise model as benchmarks/simulate_gate.py (benchmarks/synthetic.py: two gated
evaluators, `correct` pass/fail at a 10% flip rate and `quality` a 0..1 score, plus errors,
tokens, cost, latency), scored by the same rules (benchmarks/scoring.py). Each cell compares
the candidate with the pooled baseline of `history` base runs (history 1 is today's gate,
one baseline run). Drift: the newest `at` base runs and the candidate are a system whose
pass rate is `drift` points lower than the older base runs' (the harmful direction: pooling
the older runs raises the baseline). Writes benchmarks/results/simulate_history.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from driftgate.compare.pooled import PoolSettings, compare_pooled
from scoring import Outcome, Rates, Tally, margin, percent
from synthetic import Scenario, make_history

RESULTS = Path(__file__).parent / "results" / "simulate_history.json"


@dataclass(frozen=True, slots=True)
class Cell:
    scenario: Scenario
    history: int
    reps: int
    metric: str | None
    drift: float = 0.0
    score_drift: float = 0.0
    at: int = 0
    settings: PoolSettings = field(default_factory=PoolSettings)


@dataclass(frozen=True, slots=True)
class Result:
    fail: float
    alarm: float
    caught: float
    naive: tuple[float, ...]
    cut: float  # the history was cut at a change point

    @classmethod
    def of(cls, rates: Rates, cut: float) -> Result:
        return cls(rates.fail, rates.alarm, rates.caught, rates.naive, cut)


def run_cell(cell: Cell) -> Result:
    tally = Tally(cell.metric)
    cuts = 0
    for rep in range(cell.reps):
        scenario = replace(cell.scenario, seed=cell.scenario.seed + rep)
        history, candidate = make_history(
            scenario,
            cell.history,
            drift=cell.drift,
            score_drift=cell.score_drift,
            drift_at=cell.at,
        )
        report = compare_pooled(history, candidate, settings=cell.settings)
        tally.add(Outcome.of_report(report))
        cuts += report.history is not None and bool(report.history.change_point)
    return Result.of(tally.rates(), cuts / cell.reps)


TRADE = (
    PoolSettings(confirm=False),
    PoolSettings(confirm=False, harm_alpha=0.3),
    PoolSettings(confirm_flagged=False),
    PoolSettings(),
    PoolSettings(harm_alpha=0.3),
    PoolSettings(confirm_adjusted=True),
)


def cells(reps_null: int, reps: int, reps_drift: int) -> dict[str, list[Cell]]:
    base = Scenario(seed=2_000_000)
    null = [
        Cell(replace(base, records=n, runs=r), 5, reps_null, None)
        for n, r in (
            (100, 1),
            (100, 3),
            (100, 5),
            (400, 1),
            (400, 3),
            (400, 5),
            (1000, 1),
            (1000, 3),
            (2000, 1),
        )
        # More records and runs make the slowest cells (6 experiments each), where the
        # one-run gate already fails at most 0.4% of the time (simulate_gate.py).
    ]
    goals = [
        Cell(replace(base, records=400, runs=r, pass_drop=d), k, reps, "correct")
        for d, r in ((0.05, 1), (0.03, 3), (0.03, 1), (0.05, 3))
        for k in (1, 3, 5)
    ]
    power_sizes = [
        Cell(replace(base, records=n, runs=r, pass_drop=0.05), k, reps, "correct")
        for n in (100, 1000)
        for r in (1, 3)
        for k in (1, 5)
    ]
    drift = [
        Cell(replace(base, records=n, runs=r), 5, reps_drift, None, d, 0.0, at)
        for n, r, d, at in (
            (400, 1, 0.01, 1),
            (400, 1, 0.02, 1),
            (400, 1, 0.03, 1),
            (400, 1, 0.05, 1),
            (400, 1, 0.10, 1),
            (400, 1, 0.03, 2),
            (400, 3, 0.02, 1),
            (100, 1, 0.05, 1),
            (100, 1, 0.10, 1),
            (1000, 1, 0.02, 1),
        )
    ]
    model = [
        # A different model for the older runs: the pass rate and the score both moved.
        Cell(replace(base, records=400, runs=1), 5, reps_drift, None, d, d, 1)
        for d in (0.02, 0.05)
    ]
    drift_power = [
        Cell(replace(base, records=400, runs=1, pass_drop=0.05), 5, reps, "correct", d, 0.0, 1)
        for d in (0.02, 0.05, 0.10)
    ]
    # What the confirmation against the newest base run, and a lenient cut in the harmful
    # direction, trade: power without drift against false alarms with a drift that only
    # the newest base run shows (the hardest case).
    trade = []
    for settings in TRADE:
        s = replace(base, records=400, runs=1)
        trade.append(
            (
                Cell(replace(s, pass_drop=0.05), 5, reps, "correct", settings=settings),
                Cell(s, 5, reps_drift, None, 0.03, 0.0, 1, settings=settings),
                Cell(s, 5, reps_drift, None, 0.02, 0.0, 1, settings=settings),
                Cell(s, 5, reps_drift, None, 0.02, 0.02, 1, settings=settings),
            )
        )
    return {
        "null": null,
        "goals": goals,
        "power_sizes": power_sizes,
        "drift": drift,
        "model": model,
        "drift_power": drift_power,
        "trade_power": [t[0] for t in trade],
        "trade_fa3": [t[1] for t in trade],
        "trade_fa2": [t[2] for t in trade],
        "trade_fa2_both": [t[3] for t in trade],
    }


def tables(results: dict[str, list[tuple[Cell, Result]]], args: argparse.Namespace) -> list[str]:
    if "null" not in results:
        return trade_table(results) if "trade_power" in results else []
    return main_tables(results, args) + trade_table(results)


def main_tables(
    results: dict[str, list[tuple[Cell, Result]]], args: argparse.Namespace
) -> list[str]:
    out = [
        f"No change, 5 base-branch runs of history ({args.reps_null} experiments per row; a "
        f"5% rate is measured to {margin(args.reps_null)}): share of experiments failing the "
        "gate.",
        "",
        "| records | runs | driftgate fails | fails or warns | naive 2-pt rule fails |",
        "|---:|---:|---:|---:|---:|",
    ]
    for cell, r in results["null"]:
        s = cell.scenario
        out.append(
            f"| {s.records} | {s.runs} | {percent(r.fail)} | {percent(r.alarm)} "
            f"| {percent(r.naive[0])} |"
        )
    out += [
        "",
        f"A true drop in the pass rate of `correct`, 400 records ({args.reps} experiments per "
        "row): share caught, by the number of base-branch runs pooled (1 is today's gate).",
        "",
        "| drop | runs | 1 base run | 3 base runs | 5 base runs |",
        "|---:|---:|---:|---:|---:|",
    ]
    rows: dict[tuple[float, int], dict[int, float]] = {}
    for cell, r in results["goals"]:
        rows.setdefault((cell.scenario.pass_drop, cell.scenario.runs), {})[cell.history] = r.caught
    for (drop, runs), by_k in rows.items():
        out.append(
            f"| {drop * 100:.0f} pts | {runs} | "
            + " | ".join(percent(by_k[k]) for k in (1, 3, 5))
            + " |"
        )
    out += [
        "",
        f"A 5-point drop at other sizes ({args.reps} experiments per row).",
        "",
        "| records | runs | 1 base run | 5 base runs |",
        "|---:|---:|---:|---:|",
    ]
    sizes: dict[tuple[int, int], dict[int, float]] = {}
    for cell, r in results["power_sizes"]:
        sizes.setdefault((cell.scenario.records, cell.scenario.runs), {})[cell.history] = r.caught
    for (n, runs), by_k in sizes.items():
        out.append(f"| {n} | {runs} | {percent(by_k[1])} | {percent(by_k[5])} |")
    out += [
        "",
        f"No change in the candidate, but the base branch changed inside the 5-run window "
        f"({args.reps_drift} experiments per row; a 5% rate is measured to "
        f"{margin(args.reps_drift)}): the newest `at` base runs and the candidate pass "
        "`drift` points less often than the older base runs. Share failing the gate, and "
        "share where the history was cut at a change point.",
        "",
        "| records | runs | drift | at | driftgate fails | history cut |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, r in [*results["drift"], *results["model"]]:
        s = cell.scenario
        what = f"{cell.drift * 100:.0f} pts" + (" (+score)" if cell.score_drift else "")
        out.append(
            f"| {s.records} | {s.runs} | {what} | {cell.at} | {percent(r.fail)} "
            f"| {percent(r.cut)} |"
        )
    out += [
        "",
        "A 5-point drop in the candidate after a change on the base branch (400 records, one "
        "run, the newest base run changed): share caught.",
        "",
        "| base-branch drift | caught | history cut |",
        "|---:|---:|---:|",
    ]
    for cell, r in results["drift_power"]:
        out.append(f"| {cell.drift * 100:.0f} pts | {percent(r.caught)} | {percent(r.cut)} |")
    return out


def trade_table(results: dict[str, list[tuple[Cell, Result]]]) -> list[str]:
    out = [
        "",
        "What the confirmation against the newest base run (`confirm`) and a lenient cut in "
        "the harmful direction (`harm_alpha`) trade: power without drift against false "
        "alarms with a drift only the newest base run shows (400 records, one run, 5 base "
        "runs; the first row is the pooled test alone).",
        "",
        "| confirm | harm_alpha | catches a 5-pt drop (no drift) | fails, 2-pt drift "
        "| fails, 3-pt drift | fails, 2-pt drift of pass rate and score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (cell, power), (_, fa3), (_, fa2), (_, both) in zip(
        results["trade_power"],
        results["trade_fa3"],
        results["trade_fa2"],
        results["trade_fa2_both"],
        strict=True,
    ):
        harm = cell.settings.harm_alpha
        label = "off" if harm <= 0 else f"{harm:g}"
        confirm = "no"
        if cell.settings.confirm_adjusted:
            confirm = "adjusted (Holm over all)"
        elif cell.settings.confirm:
            confirm = "Holm over the flagged" if cell.settings.confirm_flagged else "each at alpha"
        out.append(
            f"| {confirm} | {label} | {percent(power.caught)} | {percent(fa2.fail)} "
            f"| {percent(fa3.fail)} | {percent(both.fail)} |"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="repetitions per drop scenario")
    parser.add_argument("--reps-null", type=int, default=2000, help="per no-change scenario")
    parser.add_argument("--reps-drift", type=int, default=1000, help="per drift scenario")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--only", nargs="*", default=None, help="groups to run (debugging)")
    args = parser.parse_args()
    started = time.perf_counter()
    groups = cells(args.reps_null, args.reps, args.reps_drift)
    if args.only:
        groups = {k: v for k, v in groups.items() if k in args.only}
    flat = [(name, cell) for name, group in groups.items() for cell in group]
    # The slowest cells first, so that the pool does not wait on one at the end.
    order = sorted(
        range(len(flat)),
        key=lambda i: -flat[i][1].reps * flat[i][1].scenario.records * flat[i][1].scenario.runs,
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        done = list(pool.map(run_cell, [flat[i][1] for i in order], chunksize=1))
    rates: list[Result | None] = [None] * len(flat)
    for i, rate in zip(order, done, strict=True):
        rates[i] = rate
    results: dict[str, list[tuple[Cell, Result]]] = {name: [] for name in groups}
    for (name, cell), rate in zip(flat, rates, strict=True):
        assert rate is not None
        results[name].append((cell, rate))
    text = "\n".join(tables(results, args))
    print(text)
    elapsed = time.perf_counter() - started
    path = RESULTS if not args.only else RESULTS.with_name("simulate_history_partial.json")
    path.write_text(
        json.dumps(
            {
                "command": "uv run python benchmarks/simulate_history.py "
                f"--reps {args.reps} --reps-null {args.reps_null} --reps-drift {args.reps_drift}"
                + (f" --only {' '.join(args.only)}" if args.only else ""),
                "seconds": round(elapsed),
                "groups": {
                    name: [
                        {
                            "records": c.scenario.records,
                            "runs": c.scenario.runs,
                            "pass_drop": c.scenario.pass_drop,
                            "history": c.history,
                            "drift": c.drift,
                            "score_drift": c.score_drift,
                            "at": c.at,
                            "settings": asdict(c.settings),
                            "reps": c.reps,
                            "rates": asdict(r),
                        }
                        for c, r in rows
                    ]
                    for name, rows in results.items()
                },
                "tables": text,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\n({elapsed:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
