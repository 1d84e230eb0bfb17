"""Reading HTTP/1.1 responses off raw sockets, for tests that need to see what the server does with the
connection itself (keeps it, closes it, resets it)."""

from __future__ import annotations

import socket
import time

import pytest

BOUND = 30.0
"""Seconds any wait here may take before the test fails: generous, never a measured threshold."""


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails if it keeps it open for ``BOUND``)."""
    received = b""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            pytest.fail(f"the connection was reset (the response may be lost); received {received[:200]!r}")
        if not data:
            return received
        received += data
    pytest.fail(f"the connection was still open after {BOUND}s; received {received[:200]!r}")


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """The status line and the body (by Content-Length) of the next response; the connection stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        assert data, f"the connection closed after {received!r}"
        received += data
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    length = next(int(v) for k, _, v in (line.partition(b": ") for line in lines[1:]) if k.lower() == b"content-length")
    while len(body) < length:
        data = sock.recv(65536)
        assert data, "the connection closed in the middle of a body"
        body += data
    assert len(body) == length, "more bytes than the Content-Length"
    return lines[0], body
