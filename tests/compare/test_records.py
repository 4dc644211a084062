"""The records shown carry every run's output on each side, and the task's error message."""

from __future__ import annotations

import dataclasses

from driftgate.compare import compare
from driftgate.compare.records import MAX_OUTPUTS, NO_MESSAGE
from driftgate.compare.schema import RunOutputs
from driftgate.experiments.models import ExperimentData
from tests.compare.builders import column, experiment, keys


def _three_runs(
    ids: list[str], passes: list[list[int]], outputs: list[list[str]]
) -> ExperimentData:
    """Rows record by record, run by run: passes[r][k] and outputs[r][k] for record r, run
    k + 1."""
    rows = [(key, k + 1) for key in ids for k in range(3)]
    return experiment(
        [key for key, _ in rows],
        runs=[run for _, run in rows],
        evaluators=[column("correct", "boolean", [p for row in passes for p in row])],
        outputs=[o for row in outputs for o in row],
    )


def test_a_record_whose_runs_disagree_shows_each_sides_outputs() -> None:
    ids = keys(12)
    # Record 0 goes from 2 of 3 runs right to 1 of 3; the others stay right.
    base_pass = [[1, 1, 0]] + [[1, 1, 1]] * 11
    cand_pass = [[0, 1, 0]] + [[1, 1, 1]] * 11
    base_out = [["Wellington", "Wellington", "Auckland"]] + [["ok"] * 3] * 11
    cand_out = [["Auckland", "Wellington", "Auckland"]] + [["ok"] * 3] * 11
    report = compare(_three_runs(ids, base_pass, base_out), _three_runs(ids, cand_pass, cand_out))
    (record,) = report.records.flipped
    assert record.id == ids[0] and record.direction == "regressed"
    assert record.baseline_runs == record.candidate_runs == 3
    assert record.baseline_outputs == [
        RunOutputs(output="Wellington", runs=2),
        RunOutputs(output="Auckland", runs=1),
    ]
    assert record.candidate_outputs == [
        RunOutputs(output="Auckland", runs=2),
        RunOutputs(output="Wellington", runs=1),
    ]
    # The earliest run's output stays where it was, for consumers of the contract.
    assert record.baseline_output == "Wellington" and record.candidate_output == "Auckland"
    assert record.tags == []


def test_a_task_that_raised_shows_its_message() -> None:
    ids = keys(10)
    base = experiment(ids, evaluators=[column("correct", "boolean", [1] * 10)])
    raising = experiment(
        ids,
        evaluators=[column("correct", "boolean", [None] * 10)],
        task_error=[True] * 10,
        outputs=[""] * 10,
    )
    messages = ["NameError: name 'anwser' is not defined\n  at line 3"] * 9 + [None]
    cand = dataclasses.replace(raising, error_message=messages)
    report = compare(base, cand)
    shown = {r.id: r for r in report.records.flipped}
    assert set(shown) == set(ids)  # every record flipped on the error rate
    first = shown[ids[0]]
    assert first.candidate_outputs == [
        RunOutputs(output="", runs=1, error="NameError: name 'anwser' is not defined at line 3")
    ]
    assert first.baseline_outputs == [RunOutputs(output=f"output of {ids[0]}", runs=1)]
    assert shown[ids[-1]].candidate_outputs[0].error == NO_MESSAGE


def test_outputs_are_grouped_most_frequent_first_and_capped() -> None:
    n_runs = MAX_OUTPUTS + 5
    ids = keys(10)
    rows = [(key, run) for key in ids for run in range(1, n_runs + 1)]
    outputs = [f"answer {run}" if key == ids[0] else "same" for key, run in rows]
    base = experiment(
        [k for k, _ in rows],
        runs=[r for _, r in rows],
        evaluators=[column("correct", "boolean", [1] * len(rows))],
    )
    cand = experiment(
        [k for k, _ in rows],
        runs=[r for _, r in rows],
        evaluators=[column("correct", "boolean", [0 if k == ids[0] else 1 for k, _ in rows])],
        outputs=outputs,
    )
    (record,) = compare(base, cand).records.flipped
    assert record.candidate_runs == n_runs
    assert len(record.candidate_outputs) == MAX_OUTPUTS
    assert [o.output for o in record.candidate_outputs[:2]] == ["answer 1", "answer 2"]
