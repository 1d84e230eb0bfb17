"""``registry serve all`` as a subprocess for the client tests: filesystem storage, deletes on, a free port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, start_registry, stop

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


def wait_until_ready(url: str, process: Process | None, ready_status: int = 200) -> None:
    """Until ``GET /v2/`` answers ``ready_status`` (401 where ``auth`` is configured)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/v2/", timeout=2.0).status_code == ready_status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    log = process.output()[-4000:] if process is not None else ""
    raise RuntimeError(f"the registry at {url} did not answer GET /v2/ {ready_status} within {READY_TIMEOUT}s\n{log}")


@contextmanager
def serving(directory: Path, *, root: Path | None = None, **http: Any) -> Iterator[RunningRegistry]:
    """``registry serve all`` on a free port while the block runs: filesystem storage under ``root`` (default
    ``directory/data``), deletes on, ``http`` added to the ``http`` section (``sendfile=False``, say); ready to
    answer. The configuration and the log go to ``directory``."""
    port = free_port()
    http_section = {"addr": f"127.0.0.1:{port}", **http}
    text = filesystem_config(root or directory / "data", log_level="info", http=http_section)
    with serving_config(directory, text, port) as running:
        yield running


@contextmanager
def serving_config(
    directory: Path, config_text: str, port: int, *, ready_status: int = 200
) -> Iterator[RunningRegistry]:
    """``registry serve all`` with the configuration ``config_text`` (written to ``directory/config.yml``) on
    ``port`` while the block runs, ready to answer (``GET /v2/`` answering ``ready_status``: 401 with ``auth``)."""
    config = directory / "config.yml"
    config.write_text(config_text)
    process = start_registry("all", config, directory, port=port)
    try:
        wait_until_ready(process.url, process, ready_status)
        yield RunningRegistry(process.url, process)
    finally:
        stop(process.proc)
