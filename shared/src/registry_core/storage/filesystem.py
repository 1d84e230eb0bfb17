"""A driver over a local directory tree.

Bulk I/O runs in worker threads, bounded by a capacity limiter (``maxthreads``, as the Go driver's regulator).
Metadata calls (``stat``, opening a file) and reads of small files already in the page cache run inline on the
event loop, as nginx opens files: a thread hop costs ~100 µs here, ten times such a call, and a manifest GET
makes four of them (``preadv(RWF_NOWAIT)`` says whether the bytes are cached; if not, the read goes to a thread).
Whole-file writes go to a temporary file beside the target, are fsynced, then renamed over it, so a reader sees
the old or the new content and never a torn one. Streaming writers append to the target file directly (it is
an upload's private data file) and fsync on commit, as the Go driver does.

A full disk (``ENOSPC``, ``EDQUOT``) is :class:`StorageFullError`, raised from the one gateway to worker threads
(:meth:`FilesystemDriver._run`). Nothing half-written stays: a whole-file write removes its temporary file, and
a streaming writer truncates its file back to the bytes of its last complete piece, so the file's size is an
offset to resume from once space is freed.

A directory exists only as a prefix of some file's path: removing a directory's last file (delete, move,
cancel) removes the directories it leaves empty, up to the root. Creating a file retries if a concurrent
removal prunes its fresh parent directory. Temporary names contain ``~``, outside the path grammar, so
they never shadow a stored path.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_module
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar

import anyio
import anyio.to_thread

from registry_core.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    StorageFullError,
)
from registry_core.storage.nowait import nowait_supported, read_if_cached

T = TypeVar("T")

READ_CHUNK = 1 << 20
SMALL_FILE = 64 * 1024
"""Files up to this size are read inline when the page cache holds them (links, manifests)."""
WRITE_BUFFER = 1 << 20
TEMP_SUFFIX = "~tmp-"  # "~" is outside the path grammar: no stored path looks like a temp file
CREATE_ATTEMPTS = 10
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _info(path: str, st: os.stat_result) -> FileInfo:
    is_dir = stat_module.S_ISDIR(st.st_mode)
    return FileInfo(path, 0 if is_dir else st.st_size, datetime.fromtimestamp(st.st_mtime, UTC), is_dir)


class FilesystemDriver(StorageDriver):
    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str], *, max_threads: int = 100) -> None:
        self.root = os.path.abspath(root)
        self._limiter = anyio.CapacityLimiter(max_threads)

    async def _run(self, path: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, for the driver path ``path``; a full disk raises ``StorageFullError``."""
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFullError(path, os.strerror(exc.errno), self.name) from exc
            raise

    def _full(self, path: str) -> str:
        return self.root if path == "/" else self.root + path

    # -- whole files ---------------------------------------------------------------------------------
    async def get_content(self, path: str) -> bytes:
        full = self._full(path)
        cached = _read_if_cached(full, path)
        if cached is not None:
            return cached

        def read() -> bytes:
            try:
                with open(full, "rb") as f:
                    return f.read()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise PathNotFoundError(path) from None

        return await self._run(path, read)

    async def put_content(self, path: str, content: bytes) -> None:
        await self._run(path, _atomic_write, self._full(path), content, self.root)

    # -- streams -------------------------------------------------------------------------------------
    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:  # type: ignore[override]
        full = self._full(path)

        def open_at() -> BinaryIO:
            try:
                f = open(full, "rb")  # noqa: SIM115 - closed below
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise PathNotFoundError(path) from None
            size = os.fstat(f.fileno()).st_size
            if offset < 0 or offset > size:
                f.close()
                raise InvalidOffsetError(path, f"offset {offset} beyond size {size}")
            f.seek(offset)
            return f

        f = await self._run(path, open_at)
        try:
            while chunk := await self._run(path, f.read, READ_CHUNK):
                yield chunk
        finally:
            f.close()

    async def open_local(self, path: str) -> BinaryIO:
        """``path`` opened for reading (inline: an open), for a caller that sends the file itself (the server's
        file-sending extension) and closes it."""
        return _open_file(self._full(path), path)

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        full = self._full(path)

        def open_for_write() -> BinaryIO:
            # Unbuffered: the writer buffers itself, and must know exactly what reached the file.
            return open(full, "ab" if append else "wb", buffering=0)  # the writer closes it

        f = await self._run(path, _in_directory, full, open_for_write)
        return _FilesystemWriter(self, path, full, f, f.tell())

    # -- metadata ------------------------------------------------------------------------------------
    async def stat(self, path: str) -> FileInfo:
        full = self._full(path)
        try:
            st = os.stat(full)  # inline: see the module's docstring
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFoundError(path) from None
        return _info(path, st)

    async def list(self, path: str) -> list[str]:
        full = self._full(path)

        def listdir() -> list[str]:
            try:
                names = os.listdir(full)
            except FileNotFoundError:
                if path == "/":
                    return []  # no root yet: an empty registry (the first write creates it)
                raise PathNotFoundError(path) from None
            except NotADirectoryError:
                if path == "/":  # a file where the root (or a directory above it) should be: unusable storage
                    raise StorageError(path, "the storage root is not a directory") from None
                raise PathNotFoundError(path) from None
            base = "" if path == "/" else path
            return sorted(f"{base}/{n}" for n in names if TEMP_SUFFIX not in n)

        return await self._run(path, listdir)

    async def move(self, source: str, dest: str) -> None:
        src, dst = self._full(source), self._full(dest)

        def replace() -> None:
            if not os.path.isfile(src):
                raise PathNotFoundError(source)
            if os.path.isdir(dst):  # the source may live in it: set the source aside before removing it
                aside = _temp_name(dst)
                os.replace(src, aside)
                shutil.rmtree(dst)
                os.replace(aside, dst)
            else:
                os.replace(src, dst)

        def move() -> None:
            if not os.path.isfile(src):  # before creating dest's directories
                raise PathNotFoundError(source)
            _in_directory(dst, replace)
            _prune(os.path.dirname(src), self.root)

        await self._run(dest, move)

    async def delete(self, path: str) -> None:
        full = self._full(path)

        def delete() -> None:
            try:
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)
            except (FileNotFoundError, NotADirectoryError):
                raise PathNotFoundError(path) from None
            _prune(os.path.dirname(full), self.root)

        await self._run(path, delete)

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:  # type: ignore[override]
        info = await self.stat(path) if path != "/" else None
        if info is not None and not info.is_dir:
            return
        for child in await self.list(path):
            try:
                child_info = await self.stat(child)
            except PathNotFoundError:
                continue  # removed while walking
            yield child_info
            if child_info.is_dir:
                async for sub in self.walk(child):
                    yield sub


