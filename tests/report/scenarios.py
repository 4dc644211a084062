"""Deterministic inputs for the report tests: real `Report`s from `compare` on small
synthetic experiments (fixed ids, names, commits, timestamps and URLs), wrapped in the
`GateResult`s that `driftgate run` produces for each state."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from driftgate.compare import compare, compare_pooled, error_report, no_baseline_report
from driftgate.compare.schema import Report
from driftgate.config import parse_config
from driftgate.experiments.models import (
    ConsideredRun,
    EvaluatorColumn,
    ExperimentData,
    FloatArray,
    SummaryEvaluation,
)
from driftgate.query import parse as parse_query
from driftgate.query import restrict, select
from driftgate.result import CommandResult, GateResult, ReportContext
from tests.compare.builders import column, experiment, keys

N = 40
BASE_SHA = "a79cf5db77b25fd50e15af591a3bb7105f80eec5"
HEAD_SHA = "40ac51f571d773a8d9a4ab9eda4f770df203a7c2"
STARTED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DATADOG = "https://app.datadoghq.com/llm/experiments/"
BASE_ID = "0b5e1ae0-0000-4000-8000-000000000001"
CAND_ID = "0c4d1da7-0000-4000-8000-000000000002"

CONTEXT = ReportContext(
    repository="acme/support-bot",
    pipeline="answers",
    head_sha=HEAD_SHA,
    base_branch="main",
    pr_number=42,
    run_url="https://github.com/acme/support-bot/actions/runs/1234",
    backend="Datadog (datadoghq.com)",
)
LOCAL_CONTEXT = ReportContext(
    repository=None,
    pipeline="answers",
    head_sha=HEAD_SHA,
    base_branch="main",
    pr_number=None,
    run_url=None,
    backend="the embedded store",
)


def _info(side: str, **extra: Any) -> dict[str, Any]:
    baseline = side == "baseline"
    return {
        "id": BASE_ID if baseline else CAND_ID,
        "name": "answers-101" if baseline else "answers-102",
        "experiment": "answers",
        "dataset_id": "ds-support-v1",
        "dataset_version": 3,
        "created_at": "2025-03-01T11:00:00Z" if baseline else "2025-03-01T12:01:00Z",
        "metadata": {"commit": BASE_SHA if baseline else HEAD_SHA},
        "config": {"model": "large"},
        **extra,
    }


def _side(
    side: str,
    correct: Sequence[int],
    quality: Sequence[float],
    *,
    seconds: float = 1.2,
    tokens: float = 420.0,
    outputs: Sequence[str] | None = None,
    info: dict[str, Any] | None = None,
    extra: Sequence[EvaluatorColumn] = (),
) -> ExperimentData:
    ids = keys(N, "rec-")
    return experiment(
        ids,
        evaluators=[
            column("correct", "boolean", correct),
            column("quality", "score", quality),
            *extra,
        ],
        tokens=[tokens + (i % 5) for i in range(N)],
        cost=[0.0021 + 0.0001 * (i % 3) for i in range(N)],
        seconds=[seconds * (1 + 0.05 * (i % 4)) for i in range(N)],
        outputs=outputs,
        info=_info(side, **(info or {})),
    )


def _compare(base: ExperimentData, cand: ExperimentData, **kw: Any) -> Report:
    return compare(
        base,
        cand,
        baseline_reason=f"the newest run at {BASE_SHA[:12]}, the merge-base on main",
        baseline_url=DATADOG + BASE_ID,
        candidate_url=DATADOG + CAND_ID,
        **kw,
    )


def command(
    exit_code: int | None = 0, *, timed_out: bool = False, tail: str = "", duration: float = 42.5
) -> CommandResult:
    return CommandResult(
        command="python experiment.py",
        exit_code=exit_code,
        timed_out=timed_out,
        started_at=STARTED,
        duration_s=duration,
        tail=tail,
    )


FOUND = "the experiment URLs the command printed"


def incomplete_pair() -> tuple[ExperimentData, ExperimentData]:
    """Baseline and candidate alike, the candidate's only run missing its last 6 task
    spans of a 40-record dataset."""
    correct = [1] * 30 + [0] * 10
    quality = [0.8] * N
    base = dataclasses.replace(_side("baseline", correct, quality), dataset_records=N)
    full = _side("candidate", correct, quality)
    kept = N - 6
    cand = experiment(
        full.record_key[:kept],
        evaluators=[
            column("correct", "boolean", correct[:kept]),
            column("quality", "score", quality[:kept]),
        ],
        tokens=list(full.total_tokens[:kept]),
        cost=list(full.cost[:kept]),
        seconds=list(full.duration_ns[:kept] / 1e9),
        info=_info("candidate"),
    )
    return base, dataclasses.replace(cand, dataset_records=N)


def fail_report() -> Report:
    return _compare(*fail_report_sides())


def fail_report_sides() -> tuple[ExperimentData, ExperimentData]:
    base_correct = [1] * 34 + [0] * 6
    cand_correct = [0] * 12 + [1] * 22 + [0] * 6
    quality = [0.8 + 0.01 * (i % 5) for i in range(N)]
    worse_quality = [q - 0.5 if i < 12 else q for i, q in enumerate(quality)]
    outputs = [f"The capital is City {i}." for i in range(N)]
    cand_outputs = ["I am not sure." if i < 12 else o for i, o in enumerate(outputs)]
    base = _side(
        "baseline",
        base_correct,
        quality,
        outputs=outputs,
        extra=[column("topic", "categorical", categories=["billing", "shipping"] * (N // 2))],
    )
    cand = _side(
        "candidate",
        cand_correct,
        worse_quality,
        outputs=cand_outputs,
        info={"config": {"model": "small"}},
        extra=[
            column("topic", "categorical", categories=["billing"] * N),
            column("tone", "score", [0.9] * N),
        ],
    )
    return base, cand


def _difficulty(i: int) -> str:
    # The 12 regressed records of `fail_report` (rec-0 .. rec-11) are all among the hard ones.
    return "hard" if i < 14 else "easy" if i < 27 else "medium"


def _tagged_sides() -> tuple[ExperimentData, ExperimentData]:
    base, cand = fail_report_sides()
    tags = [
        (f"difficulty:{_difficulty(i)}", f"lang:{'en' if i % 2 else 'fr'}", "source:faq")
        for i in range(N)
    ]
    return dataclasses.replace(base, record_tags=tags), dataclasses.replace(cand, record_tags=tags)


_SLICED_CONFIG = {"slices": {"difficulty:hard": {"level": "fail"}}}


def sliced_report() -> Report:
    """`fail_report`'s data with record tags, and the hard slice gated."""
    config = parse_config(_SLICED_CONFIG, source="driftgate.toml")
    return _compare(*_tagged_sides(), config=config)


