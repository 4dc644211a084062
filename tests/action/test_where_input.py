"""The `where` input through the Action's entry point, as `--where` is through the command
line: a real git repository, an experiment recorded through the store's HTTP API
(tests/scripts/raw_experiment.py: records rec-0..rec-39, the first RAW_BAD wrong), the
embedded store, PyGithub against the GitHub fake. The input restricts the comparison and wins
over the configuration's `where`; empty leaves the configuration's in force; a query that
cannot be read stops the step before the command runs, at its column."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driftgate.action.inputs import read_inputs
from driftgate.action.workflow import InputError
from driftgate.errors import EXIT_USAGE
from tests.action import test_main
from tests.action.test_main import REPO, World, git

world = test_main.world  # the fixture: a workspace, the GitHub fake


def _report(world: World) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (world.repo / ".driftgate" / "report" / "report.json").read_text()
    )
    return report


def _pull_request_that_breaks_rec_10(world: World, number: int) -> tuple[str, str]:
    """main records 4 wrong answers (rec-0..rec-3); the pull request gets 20 wrong
    (rec-0..rec-19): a failing gate over every record."""
    first = world.commit("base")
    main = world.commit("main work")
    world.env_extra["RAW_BAD"] = "4"
    recorded = world.act("push", world.push_event(main, first))
    assert recorded.code == 0, recorded.stdout
    git(world.repo, "checkout", "-q", "-b", f"feature-{number}")
    head = world.commit("worse answers")
    world.fake.add_pull(REPO, number, head_sha=head, base_sha=main, head_ref=f"feature-{number}")
    world.env_extra["RAW_BAD"] = "20"
    return main, head


def test_the_input_restricts_the_comparison_and_says_so(world: World) -> None:
    main, head = _pull_request_that_breaks_rec_10(world, 3)
    unrestricted = world.act("pull_request", world.pr_event(3, head, main))
    assert unrestricted.code == 1, unrestricted.stdout
    assert _report(world)["where"] is None

    # rec-30 is right on both sides: compared alone, nothing regressed.
    query = "dataset_record_id:rec-30"
    gated = world.act("pull_request", world.pr_event(3, head, main), where=query)
    assert gated.code == 0, gated.stdout
    assert gated.outputs["verdict"] == "pass"
    report = _report(world)
    assert report["where"] == query
    assert report["records"]["compared"] == 1
    assert f"candidate: restricted by Input where to `{query}`: 1 of 40 records" in "\n".join(
        report["warnings"]
    )
    line = f"Only the records matching `{query}` are compared."
    (comment,) = test_main.our_comments(world, 3)
    (check,) = world.fake.check_runs(REPO, head)  # the same check, updated
    for surface in (comment.body, check.output["summary"]):
        assert line in surface
    assert f"**Where**: only the records matching `{query}` are compared." in gated.summary


def test_the_input_wins_over_the_configuration_and_empty_leaves_it(world: World) -> None:
    # The configuration keeps the gate to rec-10, which the pull request breaks.
    (world.repo / "driftgate.toml").write_text('where = "dataset_record_id:rec-10"\n')
    main, head = _pull_request_that_breaks_rec_10(world, 4)
    configured = world.act("pull_request", world.pr_event(4, head, main), where="")
    assert configured.code == 0, configured.stdout  # one record: inconclusive, not a failure
    report = _report(world)
    assert report["where"] == "dataset_record_id:rec-10"
    assert report["records"]["regressed"] == ["rec-10"]
    assert any(
        # The file as the repository names it: the runner's path means nothing on a PR.
        "restricted by where in driftgate.toml to `dataset_record_id:rec-10`" in w
        for w in report["warnings"]
    )

    given = world.act(
        "pull_request", world.pr_event(4, head, main), where="dataset_record_id:rec-30"
    )
    assert given.code == 0, given.stdout
    report = _report(world)
    assert report["where"] == "dataset_record_id:rec-30"
    assert report["records"]["regressed"] == []


def test_a_query_that_cannot_be_read_stops_the_step_before_the_command(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main work")
    step = world.act(
        "push", world.push_event(main, first), where="dataset_record_id:rec-1 OR rec-2"
    )
    assert step.code == EXIT_USAGE, step.stdout
    (error,) = [line for line in step.stdout.splitlines() if line.startswith("::error")]
    assert "Input where: column 25: expected a term: OR is not supported" in error
    # The query and the caret under its column, on the annotation's next lines.
    assert "%0A  dataset_record_id:rec-1 OR rec-2%0A" + " " * 26 + "^" in error
    # The command never ran (it prints its experiment's URL), and nothing was posted.
    assert "/llm/experiments/" not in step.stdout
    assert world.fake.check_runs(REPO, main) == []


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_input_is_no_input(value: str) -> None:
    assert read_inputs({"INPUT_COMMAND": "python x.py", "INPUT_WHERE": value}).where is None


def test_the_input_is_read_as_given() -> None:
    env = {"INPUT_COMMAND": "python x.py", "INPUT_WHERE": "difficulty:hard run_iteration:1"}
    assert read_inputs(env).where == "difficulty:hard run_iteration:1"
    with pytest.raises(InputError, match=r"^Input where: column 25: expected a value"):
        read_inputs({**env, "INPUT_WHERE": "difficulty:hard @status:"})