def _read_if_cached(full: str, path: str) -> bytes | None:
    """The whole file at ``full`` if it is small and entirely in the page cache (read without blocking on the
    disk); ``None`` to read it in a thread instead. ``PathNotFoundError`` if there is no such file."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise PathNotFoundError(path) from None
    try:
        st = os.fstat(fd)
        if stat_module.S_ISDIR(st.st_mode):
            raise PathNotFoundError(path)
        if st.st_size > SMALL_FILE or not nowait_supported(st.st_dev):
            return None
        buffer = bytearray(st.st_size + 1)  # one byte more: a file that grew meanwhile is read in a thread
        n = read_if_cached(fd, [buffer], 0, st.st_dev)
        return bytes(buffer[:n]) if n == st.st_size else None  # None: not cached; short: partly cached, or changed
    finally:
        os.close(fd)


def _open_file(full: str, path: str) -> BinaryIO:
    try:
        f = open(full, "rb")  # noqa: SIM115 - the caller closes it
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise PathNotFoundError(path) from None
    if stat_module.S_ISDIR(os.fstat(f.fileno()).st_mode):
        f.close()
        raise PathNotFoundError(path)
    return f


def _temp_name(full: str) -> str:
    return f"{full}{TEMP_SUFFIX}{uuid.uuid4().hex}"


def _in_directory(full: str, create: Callable[[], T]) -> T:
    """Create ``full``'s parent directories, then run ``create`` (which makes an entry in the parent).

    A concurrent delete may prune the fresh directories before ``create`` runs; then try again.
    """
    for attempt in range(CREATE_ATTEMPTS):
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            return create()
        except FileNotFoundError:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _prune(directory: str, root: str) -> None:
    """Remove ``directory`` and its ancestors below ``root`` while they are empty."""
    while directory.startswith(root + os.sep):
        try:
            os.rmdir(directory)
        except OSError:  # not empty (or no longer there, or not a directory): stop
            return
        directory = os.path.dirname(directory)


def _atomic_write(full: str, content: bytes, root: str) -> None:
    tmp = _temp_name(full)

    def write_temp() -> None:
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())

    try:
        _in_directory(tmp, write_temp)
        if os.path.isdir(full):
            shutil.rmtree(full)
        os.replace(tmp, full)
    except BaseException:
        with _suppress_missing():
            os.unlink(tmp)
        _prune(os.path.dirname(tmp), root)  # directories made for it, if the write failed (a full disk)
        raise


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is FileNotFoundError


def _append(f: BinaryIO, data: bytes | bytearray, stored: int, sync: bool = False) -> None:
    """Append all of ``data`` to ``f`` (unbuffered: a write may be short) and fsync if asked; on any failure,
    truncate the file back to ``stored``, the size it had before, and raise."""
    try:
        view = memoryview(data)
        while view:
            written = f.write(view)
            if not written:
                raise OSError(errno.EIO, "the file took no byte")
            view = view[written:]
        if sync:
            os.fsync(f.fileno())
    except BaseException:
        with suppress(OSError):
            os.ftruncate(f.fileno(), stored)
        raise


def _append_and_close(f: BinaryIO, pending: bytes | bytearray, stored: int, sync: bool) -> None:
    """Append what is still buffered, fsync if asked, close: one thread hop at the end of a request."""
    try:
        _append(f, pending, stored, sync)
    finally:
        f.close()


class _FilesystemWriter(FileWriter):
    """Buffers small writes into ~1 MiB pieces so each thread hop carries real work.

    ``_stored`` is what the file holds; a piece that fails to be appended is truncated away and closes the
    writer (see :class:`~registry_core.storage.driver.StorageFullError`)."""

    def __init__(self, driver: FilesystemDriver, path: str, full: str, f: BinaryIO, size: int) -> None:
        self._driver, self._path, self._full, self._f = driver, path, full, f
        self._size = self._stored = size
        self._buffer = bytearray()
        self._done = False
        self._broken = False

    @property
    def size(self) -> int:
        return self._size

    def _check(self) -> None:
        if self._done:
            raise ValueError("writer already closed")

    async def write(self, data: bytes) -> int:
        self._check()
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= WRITE_BUFFER:
            await self._flush()
        return len(data)

    async def _failed(self) -> None:
        """After a failed append: the file holds ``_stored`` bytes; close it, refuse more."""
        self._done = self._broken = True
        self._buffer = bytearray()
        self._size = self._stored
        await self._driver._run(self._path, self._f.close)

    async def _flush(self) -> None:
        if self._buffer:
            pending, self._buffer = self._buffer, bytearray()
            try:
                await self._driver._run(self._path, _append, self._f, pending, self._stored)
            except BaseException:
                await self._failed()
                raise
            self._stored += len(pending)

    async def _finish(self, sync: bool) -> None:
        self._done = True
        pending, self._buffer = self._buffer, bytearray()
        try:
            await self._driver._run(self._path, _append_and_close, self._f, pending, self._stored, sync)
        except BaseException:
            self._size, self._broken = self._stored, True
            raise
        self._stored += len(pending)

    async def close(self) -> None:
        if not self._done:
            await self._finish(sync=False)

    async def commit(self) -> None:
        self._check()
        await self._finish(sync=True)

    async def cancel(self) -> None:
        if self._done and not self._broken:
            raise ValueError("writer already closed")
        self._done = True
        self._buffer = bytearray()

        def close_and_remove() -> None:
            self._f.close()
            with _suppress_missing():
                os.unlink(self._full)
            _prune(os.path.dirname(self._full), self._driver.root)

        await self._driver._run(self._path, close_and_remove)