def restricted_report() -> Report:
    """`sliced_report`'s data compared on the records a query matches (`--where lang:en`),
    restricted as the session restricts them: each side's note, the query on the report."""
    query = parse_query("lang:en")
    sides = []
    for data in _tagged_sides():
        rows = select(query, data, data.record_tags).rows.tolist()
        note = (
            f"restricted by --where to `{query}`: {len(rows)} of {data.rows} records (the rows "
            "matching it); completeness is judged on the whole run"
        )
        sides.append(restrict(data, rows, note))
    config = parse_config(_SLICED_CONFIG, source="driftgate.toml")
    return _compare(*sides, config=config).model_copy(update={"where": str(query)})


def restricted_result() -> GateResult:
    return GateResult(reports=[restricted_report()], command=command(), found_how=FOUND)


def sliced_result() -> GateResult:
    return GateResult(reports=[sliced_report()], command=command(), found_how=FOUND)


def pass_report() -> Report:
    correct = [1] * 34 + [0] * 6
    quality = [0.8 + 0.01 * (i % 5) for i in range(N)]
    return _compare(_side("baseline", correct, quality), _side("candidate", correct, quality))


def warn_report() -> Report:
    correct = [1] * 34 + [0] * 6
    quality = [0.8 + 0.01 * (i % 5) for i in range(N)]
    base = _side("baseline", correct, quality)
    cand = _side("candidate", correct, quality, seconds=2.4, tokens=630.0)
    return _compare(base, cand)


