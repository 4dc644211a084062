"""The JSON report keeps its contract (the README's "Exit codes and the JSON report"), and
renders as text."""

from __future__ import annotations

import json

from driftgate.compare import compare, error_report, no_baseline_report
from driftgate.compare.schema import Report
from tests.compare.builders import column, experiment, keys

TOP_LEVEL = {"verdict", "candidate", "baseline", "baseline_reason", "metrics", "records"}
EXPERIMENT = {"id", "name", "experiment", "commit", "url", "created_at"}
METRIC = {
    "name",
    "kind",
    "direction",
    "baseline",
    "candidate",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
    "verdict",
    "gate",
}
RECORDS = {"compared", "regressed", "improved", "flipped"}
FLIPPED = {"id", "input", "expected", "baseline_output", "candidate_output"}
KINDS = {"boolean", "score", "categorical", "summary", "errors", "tokens", "cost", "latency"}


def _full_report() -> Report:
    ids = keys(60)
    base = experiment(
        ids,
        evaluators=[
            column("correct", "boolean", [1] * 50 + [0] * 10),
            column("quality", "score", [0.8] * 60),
            column("topic", "categorical", categories=["a", "b"] * 30),
        ],
        tokens=[100.0] * 60,
        cost=[0.002] * 60,
        seconds=[1.0] * 60,
        info={
            "id": "b-1",
            "name": "qa-101",
            "experiment": "qa",
            "created_at": "2025-01-01T00:00:00Z",
            "metadata": {"tags": ["git.commit.sha:aaaa"]},
        },
    )
    cand = experiment(
        ids,
        evaluators=[
            column("correct", "boolean", [0] * 20 + [1] * 30 + [0] * 10),
            column("quality", "score", [0.7] * 60),
            column("topic", "categorical", categories=["a"] * 60),
        ],
        tokens=[100.0] * 60,
        cost=[0.002] * 60,
        seconds=[1.1] * 60,
        info={"id": "c-1", "name": "qa-102", "experiment": "qa", "metadata": {"commit": "bbbb"}},
    )
    return compare(
        base,
        cand,
        baseline_reason="merge-base run",
        baseline_url="https://app.example.test/llm/experiments/b-1",
        candidate_url="https://app.example.test/llm/experiments/c-1",
    )


def test_json_report_has_every_contract_field() -> None:
    data = json.loads(_full_report().model_dump_json())
    assert data.keys() >= TOP_LEVEL
    assert data["verdict"] == "fail"
    assert data["candidate"].keys() >= EXPERIMENT
    assert data["baseline"].keys() >= EXPERIMENT
    assert data["candidate"]["commit"] == "bbbb"
    assert data["baseline"]["commit"] == "aaaa"
    assert data["baseline"]["url"].endswith("/b-1")
    assert data["baseline"]["created_at"] == "2025-01-01T00:00:00Z"
    assert data["baseline_reason"] == "merge-base run"
    names = [m["name"] for m in data["metrics"]]
    assert {"correct", "quality", "topic", "errors", "tokens", "cost"} <= set(names)
    assert {"latency_p50", "latency_p95"} <= set(names)
    for m in data["metrics"]:
        assert m.keys() >= METRIC, m["name"]
        assert m["kind"] in KINDS
        assert m["direction"] in {"higher", "lower", "none"}
        assert m["verdict"] in {"regressed", "improved", "unchanged", "inconclusive"}
        assert m["gate"] in {"fail", "warn", "pass"}
        assert isinstance(m["n"], int)
    assert data["records"].keys() >= RECORDS
    assert data["records"]["compared"] == 60
    assert data["records"]["regressed"][:2] == ["r0", "r1"]
    assert data["records"]["flipped"][0].keys() >= FLIPPED


def test_pass_rates_are_fractions_and_p_values_are_null_without_a_test() -> None:
    data = json.loads(_full_report().model_dump_json())
    by_name = {m["name"]: m for m in data["metrics"]}
    assert by_name["correct"]["baseline"] == 50 / 60
    assert 0 <= by_name["correct"]["candidate"] <= 1
    assert by_name["latency_p95"]["p_value"] is None
    assert by_name["latency_p95"]["ci_low"] is None


def test_no_baseline_and_error_reports_keep_the_shape() -> None:
    cand = experiment(keys(2), evaluators=[column("c", "boolean", [1, 0])])
    for report in (no_baseline_report(cand), error_report("the backend answered 500")):
        data = json.loads(report.model_dump_json())
        assert data.keys() >= TOP_LEVEL
        assert data["baseline"] is None
        assert data["records"].keys() >= RECORDS
    assert error_report("boom").verdict == "error"
