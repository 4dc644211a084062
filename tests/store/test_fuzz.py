"""The store fuzzed from its own OpenAPI document with schemathesis: no request, however
hostile, may answer 5xx.

schemathesis lives in the `fuzz` dependency group, in an environment of its own; run with
    uv run --isolated --frozen --group fuzz pytest tests/store/test_fuzz.py
(.ci/run does). Derandomized with a bounded number of examples per operation, so a red run
can be re-run and the whole takes about a minute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

FUZZ_COMMAND = "uv run --isolated --frozen --group fuzz pytest tests/store/test_fuzz.py"
schemathesis = pytest.importorskip(
    "schemathesis", reason=f"schemathesis is in the fuzz group; run: {FUZZ_COMMAND}"
)

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from driftgate.store.app import StoreApp  # noqa: E402
from driftgate.store.db import Store  # noqa: E402
from driftgate.store.openapi import document  # noqa: E402
from driftgate.store.server import BackgroundStore  # noqa: E402

EXAMPLES = 25  # per operation and generation mode


def _table() -> list[tuple[str, str, Any]]:
    store = Store(":memory:")
    try:
        return StoreApp(store).table()
    finally:
        store.close()


@pytest.fixture(scope="module")
def fuzzed_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStore]:
    with BackgroundStore(str(Path(tmp_path_factory.mktemp("fuzz")) / "store.db")) as store:
        yield store


def _seed(url: str) -> dict[str, str]:
    """A project, a dataset with a record and an experiment, so that generated requests reach
    past the 404 of an unknown id into the code that handles real rows."""
    http = httpx.Client(base_url=url)

    def post(path: str, attrs: dict[str, Any]) -> Any:
        resp = http.post(path, json={"data": {"type": "x", "attributes": attrs}})
        resp.raise_for_status()
        return resp.json()

    v1 = "/api/unstable/llm-obs/v1"
    pid = post(f"{v1}/projects", {"name": "fuzz"})["data"]["id"]
    did = post(f"{v1}/{pid}/datasets", {"name": "fuzz"})["data"]["id"]
    post(f"{v1}/{pid}/datasets/{did}/batch_update", {"insert_records": [{"input": {"q": 1}}]})
    eid = post(f"{v1}/experiments", {"name": "fuzz", "project_id": pid, "dataset_id": did})
    return {"project_id": pid, "dataset_id": did, "experiment_id": eid["data"]["id"]}


ANSWERS: Counter[int] = Counter()
"""Every generated request's status: the run's figures, printed at the end."""


@pytest.fixture(scope="module", autouse=True)
def _tally(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    shown = ", ".join(f"{status}: {n}" for status, n in sorted(ANSWERS.items()))
    # On the terminal, past pytest's capture, so that the figures are in CI's log.
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nfuzz: {sum(ANSWERS.values())} requests; by status {shown}")


@pytest.fixture(scope="module")
def seeded(fuzzed_store: BackgroundStore) -> tuple[str, dict[str, str]]:
    return fuzzed_store.url, _seed(fuzzed_store.url)


# Loaded from the document the store serves, built without a server: schemathesis's
# fixture-loaded schemas (`from_fixture`) do not run under pytest 9.
schema = schemathesis.openapi.from_dict(document([(m, p, h.__name__) for m, p, h in _table()]))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=True,
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_answers_5xx(case: Any, seeded: tuple[str, dict[str, str]]) -> None:
    url, ids = seeded
    if case.path_parameters:
        case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
    response = case.call_and_validate(base_url=url, checks=[not_a_server_error])
    ANSWERS[response.status_code] += 1
