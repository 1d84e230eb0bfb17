"""``registry serve all`` as a subprocess for the client tests: filesystem storage, deletes on, a free port."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

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


def serve_all(directory: Path, http_settings: str = "") -> Process:
    """``registry serve all`` on a free port with this file's configuration, ``http_settings`` (YAML lines
    indented under ``http:``) added; ready to answer."""
    port = free_port()
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=directory / "data", port=port) + http_settings)
    process = start_registry("all", config, directory, port=port)
    try:
        wait_until_ready(process.url, process)
    except BaseException:
        stop(process.proc)
        raise
    return process
