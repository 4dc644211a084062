"""A run with fewer task spans than its dataset has records is flagged, on either side, at
the configured level; complete runs are not; a report read back is judged the same way."""

from __future__ import annotations

import dataclasses

import pytest

from driftgate.compare import compare, no_baseline_report
from driftgate.compare.recheck import recheck_report
from driftgate.config import GateConfig, Level
from driftgate.experiments.models import ExperimentData
from tests.compare.builders import column, experiment, keys

RECORDS = 300


def _three_runs(
    name: str, missing: dict[int, int], *, dataset_records: int | None = RECORDS
) -> ExperimentData:
    """Three runs of a 300-record dataset, run N missing its first `missing[N]` records;
    every record passes."""
    ids: list[str] = []
    runs: list[int] = []
    for run in (1, 2, 3):
        kept = keys(RECORDS)[missing.get(run, 0) :]
        ids += kept
        runs += [run] * len(kept)
    data = experiment(
        ids,
        runs=runs,
        evaluators=[column("correct", "boolean", [True] * len(ids))],
        info={"id": name, "name": name, "run_count": 3, "dataset_id": "ds", "dataset_version": 2},
    )
    return dataclasses.replace(data, dataset_records=dataset_records)


def _config(level: Level | None = None) -> GateConfig:
    return GateConfig() if level is None else GateConfig(incomplete=level)


def test_complete_runs_are_not_flagged() -> None:
    report = compare(_three_runs("base", {}), _three_runs("cand", {}), _config())
    assert report.verdict == "pass"
    assert report.warnings == []
    assert report.candidate is not None
    assert [(r.run, r.records) for r in report.candidate.records_per_run] == [
        (1, 300),
        (2, 300),
        (3, 300),
    ]
    assert report.candidate.dataset_records == RECORDS


def test_a_candidate_missing_spans_warns_by_default_with_per_run_counts() -> None:
    report = compare(_three_runs("base", {}), _three_runs("cand", {2: 16, 3: 80}), _config())
    # Every metric passes over the records it has: only the shortfall makes it a warning.
    assert all(m.gate == "pass" for m in report.metrics)
    assert report.verdict == "warn"
    flag = report.warnings[0]
    assert flag.startswith(
        "the candidate is incomplete: run 2: 284 of 300 records, run 3: 220 of 300 records "
        "of its dataset version 2;"
    )
    assert "run the experiment again" in flag
    assert not any("baseline is incomplete" in w for w in report.warnings)


def test_a_baseline_missing_spans_is_flagged_too() -> None:
    report = compare(_three_runs("base", {1: 40}), _three_runs("cand", {}), _config())
    assert report.verdict == "warn"
    assert report.warnings[0].startswith(
        "the baseline is incomplete: run 1: 260 of 300 records of its dataset version 2;"
    )


def test_a_run_that_lost_every_span_counts_as_zero() -> None:
    cand = _three_runs("cand", {3: RECORDS})
    report = compare(_three_runs("base", {}), cand, _config())
    assert "run 3: 0 of 300 records" in report.warnings[0]


def test_fail_fails_the_gate_and_off_says_nothing() -> None:
    base, cand = _three_runs("base", {}), _three_runs("cand", {2: 16})
    failed = compare(base, cand, _config("fail"))
    assert failed.verdict == "fail"
    assert failed.incomplete == "fail"
    assert 'the gate fails (incomplete = "fail")' in failed.warnings[0]
    quiet = compare(base, cand, _config("off"))
    assert quiet.verdict == "pass"
    assert quiet.warnings == []
    # The counts stay in the report for whoever reads report.json.
    assert quiet.candidate is not None
    assert quiet.candidate.records_per_run[1].records == 284


def test_fail_keeps_a_failure_and_warn_keeps_a_worse_verdict() -> None:
    base = _three_runs("base", {})
    cand = _three_runs("cand", {1: 5})
    worse = dataclasses.replace(
        cand,
        evaluators={"correct": column("correct", "boolean", [False] * cand.rows)},
    )
    assert compare(base, worse, _config("warn")).verdict == "fail"


def test_an_unknown_dataset_size_is_not_judged() -> None:
    report = compare(
        _three_runs("base", {}), _three_runs("cand", {2: 16}, dataset_records=None), _config()
    )
    assert report.verdict == "pass"
    assert report.warnings == []


def test_one_selected_run_is_held_against_the_dataset_alone() -> None:
    cand = dataclasses.replace(_three_runs("cand", {2: 16}), run=2)
    report = compare(_three_runs("base", {}), cand, _config())
    assert report.candidate is not None
    assert [(r.run, r.records) for r in report.candidate.records_per_run] == [(2, 284)]
    assert "run 2: 284 of 300 records" in report.warnings[0]


@pytest.mark.parametrize(("level", "verdict"), [("warn", "no_baseline"), ("fail", "fail")])
def test_without_a_baseline_the_flag_is_said_and_fail_fails(level: Level, verdict: str) -> None:
    report = no_baseline_report(_three_runs("cand", {2: 16}), _config(level))
    assert report.verdict == verdict
    assert report.warnings[0].startswith("the candidate is incomplete: run 2: 284 of 300")


def test_a_report_read_back_is_judged_again_from_its_counts() -> None:
    report = compare(_three_runs("base", {}), _three_runs("cand", {2: 16}), _config("fail"))
    claimed = report.model_copy(update={"verdict": "pass"})
    assert recheck_report(claimed).verdict == "fail"
    round_trip = type(report).model_validate_json(report.model_dump_json())
    assert recheck_report(round_trip).verdict == "fail"
    complete = compare(_three_runs("base", {}), _three_runs("cand", {}), _config("fail"))
    assert recheck_report(complete).verdict == "pass"
