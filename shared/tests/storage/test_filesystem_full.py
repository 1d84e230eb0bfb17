"""The filesystem driver on a full disk (a real, size-limited tmpfs): ``StorageFullError``, and nothing
half-written stays (a writer's file keeps the pieces it completed, a whole-file write leaves no temporary file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageFullError
from registry_core.storage.filesystem import WRITE_BUFFER, FilesystemDriver
from registry_core.testing.mounts import MountUnavailable, tmpfs

CAPACITY = "2m"
PIECE = WRITE_BUFFER


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    try:
        with tmpfs(tmp_path / "small", size=CAPACITY) as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"needs a size-limited tmpfs: {exc}")


def files_below(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_a_writer_keeps_its_complete_pieces_and_resumes_once_space_is_freed(small_disk: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(small_disk / "root"))
    data = os.urandom(4 * PIECE)
    writer = await driver.writer("/upload/data", append=True)
    with pytest.raises(StorageFullError) as full:
        for start in range(0, len(data), PIECE // 4):
            await writer.write(data[start : start + PIECE // 4])
        await writer.close()
    assert full.value.driver == "filesystem" and full.value.path == "/upload/data"
    stored = (small_disk / "root" / "upload" / "data").read_bytes()
    assert len(stored) % PIECE == 0  # the failed piece was truncated away, whole
    assert writer.size == len(stored) == (await driver.stat("/upload/data")).size
    assert stored == data[: len(stored)]
    await writer.close()  # closed already: a no-op

    with pytest.raises(ValueError):
        await writer.write(b"more")
    resumed = await driver.writer("/upload/data", append=True)
    assert resumed.size == len(stored)
    await resumed.cancel()
    assert files_below(small_disk) == []


async def test_a_commit_that_finds_no_space_keeps_what_was_stored(small_disk: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(small_disk / "root"))
    writer = await driver.writer("/upload/data", append=True)
    await writer.write(b"x" * 1000)
    await writer.close()
    writer = await driver.writer("/upload/data", append=True)
    (small_disk / "filler").write_bytes(b"\0" * (PIECE + PIECE // 2))
    await writer.write(os.urandom(PIECE // 2 + 4096))  # buffered: only commit writes it, and it does not fit
    with pytest.raises(StorageFullError):
        await writer.commit()
    assert writer.size == (await driver.stat("/upload/data")).size == 1000
    assert (small_disk / "root" / "upload" / "data").read_bytes() == b"x" * 1000
    await writer.cancel()  # a failed writer may still be cancelled
    assert files_below(small_disk) == ["filler"]


async def test_a_whole_file_write_that_finds_no_space_leaves_nothing(small_disk: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(small_disk / "root"))
    with pytest.raises(StorageFullError):
        await driver.put_content("/blobs/sha256/ab/abcd/data", os.urandom(3 * PIECE))
    assert files_below(small_disk) == []
    assert list((small_disk / "root").iterdir()) == []  # nor the directories made for it
    await driver.put_content("/blobs/sha256/ab/abcd/data", b"fits")  # the same write, once it fits
    assert await driver.get_content("/blobs/sha256/ab/abcd/data") == b"fits"