def no_baseline_result() -> GateResult:
    correct = [1] * 34 + [0] * 6
    quality = [0.8 + 0.01 * (i % 5) for i in range(N)]
    report = no_baseline_report(
        _side("candidate", correct, quality),
        baseline_reason="no completed run of answers on main or its history yet",
        candidate_url=DATADOG + CAND_ID,
    )
    return GateResult(reports=[report], command=command(), found_how=FOUND)


def no_baseline_explained_result() -> GateResult:
    """On main, from uncommitted changes, with earlier runs that did not qualify."""
    correct = [1] * 34 + [0] * 6
    quality = [0.8 + 0.01 * (i % 5) for i in range(N)]
    dirty = {"metadata": {"commit": HEAD_SHA, "tags": ["git.dirty:true"]}}
    considered = [
        ConsideredRun(
            id="0d000000-0000-4000-8000-000000000003",
            name="answers-100",
            experiment="answers",
            commit=BASE_SHA,
            branch="main",
            created_at="2025-03-01T10:00:00Z",
            status="completed",
            why="recorded from a working tree with uncommitted changes (git.dirty)",
        ),
        ConsideredRun(
            id="0d000000-0000-4000-8000-000000000004",
            name="answers-99",
            experiment="answers",
            commit="5e1f" * 10,
            branch="prompt/shorter | answers",
            created_at="2025-02-28T09:00:00Z",
            status="running",
            why="not finished (running)",
        ),
    ]
    report = no_baseline_report(
        _side("candidate", correct, quality, info=dirty),
        baseline_reason=(
            "2 other runs of 'answers' exist but none qualified (1 recorded from a dirty "
            "working tree; 1 not finished; searched the 12 commits of main before this one)"
        ),
        candidate_url=DATADOG + CAND_ID,
        considered=considered,
    )
    return GateResult(reports=[report], command=command(), found_how=FOUND)


def fail_result() -> GateResult:
    return GateResult(
        reports=[fail_report()], command=command(tail="experiment: done"), found_how=FOUND
    )


def pass_result() -> GateResult:
    return GateResult(reports=[pass_report()], command=command(), found_how=FOUND)


def warn_result() -> GateResult:
    return GateResult(reports=[warn_report()], command=command(), found_how=FOUND)


CRASH_TAIL = (
    "loading dataset ds-support-v1\n"
    "Traceback (most recent call last):\n"
    '  File "experiment.py", line 12, in <module>\n'
    "    run()\n"
    "ValueError: the model endpoint answered 500"
)


def crashed_result() -> GateResult:
    cmd = command(1, tail=CRASH_TAIL, duration=3.2)
    message = f"the experiment command failed: {cmd.describe_failure()}"
    return GateResult(reports=[error_report(message)], command=cmd)


def timed_out_result() -> GateResult:
    cmd = command(None, timed_out=True, tail="waiting for the model endpoint...", duration=1800.0)
    message = f"the experiment command failed: {cmd.describe_failure()}"
    return GateResult(reports=[error_report(message)], command=cmd)


def multi_result() -> GateResult:
    second = pass_report().model_copy(
        update={
            "candidate": pass_report().candidate.model_copy(  # type: ignore[union-attr]
                update={"name": "answers-fr-102", "experiment": "answers-fr"}
            )
        }
    )
    return GateResult(reports=[fail_report(), second], command=command(), found_how=FOUND)


