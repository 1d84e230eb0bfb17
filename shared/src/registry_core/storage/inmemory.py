"""A driver that keeps files in a dict: for tests and throwaway registries. Nothing survives the process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from registry_core.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
)

CHUNK = 1 << 20


@dataclass
class _File:
    data: bytearray = field(default_factory=bytearray)
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


class InMemoryDriver(StorageDriver):
    name = "inmemory"

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}

    # -- helpers -------------------------------------------------------------------------------------
    def _file(self, path: str) -> _File:
        try:
            return self._files[path]
        except KeyError:
            raise PathNotFoundError(path) from None

    def _below(self, path: str) -> list[str]:
        prefix = "/" if path == "/" else path + "/"
        return [p for p in self._files if p.startswith(prefix)]

    def _is_dir(self, path: str) -> bool:
        return bool(self._below(path))

    # -- contract ------------------------------------------------------------------------------------
    async def get_content(self, path: str) -> bytes:
        return bytes(self._file(path).data)

    async def put_content(self, path: str, content: bytes) -> None:
        self._files[path] = _File(bytearray(content))

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:  # type: ignore[override]
        f = self._file(path)
        if offset < 0 or offset > len(f.data):
            raise InvalidOffsetError(path, f"offset {offset} beyond size {len(f.data)}")
        view = memoryview(f.data)
        for start in range(offset, len(f.data), CHUNK):
            yield bytes(view[start : start + CHUNK])

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        existing = self._files.get(path)
        initial = bytearray(existing.data) if append and existing is not None else bytearray()
        return _InMemoryWriter(self, path, initial)

    async def stat(self, path: str) -> FileInfo:
        if path in self._files:
            f = self._files[path]
            return FileInfo(path, len(f.data), f.modified, is_dir=False)
        below = self._below(path)
        if not below:
            if path == "/":
                return FileInfo(path, 0, datetime.now(UTC), is_dir=True)
            raise PathNotFoundError(path)
        return FileInfo(path, 0, max(self._files[p].modified for p in below), is_dir=True)

    async def list(self, path: str) -> list[str]:
        below = self._below(path)
        if not below and path != "/":
            raise PathNotFoundError(path)
        prefix = "/" if path == "/" else path + "/"
        return sorted({prefix + p[len(prefix) :].split("/", 1)[0] for p in below})

    async def move(self, source: str, dest: str) -> None:
        f = self._file(source)
        del self._files[source]  # first: dest may be the source itself or a directory above it
        for p in self._below(dest):
            del self._files[p]
        self._files[dest] = f
        f.modified = datetime.now(UTC)

    async def delete(self, path: str) -> None:
        doomed = self._below(path) + ([path] if path in self._files else [])
        if not doomed:
            raise PathNotFoundError(path)
        for p in doomed:
            del self._files[p]

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:  # type: ignore[override]
        if path != "/" and not self._is_dir(path):
            if path in self._files:
                return
            raise PathNotFoundError(path)
        for child in await self.list(path):
            info = await self.stat(child)
            yield info
            if info.is_dir:
                async for sub in self.walk(child):
                    yield sub


class _InMemoryWriter(FileWriter):
    def __init__(self, driver: InMemoryDriver, path: str, data: bytearray) -> None:
        self._driver, self._path, self._data = driver, path, data
        self._done = False

    @property
    def size(self) -> int:
        return len(self._data)

    def _check(self) -> None:
        if self._done:
            raise ValueError("writer already closed")

    async def write(self, data: bytes) -> int:
        self._check()
        self._data += data
        return len(data)

    async def _persist(self) -> None:
        self._check()
        self._done = True
        self._driver._files[self._path] = _File(self._data)

    async def close(self) -> None:
        if not self._done:
            await self._persist()

    async def commit(self) -> None:
        await self._persist()

    async def cancel(self) -> None:
        self._check()
        self._done = True
        self._driver._files.pop(self._path, None)
