"""Experiment runs for the history tests: realistic ones (a dataset of questions, three
evaluators, runs that disagree now and then, long outputs), and a comparison of two
`ExperimentData` field by field, NaN equal to NaN."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftgate.experiments.compact import display_text
from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    SummaryEvaluation,
)

CITIES = ["Paris", "Ottawa", "Canberra", "Brasília", "Ankara", "Bern", "Wellington", "Abuja"]


def realistic(
    records: int,
    runs: int = 3,
    *,
    seed: int = 0,
    experiment_id: str = "2f1c7a52-8d4b-4d0e-9c4e-0a1b2c3d4e5f",
    commit: str = "4b76c16a753941c6975c55a21f8935bc00112233",
    created_at: str = "2026-03-04T05:06:07.123456Z",
    skill: float = 0.8,
    output_chars: int = 60,
) -> ExperimentData:
    """A run of `records` questions x `runs`, as the client reads one from the store
    (evaluators by label): 32-hex record ids,
    a boolean, a score and a categorical judge with an assessment, tokens, cost, durations,
    a task error now and then, two dataset tags per record. `output_chars` pads every
    answer (a verbose model) past what the format keeps."""
    rng = np.random.default_rng(seed)
    n = records * runs
    record = np.tile(np.arange(records), runs)
    run = np.repeat(np.arange(1, runs + 1), records).astype(np.int32)
    keys = [f"{int(k):032x}" for k in rng.integers(0, 2**62, records)]
    truth = [CITIES[i % len(CITIES)] for i in range(records)]
    error = rng.random(n) < 0.02
    right = (rng.random(n) < skill) & ~error
    answers = [
        ""
        if e
        else ((truth[r] if ok else CITIES[(r + 3) % len(CITIES)]) + " " + "x" * output_chars)
        for r, ok, e in zip(record, right, error, strict=True)
    ]
    exact = np.where(error, np.nan, right.astype(np.float64))
    similarity = np.where(error, np.nan, np.round(rng.beta(5, 2, n), 6))
    grade = [
        None if e else ("correct" if ok else "wrong") for ok, e in zip(right, error, strict=True)
    ]
    assessed = np.where(error, np.nan, right.astype(np.float64))
    evaluator_failed = np.zeros(n, dtype=bool)
    evaluator_failed[rng.random(n) < 0.01] = True
    similarity[evaluator_failed] = np.nan
    prompt = rng.integers(20, 200, records).astype(np.float64)[record]
    answer = np.where(error, np.nan, rng.integers(2, 60, n).astype(np.float64))
    difficulty = ["easy", "medium", "hard"]
    tags = [
        (f"difficulty:{difficulty[r % 3]}", f"region:{['eu', 'am', 'as'][r % 3]}") for r in record
    ]
    info = ExperimentInfo(
        id=experiment_id,
        name=f"capitals-{1795636369471 + seed}",
        experiment="capitals",
        project_id="0f802747-221f-4b6a-ae87-d97cc2dca98d",
        dataset_id="80569d98-70f4-4591-965e-3ea3f452cbe4",
        dataset_version=3,
        config={"model_name": "atlas-small", "temperature": 0.2},
        metadata={
            "tags": [
                "git.branch:main",
                "ci.pipeline:capitals",
                f"git.commit.sha:{commit}",
                "project_name:capitals-project",
                "dataset_name:capitals-of-the-world",
            ]
        },
        run_count=runs,
        status="completed",
        created_at=created_at,
        updated_at=created_at,
    )
    nan = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    return ExperimentData(
        info=info,
        run=None,
        record_key=[keys[r] for r in record],
        run_iteration=run,
        task_error=error,
        error_message=[
            "TimeoutError: the model did not answer in 30 s" if e else None for e in error
        ],
        duration_ns=np.round(rng.lognormal(21, 0.4, n)),
        input_tokens=prompt,
        output_tokens=answer,
        total_tokens=prompt + np.nan_to_num(answer),
        cost=np.round((prompt + np.nan_to_num(answer)) * 2e-6, 9),
        input_text=[
            f'{{"country":"Country number {r}","difficulty":"{difficulty[r % 3]}",'
            f'"question":"What is the capital of country number {r}? Answer with the city."}}'
            for r in record
        ],
        expected_text=[truth[r] for r in record],
        output_text=answers,
        evaluators={
            "exact_match": EvaluatorColumn("exact_match", "boolean", exact, nan, no),
            "judge": EvaluatorColumn(
                "judge", "categorical", nan.copy(), assessed, no.copy(), category=grade
            ),
            "similarity": EvaluatorColumn(
                "similarity",
                "score",
                similarity,
                nan,
                evaluator_failed,
                error_messages=("ValueError: the judge answered nothing",)
                if evaluator_failed.any()
                else (),
            ),
        },
        summaries=[
            SummaryEvaluation("accuracy", r, "score", float(np.nansum(exact[run == r]) / records))
            for r in range(1, runs + 1)
        ],
        dataset_records=records,
        record_tags=tags,
    )


def truncated(data: ExperimentData) -> ExperimentData:
    """`data` with its texts as the compact format keeps them."""
    import dataclasses

    evaluators = {
        label: dataclasses.replace(
            column,
            error_messages=tuple(display_text(m) for m in column.error_messages),
        )
        for label, column in data.evaluators.items()
    }
    return dataclasses.replace(
        data,
        error_message=[None if m is None else display_text(m) for m in data.error_message],
        input_text=[display_text(t) for t in data.input_text],
        expected_text=[display_text(t) for t in data.expected_text],
        output_text=[display_text(t) for t in data.output_text],
        evaluators=evaluators,
    )


def _same_floats(a: Any, b: Any, what: str) -> None:
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert left.shape == right.shape, what
    assert np.array_equal(left, right, equal_nan=True), f"{what}: {left} != {right}"


def _same_values(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b and type(a) is type(b))


def assert_same_data(got: ExperimentData, want: ExperimentData) -> None:
    """Every field the comparison reads is equal (floats exactly, NaN with NaN)."""
    assert got.run == want.run
    assert got.record_key == want.record_key
    assert got.run_iteration.dtype == want.run_iteration.dtype
    assert got.run_iteration.tolist() == want.run_iteration.tolist()
    assert got.task_error.tolist() == want.task_error.tolist()
    assert got.error_message == want.error_message
    for name in ("duration_ns", "input_tokens", "output_tokens", "total_tokens", "cost"):
        _same_floats(getattr(got, name), getattr(want, name), name)
    assert got.input_text == want.input_text
    assert got.expected_text == want.expected_text
    assert got.output_text == want.output_text
    assert list(got.evaluators) == list(want.evaluators)
    for label, column in want.evaluators.items():
        other = got.evaluators[label]
        assert other.label == column.label
        assert other.metric_type == column.metric_type, label
        _same_floats(other.value, column.value, f"{label}.value")
        _same_floats(other.passed, column.passed, f"{label}.passed")
        assert other.errored.tolist() == column.errored.tolist(), label
        assert other.category == column.category, label
        assert other.error_messages == column.error_messages, label
    assert len(got.summaries) == len(want.summaries)
    for mine, theirs in zip(got.summaries, want.summaries, strict=True):
        assert (mine.label, mine.run, mine.metric_type, mine.error) == (
            theirs.label,
            theirs.run,
            theirs.metric_type,
            theirs.error,
        )
        assert _same_values(mine.value, theirs.value) or mine.value == theirs.value
    assert got.notes == want.notes
    assert got.dataset_records == want.dataset_records
    assert got.record_tags == want.record_tags
