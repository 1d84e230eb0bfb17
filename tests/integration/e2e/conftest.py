"""The compose stack under test, as ``make e2e`` (deploy/e2e.sh) started it.

``E2E_GATEWAY`` is the gateway's URL (``http://127.0.0.1:<port>``), ``E2E_COMPOSE`` the compose command line of
the stack (``docker-compose -p ... -f deploy/compose.yml -f deploy/compose.local.yml``), ``E2E_BASE_IMAGE`` the
local base image test images are built from. Without them every test here is skipped.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from e2e_stack import Stack

STORAGE_CHECK_LAST = "test_e2e_storage_check.py"
MEASUREMENTS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def stack() -> Stack:
    gateway = os.environ.get("E2E_GATEWAY")
    compose = os.environ.get("E2E_COMPOSE")
    if not gateway or not compose:
        pytest.skip("no compose stack: run `make e2e` (E2E_GATEWAY and E2E_COMPOSE unset)")
    stack = Stack(gateway.rstrip("/"), tuple(shlex.split(compose)), os.environ.get("E2E_BASE_IMAGE", ""))
    assert httpx.get(f"{stack.gateway}/v2/", timeout=10).status_code == 200
    return stack


@pytest.fixture
def report(request: pytest.FixtureRequest) -> list[str]:
    """Lines a test reports (measurements): printed at the end of the run."""
    return request.config.stash.setdefault(MEASUREMENTS, [])


@pytest.fixture
def docker_images() -> Iterator[list[str]]:
    """Image references a test creates on the host's Docker; removed afterwards."""
    created: list[str] = []
    yield created
    if created:
        subprocess.run(["docker", "rmi", "-f", *created], capture_output=True, timeout=120, check=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The storage check runs last: it checks what every other test left behind."""
    items.sort(key=lambda item: item.path.name == STORAGE_CHECK_LAST)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(MEASUREMENTS, [])
    if lines:
        terminalreporter.section("e2e measurements")
        for line in lines:
            terminalreporter.line(line)
