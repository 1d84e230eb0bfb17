"""``http.limits`` as ``registry serve all`` enforces them (``registry_server/limits.py``), seen from raw sockets:
an oversize request head gets ``431`` and the connection closed, a head that stalls gets ``408`` and the
connection closed, and what stays within the limits (big heads, kept-alive connections idle for longer than the
head timeout) is served as before."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from raw_http import BOUND, read_response, read_until_closed
from registry_process import RunningRegistry, serving

pytestmark = pytest.mark.integration

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    limits = {"maxheaderbytes": MAX_HEAD, "headertimeout": f"{HEAD_TIMEOUT:g}s"}
    with serving(tmp_path_factory.mktemp("limits"), limits=limits) as running:
        yield running


def connect(registry: RunningRegistry) -> socket.socket:
    host, port = registry.host.split(":")
    sock = socket.create_connection((host, int(port)), timeout=BOUND)
    return sock


def head(*headers: str, target: str = "/v2/") -> bytes:
    return "".join([f"GET {target} HTTP/1.1\r\nHost: registry\r\n", *(f"{h}\r\n" for h in headers), "\r\n"]).encode()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(["X-Big: " + "a" * (1 << 20)], id="one-1MiB-header"),
        pytest.param([f"X-Many-{i}: " + "b" * 100 for i in range(2000)], id="2000-small-headers"),
        pytest.param([], id="a-long-url"),
    ],
)
def test_an_oversize_head_gets_431_and_the_connection_is_closed(registry: RunningRegistry, headers: list[str]) -> None:
    target = "/v2/?" + "q" * (2 * MAX_HEAD) if not headers else "/v2/"
    with connect(registry) as sock:
        sock.sendall(head(*headers, target=target))
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"\r\nconnection: close\r\n" in response.lower()


def test_a_head_just_under_the_limit_is_served(registry: RunningRegistry) -> None:
    request = head("X-Padding: ")
    padded = head("X-Padding: " + "p" * (MAX_HEAD - len(request) - 64))
    assert MAX_HEAD - 100 < len(padded) < MAX_HEAD
    with connect(registry) as sock:
        for _ in range(2):  # and the connection stays usable
            sock.sendall(padded)
            status, body = read_response(sock)
            assert status == b"HTTP/1.1 200 OK" and body == b"{}"


def test_a_head_sent_in_pieces_under_the_limit_is_served(registry: RunningRegistry) -> None:
    request = head("X-Padding: " + "p" * (MAX_HEAD // 2))
    with connect(registry) as sock:
        for start in range(0, len(request), 1000):
            sock.sendall(request[start : start + 1000])
        status, _ = read_response(sock)
    assert status == b"HTTP/1.1 200 OK"


def test_a_stalled_head_gets_408_and_the_connection_is_closed(registry: RunningRegistry) -> None:
    with connect(registry) as sock:
        sock.sendall(head("X-Half: yes")[:30])  # the request line and half a header, then nothing
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_a_connection_that_sends_nothing_is_closed(registry: RunningRegistry) -> None:
    with connect(registry) as sock:
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_may_idle_longer_than_the_head_timeout(registry: RunningRegistry) -> None:
    """Between requests the keep-alive idle timeout applies (``idletimeout``, 120 s), not the head timeout."""
    with connect(registry) as sock:
        for _ in range(3):
            sock.sendall(head())
            status, body = read_response(sock)
            assert status == b"HTTP/1.1 200 OK" and body == b"{}"
            time.sleep(2 * HEAD_TIMEOUT)


def test_the_refusals_are_logged_as_one_line_each(registry: RunningRegistry) -> None:
    with connect(registry) as sock:
        sock.sendall(head("X-Big: " + "a" * (2 * MAX_HEAD)))
        read_until_closed(sock)
    assert registry.process is not None
    log = registry.process.output()
    assert "431 Request Header Fields Too Large: request head over 16384 bytes" in log
    assert "Traceback" not in log
    assert "Invalid HTTP request" not in log
