"""The query language on a hand-made 3-run experiment: the examples of Datadog's "Advanced
Experiment Runs" page return the records worked out by hand below, the unsupported mix is
refused with the page's explanation, malformed queries name their column."""

from __future__ import annotations

import numpy as np
import pytest

from driftgate.experiments.models import ExperimentData, SummaryEvaluation
from driftgate.query import MIXED_RUNS, QueryError, parse, restrict, select
from tests.compare.builders import column, experiment

N = None  # a missing value (no evaluation, or no usage reported)
RECORDS = ["A", "B", "C", "D"]
RUNS = 3

# Rows are run-major, as the events arrive: run 1's A B C D, then run 2's, then run 3's.
# Each list below is by record, one value per run: A's three runs, B's, ...
SCORE = {"A": [0.9, 0.8, 0.1], "B": [0.2, 0.3, 0.4], "C": [0.6, N, 0.5], "D": [1.0, 0.0, 0.6]}
# averages: A 0.6, B 0.3, C 0.55 (the missing run is not a zero), D 0.533
SENTIMENT = {
    "A": ["positive", "negative", "positive"],  # mode positive
    "B": ["positive", "positive", "neutral"],  # mode positive
    "C": ["negative", "positive", "negative"],  # mode negative
    "D": ["positive", "negative", "neutral"],  # a tie: all three are modes
}
EXACT = {"A": [True, True, False], "B": [False] * 3, "C": [True, False, N], "D": [True] * 3}
TOKENS = {"A": [1200, 900, 950], "B": [800, 800, 2000], "C": [1500, N, 400], "D": [999, 1001, 1000]}
# averages: A 1016.7, B 1200, C 950, D 1000 (not over 1000)
COST = {"A": [0.02, 0.005, 0.005], "B": [0.001] * 3, "C": [0.03, N, 0.001], "D": [0.011] * 3}
SECONDS = {"A": [10.0, 9.0, 1.0], "B": [0.5] * 3, "C": [9.5, 0.001, 2.0], "D": [3.0, 3.0, 12.0]}
ERRORS = {"A": [False] * 3, "B": [False, True, False], "C": [False] * 3, "D": [False] * 3}
TAGS = {"A": ["difficulty:hard", "lang:en"], "B": ["difficulty:easy"], "C": ["difficulty:hard"]}
TAGS["D"] = ["difficulty:medium", "name:test_use_case_1"]


def _by_row(values: dict[str, list]) -> list:
    return [values[record][run] for run in range(RUNS) for record in RECORDS]


def _row(record: str, run: int) -> int:
    return (run - 1) * len(RECORDS) + RECORDS.index(record)


def three_runs() -> ExperimentData:
    keys = [r for _ in range(RUNS) for r in RECORDS]
    return experiment(
        keys,
        runs=[run for run in range(1, RUNS + 1) for _ in RECORDS],
        evaluators=[
            column("random_evaluator", "score", _by_row(SCORE)),
            column("sentient_evaluator", "categorical", categories=_by_row(SENTIMENT)),
            column("exact_match", "boolean", _by_row(EXACT)),
        ],
        tokens=[np.nan if v is None else v for v in _by_row(TOKENS)],
        cost=[np.nan if v is None else v for v in _by_row(COST)],
        seconds=_by_row(SECONDS),
        task_error=_by_row(ERRORS),
        summaries=[
            SummaryEvaluation("accuracy", 1, "score", 0.75),
            SummaryEvaluation("accuracy", 2, "score", 0.5),
            SummaryEvaluation("accuracy", 3, "score", 0.25),
            SummaryEvaluation("verdict", 1, "categorical", "good"),
            SummaryEvaluation("verdict", 2, "categorical", "bad"),
            SummaryEvaluation("verdict", 3, "categorical", "good"),
        ],
    )


DATA = three_runs()
ROW_TAGS = [TAGS[k] for k in DATA.record_key]


def records(query: str) -> list[str]:
    found = select(query, DATA, ROW_TAGS)
    assert found.multi_run
    # Every row of each record, and nothing else.
    assert sorted(found.rows.tolist()) == sorted(
        i for i, k in enumerate(DATA.record_key) if k in found.records
    )
    return sorted(found.records)


def rows(query: str) -> list[tuple[str, int]]:
    found = select(query, DATA, ROW_TAGS)
    assert not found.multi_run
    return sorted((DATA.record_key[i], int(DATA.run_iteration[i])) for i in found.rows)


# -- the page's examples ---------------------------------------------------------------------


