"""The client, the wait and the comparison against answers shaped as Datadog publishes them
(tests/fakes/datadog.py), not as the embedded store gives them: listed experiments with
`author` and absent keys, every filter paged, task spans without token metrics, summary
evaluations without their run number, `aggregate_data` late or never."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from driftgate.compare import compare
from driftgate.config import parse_config
from driftgate.experiments.baseline import resolve
from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.experiments.discover import WaitPolicy, wait_until_finished
from driftgate.experiments.events import ExperimentDataBuilder
from tests.fakes.datadog import API_KEY, APP_KEY, FakeDatadog, Run

SITE = "datadoghq.eu"


def _runs(
    outputs: list[list[str]],
    *,
    tokens: tuple[int, int] | None = (12, 3),
    cost: float | None = None,
) -> list[list[Run]]:
    """Runs of three records; `boom` is a task error without an LLM call."""
    found = []
    for run in outputs:
        rows = []
        for n, output in enumerate(run):
            record = f"rec{n}"
            if output == "boom":
                rows.append(Run(record, "", False, 0.0, tokens=None, error="task exploded"))
            else:
                exact = output == "Beijing"
                rows.append(
                    Run(record, output, exact, 1.0 if exact else 0.1, tokens=tokens, cost=cost)
                )
        found.append(rows)
    return found


@pytest.fixture
def fake() -> FakeDatadog:
    return FakeDatadog()


@pytest.fixture
def client(fake: FakeDatadog) -> Iterator[ExperimentsClient]:
    backend = backend_from_env({"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "DD_SITE": SITE})
    sleeps: list[float] = []
    with ExperimentsClient(
        backend, http=httpx.Client(transport=fake.transport()), sleep=sleeps.append
    ) as c:
        yield c


# -- the list -------------------------------------------------------------------------------


def test_a_listed_experiment_with_author_and_absent_keys_is_read(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _runs([["Beijing"]]), status=None)
    (info,) = client.list_experiments(ids=[made.id])
    assert info.id == made.id
    assert info.experiment == "capitals"
    assert info.commit == "abc123"
    assert info.tag("git.branch") == "main"
    # Absent until set: read as not set, never as an error.
    assert (info.status, info.aggregate_data, info.error, info.parent_experiment_id) == (
        None,
        None,
        None,
        None,
    )
    assert info.model_extra == {"author": {"id": "00000000-0000-0000-0000-000000000007"}}
    assert all(r.url.host == f"api.{SITE}" for r in fake.requests)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"experiment": "many"},
        {"metadata": {"tags": ["ci.pipeline:many"]}},
        {"experiment": "many", "metadata": {"tags": ["ci.pipeline:many"]}},
    ],
)
def test_every_filter_follows_meta_after_to_the_last_page(
    fake: FakeDatadog, client: ExperimentsClient, query: dict[str, Any]
) -> None:
    made = [fake.add("many", [[]], tags=("ci.pipeline:many",)).id for _ in range(250)]
    listed = client.list_experiments(limit=100, **query)
    assert [e.id for e in listed] == made[::-1]
    cursors = [r.url.params.get("page[cursor]") for r in fake.requests]
    assert cursors == [None, cursors[1], cursors[2]] and all(cursors[1:])
    # The page limit asked is what Datadog clamps to, and the whole answer still comes.
    fake.page_max = 40
    fake.requests.clear()
    assert len(client.list_experiments(limit=5000, **query)) == 250
    assert len(fake.requests) == 7


def test_a_baseline_past_the_first_page_is_found(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.page_max = 100
    old = fake.add("capitals", _runs([["Beijing"]]), commit="base")
    for i in range(150):
        fake.add("capitals", _runs([["Beijing"]]), commit=f"later{i}", branch="feature")
    candidate = fake.add("capitals", _runs([["Beijing"]]), commit="head", branch="feature")
    info = client.get_experiment(candidate.id)
    choice = resolve(client, info, ancestors=["base"], base_branch="main")
    assert choice.experiment is not None
    assert choice.experiment.id == old.id


# -- finished, aggregated ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_a_terminal_status_is_enough_and_the_aggregate_is_waited_for_a_bounded_time(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.aggregate_after = None  # Datadog never aggregates it
    made = fake.add("capitals", _runs([["Beijing"]]), status="running")
    clock, progress, notices = Clock(), list[str](), list[str]()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:
            fake.finish(made, "failed")

    done = wait_until_finished(
        client,
        [client.get_experiment(made.id)],
        WaitPolicy(timeout_s=600, aggregate_s=20),
        progress.append,
        sleep=sleep,
        clock=clock,
        notice=notices.append,
    )
    assert done[0].status == "failed"
    assert done[0].aggregate_data is None
    # Finished after the first two polls; then at most 20 s for the aggregate, not the 600 s
    # of the wait.
    finished_at = sum(clock.sleeps[:2])
    assert 20 <= clock.now - finished_at <= 20 + 1e-9
    assert any("to aggregate 1 finished experiment" in p for p in progress)
    (notice,) = notices
    assert f"{made.attributes['name']} finished (failed)" in notice
    assert "had not aggregated it after 20 s" in notice
    assert "compared from its events" in notice


def test_an_aggregate_that_comes_late_is_waited_for_without_a_notice(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.aggregate_after = 2  # absent from the first two answers after the terminal status
    made = fake.add("capitals", _runs([["Beijing"]]))
    clock, notices = Clock(), list[str]()
    done = wait_until_finished(
        client,
        [client.get_experiment(made.id)],
        WaitPolicy(),
        lambda _: None,
        sleep=clock.sleep,
        clock=clock,
        notice=notices.append,
    )
    assert done[0].aggregate_data is not None
    assert notices == []
    assert clock.sleeps == [0.05, 0.1]


def test_a_finished_run_never_aggregated_is_a_baseline(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.aggregate_after = None
    base = fake.add("capitals", _runs([["Beijing"]]), commit="base")
    fake.add("capitals", _runs([["Beijing"]]), commit="base", status="interrupted")
    candidate = fake.add("capitals", _runs([["Beijing"]]), commit="head", branch="feature")
    choice = resolve(
        client, client.get_experiment(candidate.id), ancestors=["base"], base_branch="main"
    )
    assert choice.experiment is not None
    assert choice.experiment.id == base.id


# -- the events -----------------------------------------------------------------------------


def test_tokens_and_cost_come_from_the_child_spans_when_the_task_span_has_none(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _runs([["Beijing", "Paris", "boom"]] * 2, cost=0.0021))
    data = client.experiment_data(made.id)
    # Six task spans, no child span taken for a record.
    assert data.rows == 6
    assert data.record_key == ["rec0", "rec1", "rec2"] * 2
    assert np.array_equal(data.run_iteration, [1, 1, 1, 2, 2, 2])
    expected = [15.0, 15.0, math.nan] * 2  # the task error made no LLM call
    assert np.array_equal(data.total_tokens, expected, equal_nan=True)
    assert np.array_equal(data.input_tokens, [12.0, 12.0, math.nan] * 2, equal_nan=True)
    assert np.array_equal(data.cost, [0.0021, 0.0021, math.nan] * 2, equal_nan=True)
    assert list(data.task_error) == [False, False, True] * 2
    assert data.error_message[2] == "builtins.ValueError: task exploded"
    assert np.array_equal(data.evaluators["exact_match"].value, [1.0, 0.0, 0.0] * 2)


def test_a_child_span_on_another_page_than_its_task_still_counts(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _runs([["Beijing", "Paris"]]))
    info = client.get_experiment(made.id)
    builder = ExperimentDataBuilder(info)
    pages = list(client.iter_event_pages(made.id, page_size=1))
    assert len(pages) == 4  # task, child, task, child: each child on its own page
    for page in pages:
        builder.add_page(page)
    assert list(builder.build().total_tokens) == [15.0, 15.0]


def test_usage_reported_nowhere_is_said_for_a_configured_budget(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.child_spans = False  # Datadog's answer without the child spans
    base = fake.add("capitals", _runs([["Beijing", "Paris", "Rome"]]), commit="base")
    cand = fake.add("capitals", _runs([["Beijing", "Paris", "Rome"]]), commit="head")
    b, c = client.experiment_data(base.id), client.experiment_data(cand.id)
    assert np.isnan(c.total_tokens).all()
    configured = parse_config({"budgets": {"tokens": "10%", "cost": {"level": "off"}}})
    report = compare(b, c, configured)
    said = [w for w in report.warnings if "not reported" in w]
    assert said == [
        "tokens: not reported by either run (neither the task spans nor their child spans "
        "carry token counts), so the tokens budget is not judged; record them on the task's "
        'LLM spans, or set its level to "off"'
    ]
    assert "tokens" not in [m.name for m in report.metrics]
    # The defaults are not a configuration the user wrote: nothing to say about them.
    assert not [w for w in compare(b, c).warnings if "not reported" in w]


def test_child_span_tokens_are_compared_as_per_record_tokens(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    base = fake.add("capitals", _runs([["Beijing", "Paris", "Rome"]] * 2), commit="base")
    cand = fake.add(
        "capitals", _runs([["Beijing", "Paris", "Rome"]] * 2, tokens=(40, 20)), commit="head"
    )
    report = compare(client.experiment_data(base.id), client.experiment_data(cand.id))
    (tokens,) = [m for m in report.metrics if m.name == "tokens"]
    assert (tokens.baseline, tokens.candidate) == (15.0, 60.0)
    assert tokens.delta == 45.0
    # The child spans are usage, not records: three records pair, none is left over.
    assert (report.records.compared, report.records.candidate_only) == (3, 0)


def test_summaries_without_their_run_number_are_never_collapsed_into_one_run(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add(
        "capitals",
        _runs([["Beijing", "Paris"], ["Beijing", "Beijing"], ["Paris", "Paris"]]),
    )
    data = client.experiment_data(made.id)
    assert [(s.label, s.run, s.value) for s in data.summaries] == [
        ("num_exact_matches", None, 1.0),
        ("num_exact_matches", None, 2.0),
        ("num_exact_matches", None, 0.0),
    ]
    (note,) = data.notes
    assert "num_exact_matches" in note and "without their run number" in note
    base = fake.add("capitals", _runs([["Beijing", "Beijing"]] * 3), commit="base")
    report = compare(client.experiment_data(base.id), data)
    (summary,) = [m for m in report.metrics if m.name == "num_exact_matches"]
    assert (summary.baseline, summary.candidate) == (2.0, 1.0)  # the mean of three runs each
    assert any(w.startswith("candidate: summary evaluations") for w in report.warnings)


def test_a_summary_run_is_taken_from_its_run_id_where_it_has_one(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    fake.summary_tags = True
    made = fake.add("capitals", _runs([["Beijing", "Paris"], ["Beijing", "Beijing"]]))
    data = client.experiment_data(made.id)
    assert [(s.run, s.value) for s in data.summaries] == [(1, 1.0), (2, 2.0)]
    assert data.notes == ()
    only_two = client.experiment_data(made.id, run=2)
    assert [(s.run, s.value) for s in only_two.summaries] == [(2, 2.0)]


def test_one_run_of_a_multi_run_experiment_leaves_unattributed_summaries_out(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _runs([["Beijing", "Paris"], ["Beijing", "Beijing"]]))
    data = client.experiment_data(made.id, run=2)
    assert data.rows == 2
    assert data.summaries == []
    (note,) = data.notes
    assert "those of run 2 cannot be told apart" in note


def test_a_single_run_summary_without_its_number_is_that_run(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _runs([["Beijing", "Paris"]]))
    data = client.experiment_data(made.id)
    assert [(s.run, s.value) for s in data.summaries] == [(1, 1.0)]
    assert data.notes == ()


# -- incomplete runs ------------------------------------------------------------------------


def _capitals(records: int, missing: dict[int, int], runs: int = 3) -> list[list[Run]]:
    """`runs` runs over `records` records, run N missing its last `missing[N]` task spans."""
    return [
        [Run(f"rec{n}", "Beijing", True, 1.0) for n in range(records - missing.get(iteration, 0))]
        for iteration in range(1, runs + 1)
    ]


def test_the_dataset_is_counted_through_every_page_of_its_records(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    everything = [f"rec{n}" for n in range(300)]
    made = fake.add("capitals", _capitals(300, {2: 16}), dataset=everything)
    data = client.experiment_data(made.id)
    assert data.dataset_records == 300
    pages = [r for r in fake.requests if r.url.path.endswith("/records")]
    # 300 records in Datadog's pages of 100: three reads, each asking for version 1.
    assert len(pages) == 3
    assert all(r.url.params["filter[version]"] == "1" for r in pages)
    assert all(f"/{made.attributes['project_id']}/datasets/" in r.url.path for r in pages)
    # The baseline on the same dataset version is not counted again.
    other = fake.add("capitals", _capitals(300, {}), dataset=everything)
    fake.requests.clear()
    assert client.experiment_data(other.id).dataset_records == 300
    assert [r for r in fake.requests if r.url.path.endswith("/records")] == []


def test_a_run_missing_task_spans_is_flagged_and_fails_where_configured(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    everything = [f"rec{n}" for n in range(300)]
    base = fake.add("capitals", _capitals(300, {}), dataset=everything)
    cand = fake.add("capitals", _capitals(300, {2: 16, 3: 80}), dataset=everything)
    base_data, cand_data = client.experiment_data(base.id), client.experiment_data(cand.id)
    warned = compare(base_data, cand_data)
    assert warned.verdict == "warn"
    assert warned.warnings[0].startswith(
        "the candidate is incomplete: run 2: 284 of 300 records, run 3: 220 of 300 records"
    )
    failed = compare(base_data, cand_data, parse_config({"incomplete": "fail"}))
    assert failed.verdict == "fail"
    complete = compare(base_data, base_data, parse_config({"incomplete": "fail"}))
    assert complete.verdict == "pass"
    assert not any("incomplete" in w for w in complete.warnings)


def test_a_dataset_that_cannot_be_read_leaves_completeness_unchecked_and_says_so(
    fake: FakeDatadog, client: ExperimentsClient
) -> None:
    made = fake.add("capitals", _capitals(3, {1: 1}, runs=1))
    fake.datasets.clear()
    data = client.experiment_data(made.id)
    assert data.dataset_records is None
    (note,) = data.notes
    assert note.startswith("the records of its dataset could not be counted (")
    assert "is not known" in note
