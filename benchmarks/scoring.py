"""Scoring gate verdicts against a known truth, and the Markdown tables of the simulations.

Shared by the in-memory simulation (benchmarks/simulate_gate.py) and the one that goes
through the embedded store and `driftgate compare` (benchmarks/simulate_store.py), so that
both count false alarms and detections by exactly the same rules. A comparison is scored
from its `Outcome`, which both a `Report` object and the JSON report of the command give.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftgate.compare.schema import Report
from driftgate.config import GateConfig
from synthetic import Scenario

NAIVE_THRESHOLDS = (0.02, 0.05)
GATED = ("correct", "quality")
DEFAULTS = GateConfig()


@dataclass(frozen=True, slots=True)
class Cell:
    """One row of a table: a scenario repeated `reps` times with consecutive seeds."""

    scenario: Scenario
    reps: int
    metric: str | None  # the metric that truly dropped, None for no change
    config: GateConfig = DEFAULTS


@dataclass(frozen=True, slots=True)
class Rates:
    fail: float  # driftgate: the experiment failed the gate (any metric)
    alarm: float  # driftgate: failed or warned
    caught: float  # driftgate: the dropped metric failed the gate
    naive: tuple[float, ...]  # per naive threshold: fired (on any metric / the dropped one)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What scoring needs from one comparison: the verdict, and each metric's gate and delta."""

    verdict: str
    gate: Mapping[str, str]
    delta: Mapping[str, float | None]

    @classmethod
    def of_report(cls, report: Report) -> Outcome:
        return cls(
            report.verdict,
            {m.name: m.gate for m in report.metrics},
            {m.name: m.delta for m in report.metrics},
        )

    @classmethod
    def of_json(cls, report: Mapping[str, Any]) -> Outcome:
        """From `driftgate compare --format json`."""
        metrics = report["metrics"]
        return cls(
            report["verdict"],
            {m["name"]: m["gate"] for m in metrics},
            {m["name"]: m["delta"] for m in metrics},
        )


@dataclass(slots=True)
class Tally:
    """Counts over the repetitions of one cell."""

    metric: str | None
    n: int = 0
    fails: int = 0
    alarms: int = 0
    caught: int = 0
    naive: list[int] = field(default_factory=lambda: [0] * len(NAIVE_THRESHOLDS))

    def add(self, outcome: Outcome) -> None:
        self.n += 1
        self.fails += outcome.verdict == "fail"
        self.alarms += outcome.verdict in ("fail", "warn")
        if self.metric is not None:
            self.caught += outcome.gate[self.metric] == "fail"
        # The naive rules other tools offer: a fixed threshold on the observed drop of the
        # mean, on every gated evaluator with no change, on the dropped one otherwise.
        watched = [self.metric] if self.metric is not None else list(GATED)
        drops = [-(outcome.delta[name] or 0.0) for name in watched]
        for i, threshold in enumerate(NAIVE_THRESHOLDS):
            self.naive[i] += any(drop > threshold for drop in drops)

    def rates(self) -> Rates:
        n = self.n
        return Rates(
            self.fails / n, self.alarms / n, self.caught / n, tuple(k / n for k in self.naive)
        )


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def margin(reps: int, rate: float = 0.05) -> str:
    """The 95% margin of error of a rate near `rate` measured over `reps` experiments."""
    return f"±{1.96 * math.sqrt(rate * (1 - rate) / reps) * 100:.1f} pts"


def null_table(results: Iterable[tuple[Cell, Rates]]) -> list[str]:
    lines = [
        "| records | runs | driftgate fails | driftgate fails or warns "
        "| naive 2-pt rule fails | naive 5-pt rule fails |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, r in results:
        s = cell.scenario
        lines.append(
            f"| {s.records} | {s.runs} | {percent(r.fail)} | {percent(r.alarm)} "
            f"| {percent(r.naive[0])} | {percent(r.naive[1])} |"
        )
    return lines


def drop_table(results: Iterable[tuple[Cell, Rates]]) -> list[str]:
    lines = [
        "| drop | records | runs | driftgate catches | naive 2-pt rule | naive 5-pt rule |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, r in results:
        s = cell.scenario
        drop = s.pass_drop or s.score_drop
        lines.append(
            f"| {drop * 100:.0f} pts | {s.records} | {s.runs} | {percent(r.caught)} "
            f"| {percent(r.naive[0])} | {percent(r.naive[1])} |"
        )
    return lines


def main_tables(
    null: Iterable[tuple[Cell, Rates]],
    pass_drops: Iterable[tuple[Cell, Rates]],
    score_drops: Iterable[tuple[Cell, Rates]],
    reps: int,
    reps_null: int,
) -> list[str]:
    """The three tables both simulations print: no change, pass-rate drops, score drops."""
    return [
        f"No change ({reps_null} experiments per row; a 5% rate is measured to "
        f"{margin(reps_null)}): share of experiments failing the gate.",
        "",
        *null_table(null),
        "",
        f"A true drop in the pass rate of `correct` ({reps} experiments per row): share "
        "caught (driftgate: `correct` fails the gate; naive: its observed drop exceeds the "
        "threshold).",
        "",
        *drop_table(pass_drops),
        "",
        f"A true drop in the mean of the score `quality` (0..1; a point is 0.01; {reps} "
        "experiments per row).",
        "",
        *drop_table(score_drops),
    ]