CAPITALS = [
    ("New Zealand", "Wellington"),
    ("Australia", "Canberra"),
    ("Canada", "Ottawa"),
    ("Brazil", "Brasília"),
    ("Turkey", "Ankara"),
    ("Nigeria", "Abuja"),
    ("Switzerland", "Bern"),
    ("Morocco", "Rabat"),
]
REVIEW_N = 24
REVIEW_RUNS = 3
NAME_ERROR = "NameError: name 'anwser' is not defined"


def _review_side(side: str, passes: list[list[int]], outputs: list[list[str]]) -> ExperimentData:
    """`REVIEW_N` records x 3 runs, row by row (record, then run); inputs are small JSON
    objects, as ddtrace records a dict."""
    ids = [f"{i:032x}" for i in range(0xA1B2C3D4E5F60000, 0xA1B2C3D4E5F60000 + REVIEW_N)]
    rows = [(i, run) for i in range(REVIEW_N) for run in range(1, REVIEW_RUNS + 1)]
    country = [CAPITALS[i % len(CAPITALS)][0] for i, _ in rows]
    data = experiment(
        [ids[i] for i, _ in rows],
        runs=[run for _, run in rows],
        evaluators=[
            column("correct", "boolean", [passes[i][run - 1] for i, run in rows]),
            column("quality", "score", [0.7 + 0.01 * ((i + run) % 5) for i, run in rows]),
        ],
        tokens=[300.0 + i % 7 for i, _ in rows],
        seconds=[0.8 + 0.01 * (i % 3) for i, _ in rows],
        outputs=[outputs[i][run - 1] for i, run in rows],
        summaries=[
            SummaryEvaluation("accuracy", run, "score", 0.12 if side == "baseline" else 0.61)
            for run in range(1, REVIEW_RUNS + 1)
        ],
        info=_info(side),
    )
    return dataclasses.replace(
        data,
        input_text=[
            f'{{"country":"{c}","difficulty":"{"hard" if i % 2 else "easy"}"}}'
            for c, (i, _) in zip(country, rows, strict=True)
        ],
        expected_text=[CAPITALS[i % len(CAPITALS)][1] for i, _ in rows],
        # The dataset's tags, as a dataset tags the difficulty its inputs name.
        record_tags=[(f"difficulty:{'hard' if i % 2 else 'easy'}",) for i, _ in rows],
    )


def review_report() -> Report:
    """What a reviewer reads: a record whose runs disagree (2 of 3 right, then 1 of 3), a
    task that raised on every run of one record, records that went wrong, a summary
    evaluator that is not gated and moved a lot, an inconclusive error rate; records tagged
    by difficulty, so the slices by tag are there too."""
    right = [[1, 1, 1] for _ in range(REVIEW_N)]
    answers = [[CAPITALS[i % len(CAPITALS)][1]] * 3 for i in range(REVIEW_N)]
    base_pass = [row[:] for row in right]
    base_out = [row[:] for row in answers]
    base_pass[0], base_out[0] = [1, 1, 0], ["Wellington", "Wellington", "Auckland"]
    cand_pass = [row[:] for row in base_pass]
    cand_out = [row[:] for row in base_out]
    cand_pass[0], cand_out[0] = [0, 1, 0], ["Auckland", "Wellington", "Auckland"]
    for i in range(1, 7):
        cand_pass[i], cand_out[i] = [0, 0, 0], ["Sydney"] * 3
    base = _review_side("baseline", base_pass, base_out)
    cand = _review_side("candidate", cand_pass, cand_out)
    raised = [row // REVIEW_RUNS == 7 for row in range(cand.rows)]
    cand = dataclasses.replace(
        cand,
        task_error=np.array(raised, dtype=bool),
        error_message=[NAME_ERROR if r else None for r in raised],
        output_text=["" if r else o for r, o in zip(raised, cand.output_text, strict=True)],
    )
    return _compare(base, cand)


def review_result() -> GateResult:
    return GateResult(reports=[review_report()], command=command(), found_how=FOUND)


# The pooled history: six base-branch runs, newest first; the newest three of one system
# (model "large"), the older three of another (a declared change point).
HISTORY_RUNS = 6
HISTORY_SHAS = [BASE_SHA, *(f"{j}e1f{j}" * 8 for j in range(1, HISTORY_RUNS))]
# Which of the three pooled runs each flaky group of `judge` passes in: every split of the
# pooled runs sees the same share pass, so the flakes draw no change point.
FLAKY_GROUPS = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]


