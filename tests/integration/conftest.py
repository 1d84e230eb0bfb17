"""The real registry for client tests: ``registry serve all`` as a subprocess, filesystem storage, deletes on.

Set ``TEST_REGISTRY_URL`` (``http://host:port``) to run the client tests against a registry already running
instead (the compose stack, or the Go registry for comparison).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from registry_core.testing.servers import Process, free_port, start_registry, stop

CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunningRegistry:
    url: str
    """``http://host:port``."""
    process: Process | None = None
    """The server this session started, if it started one."""

    @property
    def host(self) -> str:
        """``host:port``, as image references name the registry."""
        return self.url.split("://", 1)[1].rstrip("/")


def wait_until_ready(url: str, process: Process | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/v2/", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    log = process.output()[-4000:] if process is not None else ""
    raise RuntimeError(f"the registry at {url} did not answer GET /v2/ within {READY_TIMEOUT}s\n{log}")


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One registry for the session: ``registry serve all --config <tmp>/config.yml --port <free port>``."""
    if external := os.environ.get("TEST_REGISTRY_URL"):
        wait_until_ready(external, None)
        yield RunningRegistry(external.rstrip("/"))
        return
    directory = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=directory / "data", port=port))
    process = start_registry("all", config, directory, port=port)
    try:
        wait_until_ready(process.url, process)
        yield RunningRegistry(process.url, process)
    finally:
        stop(process.proc)
