"""The `no-baseline` input through the Action's entry point: a real git repository, the raw
ddtrace script, the embedded store, PyGithub against the GitHub fake. A pull request whose
base branch never recorded a run is neutral by default, fails under `no-baseline: fail`
(check and step), and the base branch's own first run is never a failure."""

from __future__ import annotations

from driftgate.action.github import check_name
from tests.action import test_main
from tests.action.test_main import REPO, World, git

world = test_main.world  # the fixture: a workspace, the GitHub fake


def _unrecorded_pull_request(world: World, number: int) -> tuple[str, str]:
    """main has commits but no recorded run; a pull request on top of it."""
    world.commit("base")
    main = world.commit("main work")
    git(world.repo, "checkout", "-q", "-b", f"feature-{number}")
    head = world.commit("a change")
    world.fake.add_pull(REPO, number, head_sha=head, base_sha=main, head_ref=f"feature-{number}")
    return main, head


def test_by_default_a_pull_request_without_a_baseline_is_neutral_and_says_why(
    world: World,
) -> None:
    main, head = _unrecorded_pull_request(world, 3)
    step = world.act("pull_request", world.pr_event(3, head, main))
    assert step.code == 0, step.stdout
    assert step.outputs["verdict"] == "no_baseline"
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "neutral"
    assert check.output["title"].endswith("neutral: no-baseline is neutral")
    assert check.output["summary"].startswith("**Why this check is neutral:**")


def test_no_baseline_fail_fails_the_check_and_the_step(world: World) -> None:
    main, head = _unrecorded_pull_request(world, 4)
    step = world.act("pull_request", world.pr_event(4, head, main), **{"no-baseline": "fail"})
    assert step.code == 1, step.stdout
    assert step.outputs["verdict"] == "no_baseline"
    (check,) = world.fake.check_runs(REPO, head)
    assert check.name == check_name("qa")
    assert check.conclusion == "failure"
    assert check.output["title"].startswith("❌ ")
    assert "failed: no-baseline is fail" in check.output["title"]
    assert "Record a run on `main`" in check.output["summary"]


def test_no_baseline_pass_passes_the_check(world: World) -> None:
    main, head = _unrecorded_pull_request(world, 5)
    step = world.act("pull_request", world.pr_event(5, head, main), **{"no-baseline": "pass"})
    assert step.code == 0, step.stdout
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    assert check.output["summary"].startswith("**Why this check passed:**")


def test_the_base_branchs_first_run_is_never_a_failure(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main work")
    step = world.act("push", world.push_event(main, first), **{"no-baseline": "fail"})
    assert step.code == 0, step.stdout
    assert step.outputs["verdict"] == "no_baseline"
    (check,) = world.fake.check_runs(REPO, main)
    assert check.conclusion == "neutral"
    assert check.output["title"].endswith("neutral: recorded on the base branch")

    # And the next pull request finds that run: the policy no longer comes into it.
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("a change")
    world.fake.add_pull(REPO, 6, head_sha=head, base_sha=main, head_ref="feature")
    gated = world.act("pull_request", world.pr_event(6, head, main), **{"no-baseline": "fail"})
    assert gated.code == 0, gated.stdout
    assert gated.outputs["verdict"] == "pass"
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "success"
    assert "no-baseline" not in check.output["title"] + check.output["summary"]


def test_a_bad_value_names_the_input(world: World) -> None:
    world.commit("base")
    step = world.act(
        "push",
        world.push_event(git(world.repo, "rev-parse", "HEAD"), "0" * 40),
        **{"no-baseline": "block"},
    )
    assert step.code == 2
    assert "no-baseline" in step.stdout
    assert "neutral" in step.stdout and "fail" in step.stdout


def test_publish_applies_its_own_steps_no_baseline(world: World) -> None:
    """A fork's pull request without a baseline: the fork's run leaves the artifact; the
    publish step's `no-baseline: fail` fails the check it posts."""
    world.commit("base")
    main = world.commit("main work")
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("from a fork")
    world.fake.add_pull(REPO, 9, head_sha=head, base_sha=main, head_repo="stranger/bot")
    forked = world.act("pull_request", world.pr_event(9, head, main, fork=True), token="fork")
    assert forked.code == 0, forked.stdout
    world.upload(7001, head_sha=head)
    published = world.publish(world.run_event(head, run_id=7001), **{"no-baseline": "fail"})
    assert published.code == 0, published.stdout
    (check,) = world.fake.check_runs(REPO, head)
    assert check.conclusion == "failure"
    assert "failed: no-baseline is fail" in check.output["title"]


def test_an_unknown_baseline_experiment_id_stops_before_the_command(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main work")
    step = world.act(
        "push",
        world.push_event(main, first),
        **{"baseline-experiment-id": "0c4d1da7-0000-4000-8000-00000000dead@2"},
    )
    assert step.code == 2, step.stdout
    (error,) = [line for line in step.stdout.splitlines() if line.startswith("::error")]
    assert "Input baseline-experiment-id: no experiment" in error
    assert "leave the baseline out" in error
    # The command never ran (it prints its experiment's URL), and nothing was posted.
    assert "/llm/experiments/" not in step.stdout
    assert world.fake.check_runs(REPO, main) == []


def test_a_misspelt_rule_is_in_the_log_and_on_every_surface(world: World) -> None:
    (world.repo / "driftgate.toml").write_text('[metrics.corect]\nlevel = "warn"\n')
    first = world.commit("base")
    main = world.commit("main work")
    step = world.act("push", world.push_event(main, first))
    assert step.code == 0, step.stdout
    (notice,) = [x for x in step.stdout.splitlines() if "matches no evaluator" in x]
    assert notice.startswith("::notice")
    assert "did you mean 'correct'?" in notice
    (check,) = world.fake.check_runs(REPO, main)
    for surface in (step.summary, check.output["summary"]):
        assert "matches no evaluator of the compared experiments (did you mean 'correct'?)" in (
            surface
        )
