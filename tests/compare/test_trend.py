"""The trend: each gated metric over the base branch's recent runs and the candidate
(compare/trend.py), and `compare_pooled` filling it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from driftgate.compare import compare_pooled, no_baseline_report
from driftgate.compare.pooled import PoolSettings
from driftgate.compare.trend import trend
from driftgate.config import parse_config
from driftgate.experiments.models import ExperimentData
from tests.compare.builders import column, experiment


def run(
    run_id: str,
    correct: list[list[int]],
    *,
    quality: float = 0.5,
    errors: int = 0,
    commit: str | None = None,
    extra: bool = True,
) -> ExperimentData:
    """Records x iterations of 0/1 for `correct`; a score of `quality` plus the record's
    index / 100; the first `errors` rows raised."""
    records, iterations = len(correct), len(correct[0])
    rows = [(r, i) for i in range(iterations) for r in range(records)]
    evaluators = [
        column("correct", "boolean", [correct[r][i] for r, i in rows]),
        column("quality", "score", [quality + r / 100 for r, _ in rows]),
    ]
    if extra:
        evaluators += [
            column("raw", "json", [None] * len(rows)),
            column("topic", "categorical", categories=["a", "b"] * (len(rows) // 2)),
        ]
    return experiment(
        [f"r{r}" for r, _ in rows],
        runs=[i + 1 for _, i in rows],
        evaluators=evaluators,
        task_error=[n < errors for n in range(len(rows))],
        info={
            "id": run_id,
            "created_at": f"2025-03-0{len(run_id)}T00:00:00Z",
            "metadata": {"commit": commit or run_id * 8},
        },
    )


def passes(n: int, of: int = 10, iterations: int = 1) -> list[list[int]]:
    return [[1 if r < n else 0] * iterations for r in range(of)]


def test_each_gated_metric_oldest_first_with_the_candidate() -> None:
    history = [run("c", passes(8)), run("b", passes(6), quality=0.6), run("a", passes(7))]
    candidate = run("cand", passes(5), errors=2)
    trends = trend(history, candidate)
    # json and categories without an assessment are not gated: no trend.
    assert [t.metric for t in trends] == ["correct", "quality", "errors"]
    correct, quality, errors = trends
    assert correct.kind == "rate" and correct.direction == "higher"
    assert (correct.unit, quality.unit, errors.unit) == ("pass rate", "score", "error rate")
    assert [p.run_id for p in correct.points] == ["a", "b", "c"]
    assert [p.value for p in correct.points] == [0.7, 0.6, 0.8]
    assert [p.records for p in correct.points] == [10, 10, 10]
    assert correct.points[0].commit == "a" * 8
    assert correct.points[0].created_at == "2025-03-01T00:00:00Z"
    assert correct.candidate.run_id == "cand" and correct.candidate.value == 0.5
    assert quality.kind == "mean" and quality.direction == "higher"
    assert quality.points[1].value == pytest.approx(0.6 + 0.045)
    assert errors.kind == "rate" and errors.direction == "lower"
    assert errors.candidate.value == pytest.approx(0.2)
    assert [p.value for p in errors.points] == [0.0, 0.0, 0.0]
    assert not any(p.pooled for t in trends for p in t.points)


def test_a_point_is_the_figure_the_report_shows_for_that_run() -> None:
    """Each point is its run measured on its own: the value a report without a baseline
    shows for it (iterations averaged per record, then records)."""
    rng = np.random.default_rng(3)
    history = [
        run(f"b{j}", rng.integers(0, 2, (30, 3)).tolist(), quality=float(rng.random()))
        for j in range(4)
    ]
    candidate = run("cand", rng.integers(0, 2, (30, 3)).tolist(), errors=7)
    trends = trend(history, candidate)
    assert len(trends) == 3
    for t in trends:
        for point, data in [
            *zip(t.points, reversed(history), strict=True),
            (t.candidate, candidate),
        ]:
            shown = next(m for m in no_baseline_report(data).metrics if m.name == t.metric)
            assert shown.candidate is not None
            assert math.isclose(point.value, shown.candidate, rel_tol=1e-12)
            assert point.records == shown.n_candidate


def test_what_the_configuration_gates_is_what_has_a_trend() -> None:
    config = parse_config(
        {
            "metrics": {"quality": {"level": "off"}, "topic": {"pass_values": ["a"]}},
            "budgets": {"errors": {"level": "off"}},
        },
        source="driftgate.toml",
    )
    history = [run("b", passes(6)), run("a", passes(7))]
    trends = trend(history, run("cand", passes(5)), config)
    assert [t.metric for t in trends] == ["correct", "topic"]
    topic = trends[1]
    assert topic.kind == "rate"
    assert [p.value for p in topic.points] == [0.5, 0.5]


def test_runs_without_the_metric_or_records_are_no_points() -> None:
    empty = experiment([], info={"id": "empty"})
    full = run("x", passes(9), extra=False)
    no_quality = replace(full, evaluators={"correct": full.evaluators["correct"]})
    retyped = replace(
        full,
        info=full.info.model_copy(update={"id": "y"}),
        evaluators={**full.evaluators, "quality": column("quality", "boolean", [1] * 10)},
    )
    history = [run("d", passes(8)), empty, no_quality, retyped, run("a", passes(7))]
    trends = {t.metric: t for t in trend(history, run("cand", passes(5)))}
    assert [p.run_id for p in trends["correct"].points] == ["a", "y", "x", "d"]
    # Another type is another scale: not a point of the score's trend.
    assert [p.run_id for p in trends["quality"].points] == ["a", "d"]


def test_at_most_max_points_of_the_newest_runs_and_two_at_least() -> None:
    history = [run(f"{'b' * (j + 1)}", passes(j % 10)) for j in range(12)]
    candidate = run("cand", passes(5))
    trends = trend(history, candidate, max_points=4)
    assert [p.run_id for p in trends[0].points] == ["bbbb", "bbb", "bb", "b"]
    assert len(trend(history, candidate)[0].points) == 10
    assert trend(history[:1], candidate) == []
    assert trend(history, experiment([], info={"id": "none"})) == []


def test_compare_pooled_draws_the_trend_over_a_longer_history() -> None:
    rng = np.random.default_rng(5)
    history = [
        run(f"b{j}", (rng.random((60, 1)) < 0.8).astype(int).tolist(), quality=0.5)
        for j in range(8)
    ]
    candidate = run("cand", (rng.random((60, 1)) < 0.8).astype(int).tolist())
    report = compare_pooled(history, candidate, settings=PoolSettings(max_runs=3))
    assert report.history is not None and report.history.considered == 3
    correct = next(t for t in report.trend if t.metric == "correct")
    assert [p.run_id for p in correct.points] == [f"b{j}" for j in reversed(range(8))]
    pooled = {run.id for run in report.history.runs if run.pooled}
    assert {p.run_id for p in correct.points if p.pooled} == pooled
    assert pooled <= {"b0", "b1", "b2"}
    assert len(compare_pooled(history, candidate, trend_points=5).trend[0].points) == 5
    # One base run to pool: the report is still the one-run report, with the longer trend.
    one = compare_pooled(history, candidate, settings=PoolSettings(max_runs=1))
    assert one.history is None
    assert len(one.trend[0].points) == 8
    assert not any(p.pooled for p in one.trend[0].points)


def test_the_trend_is_in_the_json_report() -> None:
    history = [run("b", passes(6)), run("a", passes(7))]
    report = compare_pooled(history, run("cand", passes(5)))
    data = report.model_dump(mode="json")
    assert data["trend"][0]["metric"] == "correct"
    assert data["trend"][0]["points"][0] == {
        "run_id": "a",
        "commit": "a" * 8,
        "created_at": "2025-03-01T00:00:00Z",
        "value": 0.7,
        "records": 10,
        "pooled": True,
    }
    assert type(report).model_validate_json(report.model_dump_json()) == report
