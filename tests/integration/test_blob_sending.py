"""Blob bodies as ``registry serve`` sends them (the file-sending protocol, ``registry_server/zerocopy.py``), by
``sendfile`` and by copies (``http.sendfile: false``): whole and ranged, across 1 MiB pieces, from the page cache
and from the disk, on kept-alive connections, after a client that hung up in the middle of a body, and with more
downloads at once than copy threads."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from raw_http import read_response
from registry_process import RunningRegistry, serving

from registry_server.zerocopy import COPY_THREADS

pytestmark = pytest.mark.integration

REPO = "sending/blob"
SIZE = (5 << 19) + 17  # 2.5 MiB and a bit: three pieces, the last one short
BIG = 16 << 20  # more than the kernel's largest send buffer (4 MiB by default): the server's writes must wait


@pytest.fixture(scope="module", params=[True, False], ids=["sendfile", "copies"])
def registry_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    """A registry of this module's own (it reads the blob files), sending one way."""
    with serving(tmp_path_factory.mktemp("sending"), sendfile=request.param) as running:
        yield running


def push_blob(registry_server: RunningRegistry, size: int) -> tuple[bytes, str]:
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=registry_server.url, timeout=30) as client:
        started = client.post(f"/v2/{REPO}/blobs/uploads/")
        assert started.status_code == 202
        done = client.put(started.headers["Location"], params={"digest": digest}, content=data)
        assert done.status_code == 201, done.text
    return data, digest


@pytest.fixture(scope="module")
def blob(registry_server: RunningRegistry) -> tuple[bytes, str]:
    return push_blob(registry_server, SIZE)


@pytest.fixture(scope="module")
def big_blob(registry_server: RunningRegistry) -> tuple[bytes, str]:
    return push_blob(registry_server, BIG)


def slow_client(registry_server: RunningRegistry, digest: str) -> socket.socket:
    """A connection that has asked for the blob and reads nothing yet: with a 64 KiB receive buffer (set before
    connecting, so that the window is negotiated with it), the server's writes soon block on it."""
    host, port = registry_server.host.split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /v2/{REPO}/blobs/{digest} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def blob_file(registry_server: RunningRegistry, digest: str) -> Path:
    if registry_server.process is None:
        pytest.skip("needs the storage of the registry this session started")
    hex_digest = digest.split(":", 1)[1]
    root = registry_server.process.log.parent / "data" / "docker" / "registry" / "v2"
    return root / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"


def test_whole_blob_and_ranges_on_one_connection(registry_server: RunningRegistry, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    url = f"/v2/{REPO}/blobs/{digest}"
    with httpx.Client(base_url=registry_server.url, timeout=30) as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["Content-Length"] == str(SIZE)
        for first, last in [(0, 0), (1000, (1 << 20) + 5000), ((1 << 20) - 1, 1 << 20), (SIZE - 10, SIZE - 1)]:
            part = client.get(url, headers={"Range": f"bytes={first}-{last}"})
            assert part.status_code == 206
            assert part.content == data[first : last + 1]
            assert part.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
        head = client.head(url)
        assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == str(SIZE)
        assert client.get(url).content == data  # the connection still frames responses after all of them


def test_a_blob_that_is_not_in_the_page_cache(registry_server: RunningRegistry, blob: tuple[bytes, str]) -> None:
    """Reads that would wait for the disk go to a thread: evict the file's pages, then pull it."""
    data, digest = blob
    path = blob_file(registry_server, digest)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    response = httpx.get(f"{registry_server.url}/v2/{REPO}/blobs/{digest}", timeout=30)
    assert response.status_code == 200 and response.content == data


def test_a_client_hanging_up_mid_body_leaves_the_server_serving(
    registry_server: RunningRegistry, big_blob: tuple[bytes, str]
) -> None:
    data, digest = big_blob
    for _ in range(3):
        with slow_client(registry_server, digest) as sock:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    response = httpx.get(f"{registry_server.url}/v2/{REPO}/blobs/{digest}", timeout=30)
    assert response.status_code == 200 and response.content == data


def test_more_downloads_than_copy_threads(registry_server: RunningRegistry, big_blob: tuple[bytes, str]) -> None:
    """Clients that stop reading hold every copy thread and then some downloads on the event loop; another
    client's download still completes, and each stalled one completes whole once its client reads again."""
    data, digest = big_blob
    stalled: list[socket.socket] = []
    try:
        for _ in range(COPY_THREADS + 2):
            stalled.append(slow_client(registry_server, digest))
        response = httpx.get(f"{registry_server.url}/v2/{REPO}/blobs/{digest}", timeout=30)
        assert response.status_code == 200 and response.content == data
        for sock in stalled:
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == data
    finally:
        for sock in stalled:
            sock.close()