def test_the_pages_first_example_averages_scores_and_takes_the_mode_of_categories() -> None:
    # A: avg 0.6, mode positive. B: avg 0.3. C: mode negative. D: avg 0.533, positive is
    # one of its tied modes.
    query = (
        "@multi_run_avg.@evaluations.custom.random_evaluator:>0.5  "
        "@multi_run_mode.@evaluations.custom.sentient_evaluator:positive"
    )
    assert records(query) == ["A", "D"]


def test_multi_run_average_of_tokens() -> None:
    # A 1016.7 and B 1200 are over 1000; C 950 (its missing run ignored), D exactly 1000.
    assert records("@multi_run_avg.@trace.total_tokens:>1000") == ["A", "B"]
    assert records("@multi_run_avg.@trace.total_tokens:>=1000") == ["A", "B", "D"]


def test_run_iteration_with_a_plain_trace_column_selects_rows_of_that_run() -> None:
    assert rows("run_iteration:1 @trace.total_tokens:>1000") == [("A", 1), ("C", 1)]


def test_plain_trace_columns_select_rows_of_every_run() -> None:
    assert rows("@trace.total_tokens:>1000") == [("A", 1), ("B", 3), ("C", 1), ("D", 2)]
    assert rows("@trace.estimated_total_cost:>0.01") == [
        ("A", 1), ("C", 1), ("D", 1), ("D", 2), ("D", 3),
    ]  # fmt: skip


def test_the_unsupported_mix_is_refused_with_the_pages_explanation() -> None:
    query = "@multi_run_avg.@trace.total_tokens:>1000 @trace.estimated_total_cost:>0.01"
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == query.index("@trace.estimated") + 1
    assert caught.value.message == MIXED_RUNS
    assert "not supported" in str(caught.value)
    assert "run_iteration:N" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "query",
    [
        "@multi_run_mode.@evaluations.custom.sentient_evaluator:positive run_iteration:2",
        "@evaluations.custom.exact_match:true @multi_run_avg.@trace.total_tokens:>1",
        "@multi_run_avg.@trace.duration:>1s @duration:>1s",
        "@status:error @multi_run_avg.@trace.total_tokens:>1",
        "@evaluations.summary.accuracy:>0.1 @multi_run_avg.@trace.total_tokens:>1",
    ],
)
def test_every_plain_row_level_column_is_refused_beside_a_multi_run_one(query: str) -> None:
    with pytest.raises(QueryError, match="not supported"):
        parse(query)


# -- the rest of the language ---------------------------------------------------------------


def test_dataset_tags_go_with_multi_run_columns_and_match_any_case() -> None:
    assert records("difficulty:hard @multi_run_avg.@trace.total_tokens:>1000") == ["A"]
    assert rows("difficulty:HARD run_iteration:3") == [("A", 3), ("C", 3)]
    assert rows("name:test_use_case_1 lang:en") == []
    assert rows("name:test_use_case_1") == [("D", 1), ("D", 2), ("D", 3)]


def test_without_the_records_tags_a_tag_term_matches_nothing() -> None:
    assert select("difficulty:hard", DATA).rows.tolist() == []
    assert select("run_iteration:2", DATA).rows.tolist() == [4, 5, 6, 7]


def test_tags_must_be_aligned_with_the_rows() -> None:
    with pytest.raises(ValueError, match="12 rows"):
        select("difficulty:hard", DATA, [["difficulty:hard"]])


def test_booleans_match_true_false_and_average_as_a_pass_rate() -> None:
    assert rows("@evaluations.custom.exact_match:true run_iteration:2") == [("A", 2), ("D", 2)]
    assert rows("@evaluations.custom.exact_match:FALSE run_iteration:3") == [("A", 3), ("B", 3)]
    # C's third run has no value: it matches neither true nor false.
    assert ("C", 3) not in rows("@evaluations.custom.exact_match:false")
    # Pass rates: A 2/3, B 0, C 1/2 (of the runs with a value), D 1.
    assert records("@multi_run_avg.@evaluations.custom.exact_match:>=0.5") == ["A", "C", "D"]
    # Modes: A true, B false, C a tie of true and false, D true.
    assert records("@multi_run_mode.@evaluations.custom.exact_match:true") == ["A", "C", "D"]
    assert records("@multi_run_mode.@evaluations.custom.exact_match:false") == ["B", "C"]


def test_categories_match_exactly_and_a_tie_makes_every_tied_value_a_mode() -> None:
    assert records("@multi_run_mode.@evaluations.custom.sentient_evaluator:neutral") == ["D"]
    assert records("@multi_run_mode.@evaluations.custom.sentient_evaluator:negative") == ["C", "D"]
    assert rows("@evaluations.custom.sentient_evaluator:Positive") == []  # case matters
    assert rows('@evaluations.custom.sentient_evaluator:"neutral" run_iteration:>=3') == [
        ("B", 3),
        ("D", 3),
    ]


