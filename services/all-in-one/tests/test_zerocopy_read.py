"""The event-loop copy of a blob (``zerocopy._copy_on_loop``) from a file on a real tmpfs, which refuses the
no-wait reads that copy tries first: every byte still arrives."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core.testing.mounts import MountUnavailable, tmpfs
from registry_server.zerocopy import _copy_on_loop

SIZE = (3 << 20) + 5  # a few 1 MiB reads, the last one short


@pytest.fixture
def tmpfs_dir(tmp_path: Path) -> Iterator[Path]:
    try:
        with tmpfs(tmp_path / "tmpfs") as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"no tmpfs: {exc}")


async def test_copy_on_loop_from_tmpfs(tmpfs_dir: Path) -> None:
    data = os.urandom(SIZE)
    path = tmpfs_dir / "blob"
    path.write_bytes(data)
    server, client = socket.socketpair()
    server.setblocking(False)
    received = bytearray()

    def receive() -> None:
        with client:
            while len(received) < SIZE and (chunk := client.recv(1 << 20)):
                received.extend(chunk)

    reading = asyncio.get_running_loop().run_in_executor(None, receive)
    fd = os.open(path, os.O_RDONLY)
    try:
        await asyncio.wait_for(_copy_on_loop(server.fileno(), fd, 0, SIZE), 60)
    finally:
        os.close(fd)
        server.close()
    await asyncio.wait_for(reading, 60)
    assert bytes(received) == data
