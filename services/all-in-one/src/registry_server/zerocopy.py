"""uvicorn's httptools protocol plus the ASGI file-sending extension (``http.response.zerocopysend``).

uvicorn (0.54) implements neither ``pathsend`` nor ``zerocopysend``, so a blob GET would otherwise read the file
in a worker thread and hand each chunk to the transport (a thread hop and two copies per 64 KiB). With this
protocol the blob route hands over an open file and the server sends it from the event loop, straight to the
connection's socket (``dup``-ed so that the loop can watch it for writability next to the transport that owns
it), waiting for the socket to drain between writes. The response head still goes through uvicorn, which also
finishes the response (keep-alive, pipelining) as for any other body.

How the bytes move is measured, not assumed (``bench/RESULTS.md``), and differs between machines: on one, 1 MiB
``preadv`` + ``write`` beat ``os.sendfile`` (loopback, 64 MiB: 1.9-2.2 GB/s against 1.3-1.4), on another of the
same kind ``sendfile`` beat the copies by ~1.45x at two thirds of the CPU. ``sendfile`` is the default (no copy
through user space, as nginx's ``sendfile on``); ``http.sendfile: false`` selects the copies, which cost one 1 MiB
buffer per response in flight. A file system that cannot ``sendfile`` gets the copies by itself.

Who sends: a thread of its own per download, while one of ``COPY_THREADS`` is free: it blocks in ``sendfile`` (or
``preadv`` and ``write``) and ``poll``, all of which release the GIL, so that concurrent downloads send on every
core (an event loop sends on one). Further downloads copy on the event loop, so that slow clients holding every
thread hold up nobody: reads the page cache holds inline (``RWF_NOWAIT``, as nginx reads), reads that would wait
for the disk in a thread, writes when the socket is writable.

Under TLS (``http.tls``) the extension is not offered: the socket carries TLS records, so blob bodies go through
the TLS transport as any other body.

Extension message (https://asgi.readthedocs.io/en/latest/extensions.html#zero-copy-send)::

    {"type": "http.response.zerocopysend", "file": <file with fileno()>, "offset": int?, "count": int?,
     "more_body": bool?}
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from registry_core.storage.nowait import read_if_cached
from registry_core.web.zerocopy import ZERO_COPY

STALL_TIMEOUT = 120.0
"""Seconds a client may take to accept any more bytes before the connection is closed."""
HEAD_FLUSH_POLL = 0.0005
CHUNK = 1 << 20
"""Bytes per read and write: the fastest size measured (32 KiB ran at 0.4x, 256 KiB at 0.9x of it)."""
COPY_THREADS = 2 * (os.cpu_count() or 1)
"""Downloads copied by threads at once (2 per core measured better than 1 with 4 clients on 2 cores)."""
STOP_POLL = 1.0
"""Seconds between two looks of a waiting copy thread at whether its response was cancelled."""
SENDFILE_PIECE = 4 << 20
"""Bytes per ``sendfile`` call: between two looks at whether the response was cancelled."""
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}

_copiers = ThreadPoolExecutor(max_workers=COPY_THREADS, thread_name_prefix="blob-copy")
_free_copiers = threading.BoundedSemaphore(COPY_THREADS)

Message = dict[str, Any]
ASGIApp = Any


class ZeroCopyHttpToolsProtocol(HttpToolsProtocol):
    """``http="httptools"`` whose scopes offer ``http.response.zerocopysend``."""

    sendfile = True
    """The copier threads send with ``sendfile`` (else with 1 MiB copies)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not _is_tls(self.transport):  # bytes written to the raw socket would bypass the TLS layer
            self.scope["extensions"] = {ZERO_COPY: {}}  # type: ignore[typeddict-unknown-key]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGIApp) -> None:
        async def app_with_zero_copy(scope: Any, receive: Any, send: Any) -> None:
            async def send_or_send_file(message: Message) -> None:
                if message["type"] != ZERO_COPY:
                    await send(message)
                elif await _send_file(cycle, message, self.sendfile):  # then end (or continue) the body as uvicorn does
                    await send({"type": "http.response.body", "more_body": message.get("more_body", False)})

            await app(scope, receive, send_or_send_file)

        super()._start_asgi_task(cycle, app_with_zero_copy)


def _is_tls(transport: asyncio.BaseTransport) -> bool:
    """True for a TLS connection (uvloop and asyncio transports both expose these), where the socket carries
    records, so the file cannot be sent to it: such responses go through the transport as any other body."""
    return transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("ssl_object") is not None


async def _send_file(cycle: RequestResponseCycle, message: Message, sendfile: bool) -> bool:
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
        await _send_range(transport.get_extra_info("socket").fileno(), file.fileno(), offset, count, sendfile)
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


