"""A client that hangs up in the middle of a request body costs one log line (no traceback), and the server
serves on."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from registry_process import RunningRegistry, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with serving(tmp_path_factory.mktemp("abort")) as running:
        yield running


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_client_hanging_up_mid_body_costs_one_log_line(registry: RunningRegistry, method: str) -> None:
    host, port = registry.host.split(":")
    started = httpx.post(f"{registry.url}/v2/aborted/{method.lower()}/blobs/uploads/", timeout=30)
    assert started.status_code == 202
    location = started.headers["Location"]
    target = location if method == "PATCH" else f"{location}?digest=sha256:{'0' * 64}"
    assert registry.process is not None
    before = len(registry.process.output())
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {4 << 20}\r\n\r\n".encode())
        sock.sendall(b"x" * (1 << 20))  # a quarter of the body, then hang up
    line = f"{method} {location}: the client disconnected before the end of the request body"
    deadline = time.monotonic() + 30
    while line not in registry.process.output()[before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{registry.url}/v2/", timeout=30).status_code == 200  # and the server serves on
    logged = registry.process.output()[before:]
    assert logged.count(line) == 1, logged[-3000:]
    assert "Traceback" not in logged and "ERROR" not in logged, logged[-3000:]