def _history_run(j: int, quality: FloatArray) -> ExperimentData:
    # The older model passed two records fewer.
    correct = [1] * 30 + [0] * 10 if j < 3 else [1] * 28 + [0] * 12
    judge = [1] * N
    for g, runs in enumerate(FLAKY_GROUPS):
        for k in range(3):
            judge[20 + 3 * g + k] = 1 if j % 3 in runs else 0
    return experiment(
        keys(N, "rec-"),
        evaluators=[
            column("correct", "boolean", correct),
            column("judge", "boolean", judge),
            column("quality", "score", quality.tolist()),
        ],
        tokens=[420.0 + (i % 5) for i in range(N)],
        seconds=[1.2 * (1 + 0.05 * (i % 4)) for i in range(N)],
        info=_info(
            "baseline",
            id=f"0b5e1ae0-0000-4000-8000-00000000010{j}",
            name=f"answers-{101 - j}",
            created_at=f"2025-02-{28 - j}T11:00:00Z",
            metadata={"commit": HISTORY_SHAS[j]},
            config={"model": "large" if j < 3 else "medium"},
        ),
    )


def pooled_report() -> Report:
    """A baseline pooled from main's history: the newest three runs pooled, the older ones
    of another model left out (a change point); `judge` regressed only through known-flaky
    records; `quality` looks worse against the pooled runs, which the newest run alone does
    not confirm; `correct` broke on ten stable records. The trend shows all six runs."""
    rng = np.random.default_rng(1)
    base_quality = 0.5 + 0.01 * (np.arange(N) % 7)
    noise = [rng.normal(0, 0.03, N) for _ in range(HISTORY_RUNS)]
    # The pooled runs before the newest scored a little higher: a drift too small for the
    # change-point test.
    history = [
        _history_run(j, base_quality + noise[j] + (0.0175 if j in (1, 2) else 0.0))
        for j in range(HISTORY_RUNS)
    ]
    quality = base_quality + noise[0] + rng.normal(0, 0.01, N)
    candidate = experiment(
        keys(N, "rec-"),
        evaluators=[
            column("correct", "boolean", [0] * 10 + [1] * 20 + [0] * 10),
            column("judge", "boolean", [1] * 20 + [0] * 18 + [1] * 2),
            column("quality", "score", quality.tolist()),
        ],
        tokens=[420.0 + (i % 5) for i in range(N)],
        seconds=[1.2 * (1 + 0.05 * (i % 4)) for i in range(N)],
        info=_info("candidate"),
    )
    return compare_pooled(
        history,
        candidate,
        baseline_reason=(
            f"the newest run at {BASE_SHA[:12]}, the merge-base on main, pooled with the runs "
            "of main before it"
        ),
        baseline_url=DATADOG + history[0].info.id,
        candidate_url=DATADOG + CAND_ID,
    )


def pooled_result() -> GateResult:
    return GateResult(reports=[pooled_report()], command=command(), found_how=FOUND)


SCENARIOS = {
    "review": review_result,
    "pass": pass_result,
    "fail": fail_result,
    "warn": warn_result,
    "no_baseline": no_baseline_result,
    "no_baseline_explained": no_baseline_explained_result,
    "error_crashed": crashed_result,
    "error_timeout": timed_out_result,
    "multi": multi_result,
    "sliced": sliced_result,
    "restricted": restricted_result,
    "pooled": pooled_result,
}