async def _send_range(socket_fd: int, file_fd: int, offset: int, count: int, sendfile: bool) -> None:
    if not _free_copiers.acquire(blocking=False):
        await _copy_on_loop(socket_fd, file_fd, offset, count)
        return
    # The thread gets descriptors of its own and closes them: were a cancelled response to close the file while
    # the thread still read it, its number could be reused by another file, whose bytes would go to this client.
    try:
        out, source = os.dup(socket_fd), os.dup(file_fd)
    except OSError:
        _free_copiers.release()
        raise
    stop = threading.Event()
    pieces = _sendfile_pieces if sendfile else _copied_pieces
    copy = asyncio.get_running_loop().run_in_executor(
        _copiers, _send_in_thread, pieces(out, source, offset, count), out, source, stop
    )
    # Never cancelled itself: a copy cancelled before its thread took it would leave its descriptors open and its
    # slot taken. A cancelled response sets ``stop`` instead, which the thread sees before its next write.
    copy.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved if nobody awaits it
    try:
        await asyncio.shield(copy)
    finally:
        stop.set()


def _send_in_thread(pieces: Iterator[int], out: int, source: int, stop: threading.Event) -> None:
    """One download, blocking, on a copier thread; owns ``out``, ``source`` and its copier slot."""
    try:
        writable = select.poll()
        writable.register(out, select.POLLOUT)
        stalled_since: float | None = None
        for sent in pieces:
            if stop.is_set():
                raise ConnectionAbortedError("the response was cancelled")
            if sent:
                stalled_since = None
                continue
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > STALL_TIMEOUT:
                raise TimeoutError("the client stopped reading")
            writable.poll(STOP_POLL * 1000)
    finally:
        os.close(out)
        os.close(source)
        _free_copiers.release()


def _copied_pieces(out: int, source: int, offset: int, count: int) -> Iterator[int]:
    """Sends the range by 1 MiB ``preadv`` and ``write`` to a non-blocking ``out``; yields the bytes each write
    sent, 0 when the socket is full."""
    buffer = memoryview(bytearray(min(CHUNK, count)))
    while count:
        read = os.preadv(source, [buffer[: min(len(buffer), count)]], offset)
        if read == 0:
            raise OSError(f"the file ended {count} bytes early")
        pending = buffer[:read]
        while pending:
            try:
                written = os.write(out, pending)
            except BlockingIOError:
                yield 0
                continue
            pending = pending[written:]
            yield written
        offset += read
        count -= read


def _sendfile_pieces(out: int, source: int, offset: int, count: int) -> Iterator[int]:
    """Sends the range by ``sendfile`` to a non-blocking ``out``, or by copies if the file system cannot; yields
    the bytes each call sent, 0 when the socket is full."""
    while count:
        try:
            sent = os.sendfile(out, source, offset, min(count, SENDFILE_PIECE))
        except BlockingIOError:
            yield 0
            continue
        except OSError as exc:
            if exc.errno not in _NO_SENDFILE:
                raise
            yield from _copied_pieces(out, source, offset, count)
            return
        if sent == 0:
            raise OSError(f"the file ended {count} bytes early")
        offset += sent
        count -= sent
        yield sent


async def _copy_on_loop(socket_fd: int, file_fd: int, offset: int, count: int) -> None:
    """One download's copy on the event loop, waiting for the socket to drain between writes."""
    loop = asyncio.get_running_loop()
    out = os.dup(socket_fd)  # our own descriptor to watch: the transport owns socket_fd's registration
    buffer = memoryview(bytearray(min(CHUNK, count)))
    device = os.fstat(file_fd).st_dev
    try:
        while count:
            read = await _read(loop, file_fd, device, buffer[: min(len(buffer), count)], offset)
            if read == 0:  # an OSError, so that _send_file ends the connection
                raise OSError(f"the file ended {count} bytes early")
            pending = buffer[:read]
            while pending:
                try:
                    pending = pending[os.write(out, pending) :]
                except BlockingIOError:
                    await _writable(loop, out)
            offset += read
            count -= read
    finally:
        os.close(out)


async def _read(loop: asyncio.AbstractEventLoop, fd: int, device: int, into: memoryview, offset: int) -> int:
    """Bytes read into ``into`` from ``offset``: inline what the page cache holds, in a thread what it does not
    (or what a file system ``device`` without no-wait reads holds)."""
    read = read_if_cached(fd, [into], offset, device)
    if read is not None:
        return read
    return await loop.run_in_executor(None, os.preadv, fd, [into], offset)


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
