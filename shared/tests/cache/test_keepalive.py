"""The keep-alive HTTP client of the remote descriptor cache, against small asyncio servers that misbehave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from registry_core.blobs.keepalive import HttpError, KeepAlivePool
from registry_core.testing.servers import free_port

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"a": true}'

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a free port running ``handler`` per connection; yields its URL and a connection counter."""
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answering(response: bytes, *, then_close: bool = False) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(response)
            await writer.drain()
            if then_close:
                return

    return handle


async def test_requests_share_one_keep_alive_connection() -> None:
    async with serving(answering(OK)) as (url, connections):
        pool = KeepAlivePool(url, timeout=5)
        for _ in range(5):
            response = await pool.request("PUT", "/x", {"b": 1})
            assert response.status == 200 and response.json() == {"a": True}
        await pool.aclose()
    assert len(connections) == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with serving(answering(OK, then_close=True)) as (url, connections):
        pool = KeepAlivePool(url, timeout=5)
        for _ in range(3):
            assert (await pool.request("GET", "/x")).status == 200
        await pool.aclose()
    assert len(connections) == 3


async def test_connection_close_and_a_body_up_to_the_close() -> None:
    response = b"HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n{}"
    async with serving(answering(response, then_close=True)) as (url, connections):
        pool = KeepAlivePool(url, timeout=5)
        for _ in range(2):
            answer = await pool.request("GET", "/missing")
            assert (answer.status, answer.body) == (404, b"{}")
        await pool.aclose()
    assert len(connections) == 2


async def test_a_hung_server_costs_at_most_the_timeout() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns once the client gives up and closes

    async with serving(hang) as (url, _):
        pool = KeepAlivePool(url, timeout=0.2)
        start = time.monotonic()
        with pytest.raises(HttpError):
            await pool.request("GET", "/x")
        assert time.monotonic() - start < 2, "bounded by the timeout, not by the server"
        await pool.aclose()


async def test_refused_and_unreadable_answers_are_http_errors() -> None:
    pool = KeepAlivePool(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(HttpError):
        await pool.request("GET", "/x")
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    async with serving(answering(chunked)) as (url, _):
        pool = KeepAlivePool(url, timeout=1)
        with pytest.raises(HttpError):
            await pool.request("GET", "/x")
        await pool.aclose()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError):
        KeepAlivePool("redis://127.0.0.1:6379")
