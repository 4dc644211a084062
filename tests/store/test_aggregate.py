"""aggregate_data: Datadog's multi-run rules (average of record averages, mode of record
modes) and our per-evaluator entries."""

from __future__ import annotations

from driftgate.store.aggregate import EvalRow, SummaryRow, aggregate

TOTALS = {"total_spans": 0}


def row(record: str, run: int, label: str, kind: str, value: object, **kw: object) -> EvalRow:
    return EvalRow(
        record=record,
        run=run,
        label=label,
        metric_type=kind,
        value=value,
        assessment=kw.get("assessment"),  # type: ignore[arg-type]
        has_error=bool(kw.get("has_error", False)),
    )


def custom(rows: list[EvalRow]) -> dict:
    return aggregate(TOTALS, rows, [])["evaluations"]["custom"]


def test_boolean_pass_rate_is_the_average_of_record_averages() -> None:
    # r1 passes 3 of 3 runs, r2 passes 0 of 1 (two runs missing): pooled would say 3/4.
    rows = [row("r1", i, "ok", "boolean", True) for i in (1, 2, 3)] + [
        row("r2", 1, "ok", "boolean", False)
    ]
    ok = custom(rows)["ok"]
    assert ok["pass_rate"] == 0.5
    assert (ok["true_count"], ok["false_count"], ok["count"], ok["record_count"]) == (3, 1, 4, 2)
    assert ok["runs"]["1"]["pass_rate"] == 0.5
    assert ok["runs"]["2"] == {
        "count": 1,
        "error_count": 0,
        "record_count": 1,
        "true_count": 1,
        "false_count": 0,
        "pass_rate": 1.0,
    }


def test_score_statistics_over_record_means() -> None:
    rows = [
        row("a", 1, "s", "score", 1.0),
        row("a", 2, "s", "score", 3.0),
        row("b", 1, "s", "score", 4.0),
        row("c", 1, "s", "score", 6.0),
    ]
    s = custom(rows)["s"]
    assert (s["mean"], s["median"], s["min"], s["max"]) == (4.0, 4.0, 2.0, 6.0)
    assert s["stdev"] == 2.0
    assert s["runs"]["2"]["stdev"] is None  # one value has no spread


def test_categorical_mode_of_record_modes_with_deterministic_ties() -> None:
    rows = [
        row("a", 1, "c", "categorical", "good"),
        row("a", 2, "c", "categorical", "good"),
        row("a", 3, "c", "categorical", "bad"),
        row("b", 1, "c", "categorical", "bad"),
        row("b", 2, "c", "categorical", "good"),  # b ties: the alphabetically first, "bad"
        row("c", 1, "c", "categorical", "good"),
    ]
    c = custom(rows)["c"]
    assert c["counts"] == {"bad": 2, "good": 4}
    assert c["mode"] == "good"  # record modes: good, bad, good
    two = custom(rows[3:5])["c"]
    assert two["mode"] == "bad"


def test_assessment_pass_rate_and_errors_of_another_type() -> None:
    rows = [
        row("a", 1, "j", "categorical", "correct", assessment="pass"),
        row("b", 1, "j", "categorical", "wrong", assessment="fail"),
        # ddtrace sends an evaluator that raised as a categorical metric with no value.
        row("c", 1, "e", "categorical", None, has_error=True),
        row("a", 1, "e", "boolean", True),
        row("b", 1, "e", "boolean", False),
    ]
    out = custom(rows)
    assert (out["j"]["pass_count"], out["j"]["fail_count"], out["j"]["assessment_pass_rate"]) == (
        1,
        1,
        0.5,
    )
    assert out["e"]["metric_type"] == "boolean"
    assert out["e"]["error_count"] == 1
    assert out["e"]["pass_rate"] == 0.5


def test_values_of_the_wrong_type_are_not_counted() -> None:
    rows = [
        row("a", 1, "s", "score", "high"),
        row("b", 1, "s", "score", 2),
        row("c", 1, "s", "score", True),
    ]
    s = custom(rows)["s"]
    assert s["count"] == 1
    assert s["mean"] == 2.0


def test_json_evaluators_are_counted() -> None:
    j = custom([row("a", 1, "shape", "json", {"n": 1}), row("b", 1, "shape", "json", {"n": 2})])[
        "shape"
    ]
    assert j == {
        "metric_type": "json",
        "count": 2,
        "error_count": 0,
        "record_count": 2,
        "runs": {"1": {"count": 2, "error_count": 0, "record_count": 2}},
    }


def test_summary_values_per_run() -> None:
    summaries = [
        SummaryRow(run=1, label="acc", metric_type="score", value=0.5, has_error=False),
        SummaryRow(run=2, label="acc", metric_type="score", value=0.7, has_error=False),
        SummaryRow(run=3, label="acc", metric_type="score", value=None, has_error=True),
        SummaryRow(run=1, label="verdict", metric_type="categorical", value="ok", has_error=False),
    ]
    out = aggregate(TOTALS, [], summaries)["evaluations"]
    assert out["custom"] is None
    acc = out["summary"]["acc"]
    assert acc["runs"] == {"1": 0.5, "2": 0.7}
    assert acc["error_count"] == 1
    assert round(acc["mean"], 6) == 0.6
    assert out["summary"]["verdict"]["mode"] == "ok"


def test_nothing_recorded() -> None:
    assert aggregate({"total_spans": 0}, [], []) == {
        "total_spans": 0,
        "evaluations": {"custom": None, "summary": None},
    }
