"""A minimal HTTP/1.1 client over a blocking socket: cheaper per byte than any server it measures.

Bodies are sent straight from a ``memoryview`` (``sendall``: one kernel copy, none in Python) and large
responses are received with ``recv_into`` a preallocated buffer that is overwritten (only the byte count is
kept), so pushes and pulls cost the client little more than the loopback copy itself. It speaks
``Content-Length`` framing only, which is what both registries answer blob and upload requests with.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
RECV_CHUNK = 256 * 1024
SINK_SIZE = 4 << 20


class HttpError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    received: int = 0
    """Body bytes read (those of a body drained into a sink are not kept)."""

    def expect(self, *statuses: int) -> Response:
        if self.status not in statuses:
            raise HttpError(f"HTTP {self.status}, expected {statuses}: {self.body[:500]!r}")
        return self


@dataclass
class Connection:
    """One keep-alive connection to ``host:port``; reconnects when the server closed it."""

    host: str
    port: int
    timeout: float = 120.0
    _sock: socket.socket | None = field(default=None, repr=False)
    _buffer: bytearray = field(default_factory=bytearray, repr=False)

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer.clear()
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: Sequence[bytes | memoryview] = (),
        sink: memoryview | None = None,
    ) -> Response:
        """Send one request whose body is the concatenation of ``body``; read the whole response (the body into
        ``sink``, overwritten, when given)."""
        sock = self._connect()
        length = sum(len(piece) for piece in body)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {length}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for piece in body:
            sock.sendall(piece)
        response = self._read_head(sock)
        length = 0 if method == "HEAD" or response.status in (204, 304) else self._length(response)
        if sink is None:
            response.body = self._read_exact(sock, length)
            response.received = length
        else:
            response.received = self._drain(sock, length, sink)
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def _read_head(self, sock: socket.socket) -> Response:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > HEAD_LIMIT:
                raise HttpError("response head too long")
            chunk = sock.recv(RECV_CHUNK)
            if not chunk:
                self.close()
                raise HttpError("connection closed before a response")
            self._buffer += chunk
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(status, headers)

    @staticmethod
    def _length(response: Response) -> int:
        if "content-length" not in response.headers:
            raise HttpError(f"no Content-Length in a {response.status} response: {response.headers}")
        return int(response.headers["content-length"])

    def _read_exact(self, sock: socket.socket, length: int) -> bytes:
        while len(self._buffer) < length:
            chunk = sock.recv(max(RECV_CHUNK, length - len(self._buffer)))
            if not chunk:
                raise HttpError("connection closed mid-body")
            self._buffer += chunk
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def _drain(self, sock: socket.socket, length: int, sink: memoryview) -> int:
        already = min(len(self._buffer), length)
        del self._buffer[:already]
        remaining = length - already
        while remaining:
            n = sock.recv_into(sink, min(remaining, len(sink)))
            if n == 0:
                raise HttpError(f"connection closed {remaining} bytes before the body's end")
            remaining -= n
        return length


def target_of(location: str) -> str:
    """The request target (path and query) of a ``Location``, absolute (Go) or relative (ours)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(target: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{target}{'&' if '?' in target else '?'}{query}"


def new_sink() -> memoryview:
    return memoryview(bytearray(SINK_SIZE))
