"""The wrapper every driver is used through: path validation, tracing and error tagging in one place.

As the Go registry's ``driver/base``: drivers stay small, and no path that fails :data:`PATH_RE` (``..``,
empty segments, characters outside ``[A-Za-z0-9._-]``) ever reaches one. Each call is traced at debug level
with the driver's name, the path and the duration, and, when OpenTelemetry tracing is on, in a
``storage.<method>`` span (:func:`registry_core.spans.driver_span`); errors leave tagged with the driver's name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from registry_core import spans
from registry_core.storage.driver import (
    PATH_RE,
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    InvalidPathError,
    StorageDriver,
    StorageError,
)

log = logging.getLogger("registry.storage")


def check_path(path: str, *, root_ok: bool = False) -> str:
    if root_ok and path == "/":
        return path
    if not isinstance(path, str) or not PATH_RE.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise InvalidPathError(str(path), "invalid path")
    return path


class CheckedDriver(StorageDriver):
    """Wrap ``driver`` with validation, tracing and error tagging; behaves exactly as the driver otherwise."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self.name = driver.name

    @contextmanager
    def _traced(self, op: str, path: str, dest: str | None = None, *, iterating: bool = False) -> Iterator[None]:
        start = time.perf_counter()
        try:
            if spans.TRACER is None:  # tracing off: this check is all it costs
                yield
            else:
                with spans.driver_span(spans.TRACER, self.name, op, path, dest, current=not iterating):
                    yield
        except StorageError as exc:
            exc.tag(self.name)
            raise
        finally:
            if log.isEnabledFor(logging.DEBUG):
                shown = path if dest is None else f"{path} -> {dest}"
                log.debug("%s.%s(%s) %.3fms", self.name, op, shown, (time.perf_counter() - start) * 1e3)

    async def get_content(self, path: str) -> bytes:
        with self._traced("get_content", path):
            return await self.driver.get_content(check_path(path))

    async def put_content(self, path: str, content: bytes) -> None:
        with self._traced("put_content", path):
            await self.driver.put_content(check_path(path), content)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:  # type: ignore[override]
        with self._traced("reader", path, iterating=True):
            check_path(path)
            if offset < 0:
                raise InvalidOffsetError(path, f"negative offset {offset}")
            async for chunk in self.driver.reader(path, offset):
                yield chunk

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        with self._traced("writer", path):
            return await self.driver.writer(check_path(path), append=append)

    async def stat(self, path: str) -> FileInfo:
        with self._traced("stat", path):
            return await self.driver.stat(check_path(path, root_ok=True))

    async def list(self, path: str) -> list[str]:
        with self._traced("list", path):
            return await self.driver.list(check_path(path, root_ok=True))

    async def move(self, source: str, dest: str) -> None:
        with self._traced("move", source, dest):
            await self.driver.move(check_path(source), check_path(dest))

    async def delete(self, path: str) -> None:
        with self._traced("delete", path):
            await self.driver.delete(check_path(path))

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:  # type: ignore[override]
        with self._traced("walk", path, iterating=True):
            check_path(path, root_ok=True)
            async for info in self.driver.walk(path):
                yield info

    async def url_for(self, path: str, *, method: str = "GET", expires_in: int = 1200) -> str:
        with self._traced("url_for", path):
            return await self.driver.url_for(check_path(path), method=method, expires_in=expires_in)

    async def open_local(self, path: str) -> BinaryIO:
        with self._traced("open_local", path):
            return await self.driver.open_local(check_path(path))

    async def aclose(self) -> None:
        await self.driver.aclose()
