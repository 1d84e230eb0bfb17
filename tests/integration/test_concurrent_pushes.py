"""Concurrent pushes through kept-alive connections lose nothing.

The pushes once lost requests to "Server disconnected without sending a response": uvicorn closed connections
idle for 5 s (its ``timeout_keep_alive``), exactly httpx's ``keepalive_expiry``, so a client could send a request
on a pooled connection at the moment the server closed it (``http.limits.idletimeout`` now defaults to 120 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from concurrent_pushes import plan, storm
from raw_http import read_response
from registry_process import RunningRegistry, serving
from storage_check import LAYOUT, check_storage

pytestmark = pytest.mark.integration

PUSHES = 40
ROUNDS = 3
SIZE = 32 << 20
CLIENT_IDLE_EXPIRY = 5.0
"""httpx's ``keepalive_expiry``: how long its pool reuses an idle connection."""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with serving(tmp_path_factory.mktemp("pushes")) as running:
        yield running


def storage_root(registry: RunningRegistry) -> Path:
    """The ``rootdirectory`` of the registry's filesystem storage."""
    assert registry.process is not None
    return registry.process.log.parent / "data"


def assert_stored(root: Path, data: bytes, repositories: set[str]) -> None:
    """The storage invariants hold, the blob is stored, every repository links it, and no upload is left."""
    check_storage(root)
    root = root / LAYOUT
    hex_digest = hashlib.sha256(data).hexdigest()
    blob = root / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"
    stored = blob.read_bytes()
    assert len(stored) == len(data) and hashlib.sha256(stored).hexdigest() == hex_digest
    for repository in repositories:
        link = root / "repositories" / repository / "_layers" / "sha256" / hex_digest / "link"
        assert link.read_text() == f"sha256:{hex_digest}", repository
        uploads = root / "repositories" / repository / "_uploads"
        assert not uploads.exists() or not any(uploads.iterdir()), f"uploads left in {repository}"


def test_concurrent_pushes_through_kept_alive_connections_all_succeed(registry: RunningRegistry) -> None:
    """Rounds of 40 pushes of one blob at once (half into one repository, half into one each; half chunked, half
    monolithic), every connection kept in the client's pool: every push is a 201 and the blob is stored right."""
    repositories = {job.repository for job in plan(PUSHES)}
    for _ in range(ROUNDS):
        data = os.urandom(SIZE)
        outcomes = asyncio.run(storm(registry.url, PUSHES, data, pooled=None))
        failed = [(o.push, o.status, o.error) for o in outcomes if o.status != 201]
        assert not failed
        assert_stored(storage_root(registry), data, repositories)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        pulled = httpx.get(f"{registry.url}/v2/{sorted(repositories)[0]}/blobs/{digest}", timeout=60)
        assert pulled.status_code == 200 and pulled.content == data


def test_an_idle_kept_alive_connection_outlives_the_clients_pool_expiry(registry: RunningRegistry) -> None:
    """The server must not close an idle connection a client may still reuse: after longer than httpx's expiry,
    the same connection still answers."""
    host, port = registry.host.split(":")
    request = f"GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for _ in range(2):
            sock.sendall(request)
            assert read_response(sock)[0] == b"HTTP/1.1 200 OK"
            time.sleep(CLIENT_IDLE_EXPIRY + 1)
        sock.sendall(request)
        assert read_response(sock)[0] == b"HTTP/1.1 200 OK"
