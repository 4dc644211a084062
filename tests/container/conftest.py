"""Container tests: the Action's image built from the Dockerfile and run as GitHub's runner runs
it. They need a Docker engine and minutes on a cold machine, so they run only when asked:
DRIFTGATE_CONTAINER_TESTS=1 (tests/container/run.sh sets it). Asked and Docker cannot be had,
they fail with the reason; never asked, they are skipped and say how to ask."""

from __future__ import annotations

import os

import pytest

from tests.container.harness import ContainerUnavailable, ensure_image

ENABLED = os.environ.get("DRIFTGATE_CONTAINER_TESTS") == "1"
# A cold machine installs Docker, debootstraps a base image and builds the image first.
COLD_BUILD_TIMEOUT = 1800


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "container: builds the Action's Docker image and runs it the way GitHub's runner does "
        "(needs Docker; runs only with DRIFTGATE_CONTAINER_TESTS=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(
        reason="container test: set DRIFTGATE_CONTAINER_TESTS=1, or run tests/container/run.sh "
        "(installs and starts Docker, builds the image, runs these)"
    )
    for item in items:
        if item.get_closest_marker("container") is None:
            continue
        if ENABLED:
            item.add_marker(pytest.mark.timeout(COLD_BUILD_TIMEOUT))
        else:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def action_image() -> str:
    """The Action's image, built from the working tree (cached layers make this quick)."""
    try:
        return ensure_image(timeout=COLD_BUILD_TIMEOUT)
    except ContainerUnavailable as exc:
        reason = str(exc)
    pytest.fail(f"DRIFTGATE_CONTAINER_TESTS=1 but Docker cannot be used: {reason}", pytrace=False)
