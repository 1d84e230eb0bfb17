"""Streaming readers and writers: large files, offsets, resumable appends, cancel, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Iterable, Iterator

import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import FileWriter, InvalidOffsetError, PathNotFoundError, StorageError

MiB = 1024 * 1024


def _data(size: int, seed: int) -> bytes:
    """Deterministic, incompressible bytes."""
    return random.Random(seed).randbytes(size)


def _pieces(total: int, piece: int, seed: int) -> Iterator[bytes]:
    """``total`` deterministic bytes, generated ``piece`` bytes at a time (the last piece shorter)."""
    rng = random.Random(seed)
    for start in range(0, total, piece):
        yield rng.randbytes(min(piece, total - start))


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _write_all(writer: FileWriter, pieces: Iterable[bytes]) -> None:
    for piece in pieces:
        assert await writer.write(piece) == len(piece)


async def _read(driver: CheckedDriver, path: str, offset: int = 0) -> bytes:
    return b"".join([chunk async for chunk in driver.reader(path, offset)])


async def test_large_file_roundtrip(driver: CheckedDriver) -> None:
    total = 64 * MiB
    writer = await driver.writer("/large/file")
    written = hashlib.sha256()
    for piece in _pieces(total, MiB + 7, seed=64):
        assert await writer.write(piece) == len(piece)
        written.update(piece)
    assert writer.size == total
    await writer.commit()
    assert (await driver.stat("/large/file")).size == total

    read, size = hashlib.sha256(), 0
    async for chunk in driver.reader("/large/file"):
        read.update(chunk)
        size += len(chunk)
    assert (size, read.hexdigest()) == (total, written.hexdigest())
    await driver.delete("/large")


OFFSET_CONTENT = _data(5 * MiB // 2 + 3, seed=7)  # spans several read chunks of every driver
SIZE = len(OFFSET_CONTENT)


@pytest.mark.parametrize(
    "offset", [0, 1, SIZE // 2 + 1, MiB, SIZE - 1, SIZE], ids=["zero", "one", "middle", "MiB", "last", "size"]
)
async def test_reader_from_offset(driver: CheckedDriver, offset: int) -> None:
    await driver.put_content("/offset/file", OFFSET_CONTENT)
    assert await _read(driver, "/offset/file", offset) == OFFSET_CONTENT[offset:]
    await driver.delete("/offset")


@pytest.mark.parametrize("offset", [-1, SIZE + 1, SIZE + MiB], ids=["negative", "size+1", "size+MiB"])
async def test_reader_invalid_offset(driver: CheckedDriver, offset: int) -> None:
    await driver.put_content("/offset/file", OFFSET_CONTENT)
    stream = driver.reader("/offset/file", offset)  # raises on the first iteration, not before
    with pytest.raises(InvalidOffsetError) as info:
        await anext(stream)
    assert isinstance(info.value, ValueError)
    assert driver.name in str(info.value)
    await driver.delete("/offset")


async def test_writer_empty_file(driver: CheckedDriver) -> None:
    writer = await driver.writer("/empty/file")
    assert writer.size == 0
    await writer.commit()
    info = await driver.stat("/empty/file")
    assert (info.size, info.is_dir) == (0, False)
    assert await driver.get_content("/empty/file") == b""
    assert await _read(driver, "/empty/file") == b""
    await driver.delete("/empty")


async def test_writer_replaces_content(driver: CheckedDriver) -> None:
    await driver.put_content("/replace/file", b"the old content, longer than the new one")
    writer = await driver.writer("/replace/file")
    assert writer.size == 0
    await writer.write(b"new")
    await writer.commit()
    assert await driver.get_content("/replace/file") == b"new"
    await driver.delete("/replace")


async def test_writer_append_to_missing_path_starts_empty(driver: CheckedDriver) -> None:
    writer = await driver.writer("/append/file", append=True)
    assert writer.size == 0
    await writer.write(b"fresh")
    await writer.commit()
    assert await driver.get_content("/append/file") == b"fresh"
    await driver.delete("/append")


@pytest.mark.parametrize(
    "sizes",
    [[10, 20, 30], [6 * MiB, 3 * MiB], [100, 6 * MiB, 10]],
    ids=["small", "across-chunksize", "small-then-large"],
)
@pytest.mark.parametrize("reopen", [False, True], ids=["same-instance", "new-instance"])
async def test_writer_resume(
    driver: CheckedDriver, open_driver: Callable[[], CheckedDriver], sizes: list[int], reopen: bool
) -> None:
    """Write a part, close, resume with ``append=True`` (in this or a new driver instance), ..., commit."""
    parts = [_data(n, seed=i) for i, n in enumerate(sizes)]
    so_far = 0
    for i, part in enumerate(parts):
        instance = open_driver() if reopen and i > 0 else driver
        writer = await instance.writer("/resume/file", append=i > 0)
        assert writer.size == so_far
        await _write_all(writer, _chunks(part, MiB + 7))
        so_far += len(part)
        assert writer.size == so_far
        await (writer.commit() if i == len(parts) - 1 else writer.close())
    assert (await driver.stat("/resume/file")).size == so_far
    assert await driver.get_content("/resume/file") == b"".join(parts)
    await driver.delete("/resume")


@pytest.mark.parametrize("size", [1000, 6 * MiB], ids=["small", "across-chunksize"])
@pytest.mark.parametrize("resumed", [False, True], ids=["fresh", "after-close-and-append"])
async def test_writer_cancel(driver: CheckedDriver, size: int, resumed: bool) -> None:
    await driver.put_content("/cancel/keep", b"sibling")
    writer = await driver.writer("/cancel/dir/file")
    await writer.write(_data(size, seed=1))
    if resumed:
        await writer.close()
        writer = await driver.writer("/cancel/dir/file", append=True)
        assert writer.size == size
        await writer.write(b"more")
    await writer.cancel()

    with pytest.raises(PathNotFoundError):
        await driver.stat("/cancel/dir/file")
    assert await driver.list("/cancel") == ["/cancel/keep"]
    again = await driver.writer("/cancel/dir/file", append=True)
    assert again.size == 0, "a cancelled upload must not be resumable"
    await again.cancel()
    await driver.delete("/cancel")


@pytest.mark.parametrize("finish", ["close", "commit", "cancel"])
async def test_finished_writer_refuses_writes(driver: CheckedDriver, finish: str) -> None:
    writer = await driver.writer("/finished/file")
    await writer.write(b"abc")
    await getattr(writer, finish)()
    with pytest.raises((ValueError, StorageError)):
        await writer.write(b"more")
    if finish == "close":  # the refused write did not land: a resumed writer continues after "abc"
        resumed = await driver.writer("/finished/file", append=True)
        assert resumed.size == 3
        await resumed.cancel()
    elif finish == "commit":
        assert await driver.get_content("/finished/file") == b"abc"
        await driver.delete("/finished")


async def test_concurrent_writers(driver: CheckedDriver) -> None:
    async def write(i: int) -> bytes:
        data = _data(MiB + 1000 * i, seed=100 + i)
        writer = await driver.writer(f"/concurrent/{i}/data")
        for chunk in _chunks(data, 256 * 1024 + i):
            await writer.write(chunk)
            await asyncio.sleep(0)  # interleave the writers
        await writer.commit()
        return data

    written = await asyncio.gather(*(write(i) for i in range(8)))
    for i, data in enumerate(written):
        assert await driver.get_content(f"/concurrent/{i}/data") == data
    assert await driver.list("/concurrent") == [f"/concurrent/{i}" for i in range(8)]
    await driver.delete("/concurrent")
