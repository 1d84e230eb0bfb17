"""uvicorn's httptools protocol with the limits a server facing clients needs (``http.limits``): a request head
(request line and headers) larger than ``max_head_bytes`` is answered ``431``, one not complete within
``head_timeout`` is answered ``408``, and kept-alive connections wait ``idle_timeout`` for their next request.

uvicorn has neither of the first two: httptools accumulates a header of any size, and a connection that sends
half a head is kept forever. Both refusals end the connection the way nginx and Go do ("lingering close"): the
response is written, the write side shut, and what the client still sends is read and dropped until it closes
(or ``LINGER`` seconds pass), so that the kernel does not answer its unread bytes with a reset that would
destroy the response before the client reads it.

The size is counted twice. Exactly, from the parser's callbacks: the URL as it arrives and each header once
complete (``name: value`` and its line end). And as a memory bound, in raw bytes: every read that arrives while a
head is incomplete, after the read in which it began (so that bytes of an earlier pipelined request in that read
never count); httptools buffers a header until its end, so this is what refuses a huge header sent in pieces.
"""

from __future__ import annotations

import asyncio
import http
import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("registry.http")

LINGER = 5.0
"""Seconds a refused connection is read from (and the bytes dropped) before it is closed: nginx's
``lingering_timeout``."""
LINE_OVERHEAD = 4
"""Bytes of a header line besides its name and value: ``": "`` and ``"\\r\\n"``."""
HOOKS = ("connection_made", "connection_lost", "data_received", "on_message_begin", "on_url", "on_header")
HOOKS += ("on_headers_complete", "_unset_keepalive_if_required", "_should_upgrade", "handle_websocket_upgrade")
HOOKS += ("_unsupported_upgrade_warning", "send_400_response")
"""What of uvicorn's ``HttpToolsProtocol`` this subclass relies on."""


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a head over the limit."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``http="httptools"`` with request-head limits and its own keep-alive idle timeout."""

    max_head_bytes: int = 64 * 1024
    head_timeout: float = 30.0
    idle_timeout: float = 120.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.timeout_keep_alive = self.idle_timeout  # instead of uvicorn's --timeout-keep-alive
        self._head_open = False
        """A request head has begun and is not complete."""
        self._head_bytes = 0
        """The head's size as the parser's callbacks report it."""
        self._head_reads = 0
        """Bytes of the reads after the one in which the head began."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        """A ``431`` or ``408`` was sent: what still arrives is dropped."""

    # -- the connection ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, plus the refusals (a ``431`` instead of its ``400`` when the limit stopped the parser)."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        head_began_earlier = self._head_open
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._head_bytes > self.max_head_bytes:
                self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        if head_began_earlier and self._head_open:
            self._head_reads += len(data)
            if self._head_reads > self.max_head_bytes:
                self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    # -- parser callbacks -------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes, self._head_reads = True, 0, 0
        if self._head_timer is None:  # else still running since the connection opened: one deadline for both
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + LINE_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            raise _HeadTooLarge

    # -- the head timer ---------------------------------------------------------------------------------------

    def _start_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._refused:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head stalls behind a response still being sent: end the connection after that response.
            self.cycle.keep_alive = False
            return
        if not self._head_open:  # connected, and never sent a byte: nothing to answer
            log.debug("%s: no request within %.0fs of connecting; closing", self._peer(), self.head_timeout)
            self.transport.close()
            return
        self._refuse(http.HTTPStatus.REQUEST_TIMEOUT)

    # -- refusing ---------------------------------------------------------------------------------------------

    def _refuse(self, status: http.HTTPStatus) -> None:
        """Answer ``status`` with ``Connection: close``, then end the connection without a reset."""
        self._refused, self._head_open = True, False
        self._cancel_head_timer()
        if status is http.HTTPStatus.REQUEST_TIMEOUT:
            why = f"request head not complete within {self.head_timeout:g}s"
        else:
            why = f"request head over {self.max_head_bytes} bytes"
        log.info("%s: %d %s: %s; closing the connection", self._peer(), status, status.phrase, why)
        body = f"{status.phrase}: {why}\n".encode()
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self._linger()

    def _linger(self) -> None:
        transport = self.transport
        if not transport.can_write_eof():  # TLS: no half-close; the response is flushed before the close
            transport.close()
            return
        transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER, transport.close)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"
