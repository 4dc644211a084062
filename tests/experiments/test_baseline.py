"""Baseline resolution and experiment discovery against the real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from driftgate.experiments.baseline import RefError, lookup, resolve, split_run
from driftgate.experiments.client import ExperimentsClient, NotFoundError, backend_from_env
from driftgate.experiments.discover import (
    DiscoveryError,
    WaitPolicy,
    find_experiments,
    wait_until_finished,
)
from driftgate.experiments.models import ExperimentInfo
from driftgate.store.server import BackgroundStore
from tests.storeapi import Api


class World:
    def __init__(self, store: BackgroundStore) -> None:
        self.api = Api(store.url)
        self.client = ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url}))
        self.project = self.api.project()
        self.dataset = self.api.dataset(self.project)["id"]

    def run(
        self,
        name: str,
        commit: str | None,
        branch: str | None = None,
        status: str = "completed",
        **meta: Any,
    ) -> str:
        tags = [f"git.commit.sha:{commit}"] if commit else []
        if branch:
            tags.append(f"git.branch:{branch}")
        tags += [f"{k}:{v}" for k, v in meta.pop("tags", {}).items()]
        eid = self.api.experiment(
            self.project, self.dataset, name, metadata={"tags": tags, **meta}, ensure_unique=True
        )["id"]
        if status != "pending":
            self.api.patch(eid, status=status)
        return str(eid)

    def info(self, eid: str) -> ExperimentInfo:
        return self.client.get_experiment(eid)


@pytest.fixture
def world(store: BackgroundStore) -> Iterator[World]:
    w = World(store)
    yield w
    w.client.close()


def test_split_run() -> None:
    assert split_run("abc") == ("abc", None)
    assert split_run("abc@3") == ("abc", 3)
    with pytest.raises(ValueError, match="abc@2"):
        split_run("abc@x")


def test_explicit_baseline_wins(world: World) -> None:
    older = world.run("cap", "c1")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, explicit=f"{older}@2", ancestors=["c1"])
    assert choice.experiment is not None
    assert choice.experiment.id == older
    assert choice.run == 2
    assert choice.reason == f"chosen explicitly ({older}@2)"


def test_merge_base_and_first_parent_ancestors(world: World) -> None:
    world.run("cap", "c3")
    at_c1_old = world.run("cap", "c1")
    at_c1_new = world.run("cap", "c1")
    world.run("cap", "c1", status="running")  # not finished: never a baseline
    world.run("other-experiment", "m")  # another logical experiment at the merge-base
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["m", "c1", "c2", "c3"], base_branch="main")
    assert choice.experiment is not None
    assert choice.experiment.id == at_c1_new != at_c1_old  # the newest run at that commit
    assert choice.reason == "the newest run at c1, 1 commit before the merge-base on main"


def test_the_merge_base_itself(world: World) -> None:
    at_m = world.run("cap", "m" * 40)
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["m" * 40], base_branch="main")
    assert choice.experiment is not None
    assert choice.experiment.id == at_m
    assert choice.reason == f"the newest run at {'m' * 12}, the merge-base on main"


def test_on_the_base_branch_the_previous_commits_are_named_as_such(world: World) -> None:
    at_p = world.run("cap", "p1")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(
        world.client, candidate, ancestors=["p0", "p1"], base_branch="main", on_base_branch=True
    )
    assert choice.experiment is not None
    assert choice.experiment.id == at_p
    assert choice.reason == "the newest run at p1, 2 commits before the head on main"


def test_abbreviated_commits_match(world: World) -> None:
    at_m = world.run("cap", "abcdef1")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["abcdef1234567890"])
    assert choice.experiment is not None
    assert choice.experiment.id == at_m


def test_interrupted_runs_and_the_candidate_itself_are_skipped(world: World) -> None:
    world.run("cap", "m", status="interrupted")
    candidate = world.info(world.run("cap", "m"))  # a push to main: the head is the merge-base
    choice = resolve(world.client, candidate, ancestors=["m"])
    assert choice.experiment is None
    assert choice.reason.startswith("1 other run of 'cap' exists but none qualified (1 not ")
    assert "wait until they finish, or look for a crashed script" in choice.reason
    assert [(c.commit, c.why) for c in choice.considered] == [
        ("m", "interrupted before it finished")
    ]


def test_base_branch_metadata_when_history_has_no_run(world: World) -> None:
    world.run("cap", "f1", branch="feature")
    on_main = world.run("cap", "x1", branch="main")
    world.run("cap", "f2", branch="feature")
    candidate = world.info(world.run("cap", "head", branch="feature"))
    choice = resolve(world.client, candidate, ancestors=["m", "p"], base_branch="main")
    assert choice.experiment is not None
    assert choice.experiment.id == on_main
    assert (
        choice.reason == "the newest run recorded on main (none at the merge-base or its ancestors)"
    )
    keyed = world.api.experiment(
        world.project, world.dataset, "cap", metadata={"branch": "release"}
    )["id"]
    world.api.patch(keyed, status="completed")
    choice = resolve(world.client, candidate, base_branch="release")
    assert choice.experiment is not None
    assert choice.experiment.id == keyed


def test_scripts_that_name_every_run_match_by_pipeline(world: World) -> None:
    base = world.run("capitals-1001", "m", tags={"ci.pipeline": "capitals"})
    world.run("capitals-eval-9", "m")  # a name that starts like the pipeline is not one of its
    world.run("summaries-1002", "m", tags={"ci.pipeline": "summaries"})
    candidate = world.info(world.run("capitals-1003", "head", tags={"ci.pipeline": "capitals"}))
    choice = resolve(world.client, candidate, ancestors=["m"], pipeline="capitals")
    assert choice.experiment is not None
    assert choice.experiment.id == base


def test_other_projects_are_not_baselines(world: World) -> None:
    other_project = world.api.project("elsewhere")
    other_dataset = world.api.dataset(other_project)["id"]
    eid = world.api.experiment(
        other_project, other_dataset, "cap", metadata={"tags": ["git.commit.sha:m"]}
    )["id"]
    world.api.patch(eid, status="completed")
    candidate = world.info(world.run("cap", "head"))
    assert resolve(world.client, candidate, ancestors=["m"]).experiment is None


# -- the logical experiment: names, pipelines, per-run names ------------------------------


def test_a_pipeline_that_prefixes_the_experiment_name_finds_its_runs(world: World) -> None:
    """The README's `pipeline: support-bot` with a script's `support-bot-eval`, untagged."""
    on_main = world.run("support-bot-eval", "m")
    candidate = world.info(world.run("support-bot-eval", "head"))
    for pipeline in ("support-bot", "support-bot-eval", "elsewhere", None):
        choice = resolve(world.client, candidate, ancestors=["m"], pipeline=pipeline)
        assert choice.experiment is not None, (pipeline, choice.reason)
        assert choice.experiment.id == on_main


def test_per_run_names_without_tags_match_by_their_shape(world: World) -> None:
    base = world.run("arith-local-20250102T030405.000001Z", "m")
    world.run("arith-eval-local-20250102T030405.000002Z", "m")  # another pipeline's
    candidate = world.info(world.run("arith-local-20250102T040405.000003Z", "head"))
    choice = resolve(world.client, candidate, ancestors=["m"], pipeline="arith")
    assert choice.experiment is not None
    assert choice.experiment.id == base
    # GitHub's numeric run ids (and a re-run's attempt) are recognised for the named pipeline.
    gh_base = world.run("triage-9876543210-2", "g")
    gh_candidate = world.info(world.run("triage-9876543299", "head"))
    choice = resolve(world.client, gh_candidate, ancestors=["g"], pipeline="triage")
    assert choice.experiment is not None
    assert choice.experiment.id == gh_base
    # ...and only for it: without the pipeline, "triage-98..." is just a name.
    assert resolve(world.client, gh_candidate, ancestors=["g"]).experiment is None


def test_experiments_of_one_pipeline_under_fixed_names_stay_apart(world: World) -> None:
    tags = {"ci.pipeline": "arith"}
    world.run("products", "m", tags=tags)
    sums = world.run("sums", "p", tags=tags)
    candidate = world.info(world.run("sums", "head", tags=tags))
    choice = resolve(world.client, candidate, ancestors=["m", "p"], pipeline="arith")
    assert choice.experiment is not None
    assert choice.experiment.id == sums


def test_dirty_runs_are_never_chosen_unless_named(world: World) -> None:
    dirty = world.run("cap", "m", branch="main", tags={"git.dirty": "true"})
    clean = world.run("cap", "p", branch="main")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["m", "p"], base_branch="main")
    assert choice.experiment is not None
    assert choice.experiment.id == clean
    assert choice.reason == "the newest run at p, 1 commit before the merge-base on main"
    named = resolve(world.client, candidate, explicit=dirty, ancestors=["m"])
    assert named.experiment is not None and named.experiment.id == dirty
    assert "uncommitted changes (git.dirty), so it is used only because it was named" in (
        named.reason
    )
    # Metadata `dirty: true` (DRIFTGATE_METADATA) counts as well.
    keyed = world.api.experiment(
        world.project, world.dataset, "keyed", metadata={"commit": "m", "dirty": True}
    )["id"]
    world.api.patch(keyed, status="completed")
    other = world.info(world.run("keyed", "head"))
    choice = resolve(world.client, other, ancestors=["m"], base_branch="main")
    assert choice.experiment is None
    assert choice.reason.startswith("1 other run of 'keyed' exists but none qualified")
    assert "commit your changes and run again on main" in choice.reason
    assert [c.id for c in choice.considered] == [keyed]


def test_runs_at_this_very_commit_are_named_as_such(world: World) -> None:
    """A second run on the same main commit: the first is there, and said to be."""
    sha = "a" * 40
    first = world.run("cap", sha, branch="main")
    candidate = world.info(world.run("cap", sha, branch="main"))
    choice = resolve(
        world.client,
        candidate,
        ancestors=["b" * 40, "c" * 40],
        base_branch="main",
        on_base_branch=True,
    )
    assert choice.experiment is None
    assert "no commit history" not in choice.reason
    assert "at this very commit" in choice.reason
    assert f"the earlier runs at {'a' * 12} are this commit's own" in choice.reason
    assert "searched the 2 commits of main before this one" in choice.reason
    assert [(c.id, c.why) for c in choice.considered] == [
        (first, f"at this very commit {'a' * 12}: a commit is not its own baseline")
    ]


def test_runs_off_the_history_say_where_they_are(world: World) -> None:
    feature = world.run("cap", "f" * 40, branch="feature")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["m" * 40], base_branch="main")
    assert choice.experiment is None
    assert choice.reason.startswith(
        "1 other run of 'cap' exists but none qualified (1 on other branches or commits; "
        f"searched the merge-base {'m' * 12} and 0 earlier commits): record a run on main"
    )
    assert [(c.id, c.branch, c.why) for c in choice.considered] == [
        (feature, "feature", f"at {'f' * 12} on feature, not an ancestor of the merge-base on main")
    ]
    without_history = resolve(world.client, candidate, base_branch="main")
    assert "no commit history was available" in without_history.reason
    assert without_history.considered[0].why == f"at {'f' * 12} on feature, not recorded on main"


def test_a_first_run_says_so_and_near_names_are_named(world: World) -> None:
    candidate = world.info(world.run("refunds", "head"))
    choice = resolve(world.client, candidate, ancestors=["m"], base_branch="main")
    assert choice.experiment is None
    assert choice.reason.startswith("this is the first run of 'refunds' (searched the merge-base")
    assert choice.considered == ()
    renamed = world.run("refund-eval", "m", branch="main")
    world.run("capitals", "m", branch="main")
    choice = resolve(world.client, candidate, ancestors=["m"], base_branch="main")
    assert choice.experiment is None
    assert "runs of near names exist: 'refund-eval' (1 run(s))" in choice.reason
    assert "give the script's LLMObs.experiment the same name as before" in choice.reason
    assert [c.id for c in choice.considered] == [renamed]


def test_runs_in_another_project_are_named(world: World) -> None:
    other_project = world.api.project("elsewhere")
    other_dataset = world.api.dataset(other_project)["id"]
    eid = world.api.experiment(
        other_project, other_dataset, "cap", metadata={"tags": ["git.commit.sha:m"]}
    )["id"]
    world.api.patch(eid, status="completed")
    candidate = world.info(world.run("cap", "head"))
    choice = resolve(world.client, candidate, ancestors=["m"])
    assert choice.experiment is None
    assert "1 run(s) of it are in another project" in choice.reason
    assert "record with the same project_name" in choice.reason
    assert [c.id for c in choice.considered] == [eid]


def test_a_reference_may_be_a_name_when_only_one_run_bears_it(world: World) -> None:
    eid = world.run("solo", "m")
    info = world.info(eid)
    assert lookup(world.client, info.name)[0].id == eid  # the run's name, as reports show it
    assert lookup(world.client, "solo@2") == (info, 2)  # the experiment's name
    again = world.run("solo", "p")
    with pytest.raises(RefError, match="'solo' is ambiguous: 2 runs belong to the experiment") as e:
        lookup(world.client, "solo")
    assert eid in str(e.value) and again in str(e.value)
    with pytest.raises(NotFoundError, match="no experiment has the id or name 'nothing'"):
        lookup(world.client, "nothing")


# -- discovery ------------------------------------------------------------------------------


def test_printed_urls_come_first(world: World) -> None:
    a, b = world.run("cap", "head"), world.run("cap2", "head")
    found, how = find_experiments(world.client, [b, a], "head", datetime.now(UTC))
    assert [e.id for e in found] == [b, a]
    assert how == "the experiment URLs the command printed"


def test_an_unknown_printed_id_is_an_error(world: World) -> None:
    with pytest.raises(DiscoveryError, match="does not know"):
        find_experiments(
            world.client, ["00000000-0000-4000-8000-000000000000"], "head", datetime.now(UTC)
        )


def test_by_commit_since_the_command_started(world: World) -> None:
    started = datetime.now(UTC)
    by_tag = world.run("cap", "abc123")
    keyed = world.api.experiment(
        world.project, world.dataset, "other", metadata={"commit": "abc123"}
    )["id"]
    world.run("cap", "zzz")  # another commit
    found, how = find_experiments(world.client, [], "abc123", started)
    assert [e.id for e in found] == [by_tag, keyed]
    assert "for commit abc123" in how
    later, _ = find_experiments(world.client, [], "abc123", started + timedelta(hours=1))
    assert later == []


def test_experiments_from_before_the_command_are_not_its(world: World) -> None:
    started = datetime.now(UTC)
    earlier = world.run("cap", "abc123")  # a previous run of the same commit, moments ago
    mine = world.run("cap", "abc123")
    found, _ = find_experiments(world.client, [], "abc123", started, existing={earlier})
    assert [e.id for e in found] == [mine]


def test_waiting_polls_until_finished(world: World) -> None:
    eid = world.run("cap", "head", status="running")
    progress: list[str] = []
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            world.api.patch(eid, status="completed")

    done = wait_until_finished(
        world.client, [world.info(eid)], WaitPolicy(), progress.append, sleep=sleep
    )
    assert done[0].status == "completed"
    assert done[0].aggregate_data is not None
    assert sleeps == [0.05, 0.1]  # a short first poll, then twice as late each time
    assert "waiting for 1 experiment to finish" in progress[0]


def test_waiting_has_a_limit(world: World) -> None:
    eid = world.run("cap", "head", status="running")
    ticks = iter(range(0, 1000, 100))
    with pytest.raises(DiscoveryError, match=r"did not finish within 300 s .*is running"):
        wait_until_finished(
            world.client,
            [world.info(eid)],
            WaitPolicy(timeout_s=300),
            lambda _: None,
            sleep=lambda _: None,
            clock=lambda: float(next(ticks)),
        )
