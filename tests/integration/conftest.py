"""The real registry for client tests: ``registry serve all`` as a subprocess, filesystem storage, deletes on.

Set ``TEST_REGISTRY_URL`` (``http://host:port``) to run the client tests against a registry already running
instead (the compose stack, or the Go registry for comparison).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from registry_process import RunningRegistry, serving, wait_until_ready


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One registry for the session: ``registry serve all --config <tmp>/config.yml --port <free port>``."""
    if external := os.environ.get("TEST_REGISTRY_URL"):
        wait_until_ready(external, None)
        yield RunningRegistry(external.rstrip("/"))
        return
    with serving(tmp_path_factory.mktemp("registry")) as running:
        yield running
