"""uvicorn's httptools protocol plus the ASGI zero-copy send extension (``http.response.zerocopysend``).

uvicorn (0.54) implements neither ``pathsend`` nor ``zerocopysend``, so a blob GET would otherwise read the
file into Python and write it back out (two copies and a thread hop per chunk). With this protocol the blob
route hands over an open file and the kernel sends it: ``os.sendfile`` on the connection's socket, non-blocking,
from the event loop, waiting for the socket to drain between calls (the socket is ``dup``-ed so that the loop
can watch it for writability next to the transport that owns it). The response head still goes through
uvicorn, which also finishes the response (keep-alive, pipelining) as for any other body.

Extension message (https://asgi.readthedocs.io/en/latest/extensions.html#zero-copy-send)::

    {"type": "http.response.zerocopysend", "file": <file with fileno()>, "offset": int?, "count": int?,
     "more_body": bool?}
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ZERO_COPY = "http.response.zerocopysend"
STALL_TIMEOUT = 120.0
"""Seconds a client may take to accept any more bytes before the connection is closed."""
HEAD_FLUSH_POLL = 0.0005

Message = dict[str, Any]
ASGIApp = Any


class ZeroCopyHttpToolsProtocol(HttpToolsProtocol):
    """``http="httptools"`` whose scopes offer ``http.response.zerocopysend``."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {ZERO_COPY: {}}  # type: ignore[typeddict-unknown-key]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGIApp) -> None:
        async def app_with_zero_copy(scope: Any, receive: Any, send: Any) -> None:
            async def send_or_sendfile(message: Message) -> None:
                if message["type"] != ZERO_COPY:
                    await send(message)
                elif await _sendfile(cycle, message):  # then end (or continue) the body as uvicorn does
                    await send({"type": "http.response.body", "more_body": message.get("more_body", False)})

            await app(scope, receive, send_or_sendfile)

        super()._start_asgi_task(cycle, app_with_zero_copy)


def http_protocol() -> type[HttpToolsProtocol] | str:
    """The ``http=`` for ``uvicorn.run``: this protocol, or plain ``httptools`` if uvicorn lacks its hooks."""
    hooks = ("on_message_begin", "_start_asgi_task")
    return ZeroCopyHttpToolsProtocol if all(hasattr(HttpToolsProtocol, h) for h in hooks) else "httptools"


async def _sendfile(cycle: RequestResponseCycle, message: Message) -> bool:
    """Send the message's file range on ``cycle``'s connection; False if the connection is gone (closed)."""
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"{ZERO_COPY} outside a response body")
    if cycle.chunked_encoding:
        raise RuntimeError(f"{ZERO_COPY} needs a Content-Length response")
    file = message["file"]
    offset = message.get("offset")
    offset = file.tell() if offset is None else offset
    count = message.get("count")
    count = os.fstat(file.fileno()).st_size - offset if count is None else count
    if cycle.disconnected or cycle.scope["method"] == "HEAD" or count == 0:
        return not cycle.disconnected
    if count > cycle.expected_content_length:
        raise RuntimeError("Response content longer than Content-Length")
    transport = cycle.transport
    try:
        await _flushed(transport)
        await _send_range(transport.get_extra_info("socket").fileno(), file.fileno(), offset, count)
    except (OSError, TimeoutError):  # the client went away, stalled, or the file shrank: end the connection
        transport.close()
        cycle.disconnected = True
        return False
    if message.get("offset") is None:
        file.seek(offset + count)
    cycle.expected_content_length -= count
    return True


async def _flushed(transport: asyncio.WriteTransport) -> None:
    """Wait until the transport's own buffer (the response head) has reached the socket."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STALL_TIMEOUT
    while transport.get_write_buffer_size():
        if transport.is_closing() or loop.time() > deadline:
            raise ConnectionError("the connection closed before the body")
        await asyncio.sleep(HEAD_FLUSH_POLL)


async def _send_range(socket_fd: int, file_fd: int, offset: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    out = os.dup(socket_fd)  # our own descriptor to watch: the transport owns socket_fd's registration
    try:
        while count:
            try:
                sent = os.sendfile(out, file_fd, offset, count)
            except BlockingIOError:
                await _writable(loop, out)
                continue
            if sent == 0:  # an OSError, so that _sendfile ends the connection
                raise OSError(f"the file ended {count} bytes early")
            offset += sent
            count -= sent
    finally:
        os.close(out)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()

    def on_writable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, on_writable)
    try:
        await asyncio.wait_for(ready, STALL_TIMEOUT)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_writer(fd)
