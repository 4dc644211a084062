"""`check_explicit`: an explicit baseline read before anything runs, against the real store.
Every refusal is a `RefError` (exit 2) naming what is wrong and the fix."""

from __future__ import annotations

import pytest

from driftgate.errors import EXIT_USAGE
from driftgate.experiments.baseline import RefError, check_explicit
from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.store.server import BackgroundStore
from tests.storeapi import Api


@pytest.fixture
def recorded(store: BackgroundStore) -> tuple[ExperimentsClient, str]:
    api = Api(store.url)
    project = api.project()
    dataset = api.dataset(project)["id"]
    eid = str(api.experiment(project, dataset, "answers", ensure_unique=True)["id"])
    api.patch(eid, status="completed")
    return ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url})), eid


def test_a_recorded_experiment_and_its_run_are_accepted(
    recorded: tuple[ExperimentsClient, str],
) -> None:
    client, eid = recorded
    with client:
        info, run = check_explicit(client, eid)
        assert (info.id, run) == (eid, None)
        assert check_explicit(client, f" {eid}@1 ")[1] == 1


@pytest.mark.parametrize(
    ("ref", "said"),
    [
        (
            "0c4d1da7-0000-4000-8000-00000000dead",
            "no experiment '0c4d1da7-0000-4000-8000-00000000dead' in the store: give the id "
            "or name of a recorded run",
        ),
        ("{eid}@2", "has no run 2: it has 1 run (use @1 to @1, or no @ for all of them)"),
        ("{eid}@0", "the run after @ must be a number from 1"),
        ("{eid}@two", "the run after @ must be a number from 1"),
        ("@2", "names no experiment: give its id, as in ID or ID@2"),
    ],
)
def test_a_bad_reference_is_a_usage_error_that_says_the_fix(
    recorded: tuple[ExperimentsClient, str], ref: str, said: str
) -> None:
    client, eid = recorded
    with client, pytest.raises(RefError) as raised:
        check_explicit(client, ref.format(eid=eid), "the store")
    assert said in str(raised.value)
    assert raised.value.exit_code == EXIT_USAGE