def test_scores_compare_and_missing_values_never_match() -> None:
    assert rows("@evaluations.custom.random_evaluator:<0.2") == [("A", 3), ("D", 2)]
    assert rows("@evaluations.custom.random_evaluator:0.5") == [("C", 3)]
    for op in ("<", "<=", ">", ">=", ""):
        assert ("C", 2) not in rows(f"@evaluations.custom.random_evaluator:{op}0.5")
        assert ("C", 2) not in rows(f"@trace.total_tokens:{op}0")


def test_duration_takes_units_and_nanoseconds_bare() -> None:
    assert rows("@duration:>=9.5s") == [("A", 1), ("C", 1), ("D", 3)]
    assert rows("@trace.duration:<2ms") == rows("@trace.duration:<2000000") == [("C", 2)]
    assert rows("@duration:>0.18m") == [("D", 3)]
    assert records("@multi_run_avg.@duration:>6s") == ["A"]  # D averages 6 s exactly
    assert records("@multi_run_avg.@duration:>=6s") == ["A", "D"]


def test_status_and_summary_evaluations_select_rows() -> None:
    assert rows("@status:error") == [("B", 2)]
    assert len(rows("@status:ok")) == 11
    assert {run for _, run in rows("@evaluations.summary.accuracy:>=0.5")} == {1, 2}
    assert {run for _, run in rows("@evaluations.summary.verdict:good")} == {1, 3}


def test_the_record_id_tag_names_a_record() -> None:
    assert records("dataset_record_id:B @multi_run_avg.@trace.total_tokens:>0") == ["B"]


def test_an_empty_query_matches_every_row() -> None:
    assert select("  ", DATA).rows.tolist() == list(range(12))
    assert parse("").terms == ()


def test_explicit_and_is_the_implicit_one() -> None:
    assert rows("run_iteration:1 AND @trace.total_tokens:>1000") == [("A", 1), ("C", 1)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("@evaluations.custom.nope:1", "it has: exact_match, random_evaluator, sentient"),
        ("@evaluations.summary.nope:1", "it has: accuracy, verdict"),
        ("@evaluations.custom.sentient_evaluator:>1", "categorical evaluation"),
        ("@evaluations.custom.random_evaluator:high", "score evaluation: expected a number"),
        ("@evaluations.custom.exact_match:maybe", "true, false or a number"),
        ("@multi_run_avg.@evaluations.custom.sentient_evaluator:>0.5", "no average"),
        ("@multi_run_mode.@evaluations.custom.random_evaluator:0.5", "no mode"),
    ],
)
def test_a_term_the_data_cannot_answer_names_its_column(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        select("lang:en " + query, DATA)
    assert caught.value.column == len("lang:en ") + 1


# -- restricting --------------------------------------------------------------------------------


def test_restrict_slices_every_column() -> None:
    found = select("@multi_run_avg.@trace.total_tokens:>1000", DATA, ROW_TAGS)
    sub = restrict(DATA, found.rows, note="restricted by a query")
    assert sub.rows == 6
    assert sub.record_key == ["A", "B"] * 3
    assert sub.run_iteration.tolist() == [1, 1, 2, 2, 3, 3]
    assert sub.total_tokens.tolist() == [1200, 800, 900, 800, 950, 2000]
    assert sub.evaluators["sentient_evaluator"].category == [
        "positive", "positive", "negative", "positive", "positive", "neutral",
    ]  # fmt: skip
    assert np.allclose(sub.evaluators["random_evaluator"].value, [0.9, 0.2, 0.8, 0.3, 0.1, 0.4])
    assert sub.task_error.tolist() == [False, False, False, True, False, False]
    assert sub.duration_ns.tolist() == [s * 1e9 for s in (10.0, 0.5, 9.0, 0.5, 1.0, 0.5)]
    assert sub.output_text == [f"output of {k}" for k in sub.record_key]
    assert sub.notes == ("restricted by a query",)
    assert sub.dataset_records is None
    # The query gives the same answer on what it selected.
    again = select("@multi_run_avg.@trace.total_tokens:>1000", sub)
    assert again.rows.tolist() == list(range(6))


def test_restricting_to_one_run_keeps_that_runs_summaries() -> None:
    sub = restrict(DATA, select("run_iteration:2", DATA).rows)
    assert {(s.label, s.run) for s in sub.summaries} == {("accuracy", 2), ("verdict", 2)}


def test_an_experiment_without_rows_matches_nothing() -> None:
    empty = restrict(DATA, [])
    assert empty.rows == 0
    assert select("@multi_run_avg.@trace.total_tokens:>0", empty).records == ()
    assert select("@trace.total_tokens:>0", empty, []).rows.tolist() == []
