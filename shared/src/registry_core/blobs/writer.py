"""Upload sessions (the Go registry's ``blobWriter``): create, resume, append, status, commit, cancel.

Bytes stream from the request to the driver writer of ``_uploads/<id>/data``, chunk by chunk, never a whole
blob in memory. They become a blob only in :meth:`BlobUpload.commit`, in this order: append the last chunk
and ``FileWriter.commit()`` (fsync), verify the digest, ingest into the global store (a move), link in the
repository (which also fills the descriptor cache), remove the upload directory. A digest mismatch discards
the upload, as the Go registry does. With online garbage collection enabled, the ingest is preceded by a claim
of the blob (and a wait while a collector is deleting it: :mod:`registry_core.gc_guard`).

Fast digests (DESIGN §6): :class:`UploadHashers` keeps, per upload, the live ``hashlib`` object and the number
of bytes it has seen, so committing never reads the bytes back in the common case (every request of an upload
reaches the same process). Each request compares that count with the size of the data file it appends to;
when they differ, or the entry is missing (another replica took a PATCH, a restart, an idle eviction), the
hasher is dropped and commit recomputes the digest by reading the committed file: slower, never wrong.
The re-read waits for commit because on some drivers (S3 multipart) bytes appended by an unfinished writer
cannot be read back before it commits.

No upload session lives in Redis: the session *is* its directory in shared storage (``startedat``, ``data``,
whose size is the offset), so any replica resumes it; a live ``hashlib`` object cannot leave its process, and
each process already tells a stale or missing hasher of its own by the offset check above; the purger judges
activity by the files' times. A Redis record could only be advisory (a request must not fail when Redis does),
so it could neither replace these checks nor lock an upload across replicas; digest verification at commit is
what makes concurrent misuse fail safely.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from registry_core import paths
from registry_core.blobs.interfaces import BlobUploadOffsetError, BlobUploadUnknownError, DigestMismatchError
from registry_core.blobs.linked import LinkedBlobStore
from registry_core.descriptor import Descriptor
from registry_core.digest import CANONICAL_ALGORITHM, Digest, Hasher, new_hasher
from registry_core.storage.driver import FileWriter, PathNotFoundError, StorageDriver

log = logging.getLogger("registry.uploads")

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
"""Upload ids are uuid4 strings; anything else names no upload (and never reaches a storage path)."""

DEFAULT_IDLE_TIMEOUT = 3600.0
STARTED_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # RFC 3339 in UTC, as Go's time.RFC3339 writes it


@dataclass(eq=False)
class _LiveUpload:
    """The process-local state of one upload; only touched while holding ``lock``."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    hasher: Hasher | None = None
    algorithm: str = CANONICAL_ALGORITHM
    offset: int = 0
    """Bytes ``hasher`` has seen; meaningful only while ``hasher`` is set."""
    users: int = 0
    last_used: float = 0.0
    closed: bool = False


class UploadHashers:
    """The process-local table ``(repository, upload id) -> live hasher, offset, lock``.

    Holding an entry's lock serializes the requests of one upload in this process. Entries leave the table
    when their upload is committed or cancelled, and when unused for ``idle_timeout`` seconds.
    """

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._entries: dict[tuple[str, str], _LiveUpload] = {}
        self._last_sweep = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[_LiveUpload]:
        """The entry of ``key`` (created if missing), locked; ``BlobUploadUnknownError`` if it was closed meanwhile."""
        self._sweep()
        entry = self._entries.setdefault(key, _LiveUpload())
        entry.users += 1
        try:
            async with entry.lock:
                if entry.closed:
                    raise BlobUploadUnknownError(key[1])
                yield entry
        finally:
            entry.users -= 1
            entry.last_used = self._clock()

    def close(self, key: tuple[str, str], entry: _LiveUpload) -> None:
        """Drop ``entry``: its upload is gone, and whoever waits on it gets ``BlobUploadUnknownError``."""
        entry.closed = True
        if self._entries.get(key) is entry:
            del self._entries[key]

    def _sweep(self) -> None:
        now = self._clock()
        if now - self._last_sweep < self.idle_timeout / 4:
            return
        self._last_sweep = now
        idle = [k for k, e in self._entries.items() if e.users == 0 and now - e.last_used >= self.idle_timeout]
        for key in idle:
            del self._entries[key]


class BlobUploads:
    """The upload sessions of one repository (``BlobUploadService``)."""

    def __init__(self, linked: LinkedBlobStore, hashers: UploadHashers) -> None:
        self.name = linked.name
        self._linked = linked
        self._hashers = hashers

    async def create(self) -> BlobUpload:
        upload_id = str(uuid.uuid4())
        started_at = datetime.now(UTC).replace(microsecond=0)
        path = paths.upload_started_at(self.name, upload_id)
        await self._linked.store.driver.put_content(path, started_at.strftime(STARTED_AT_FORMAT).encode())
        return BlobUpload(self._linked, self._hashers, upload_id, started_at)

    async def resume(self, upload_id: str) -> BlobUpload:
        """The upload ``upload_id`` of this repository; a malformed id or one of another repository is unknown."""
        if not UPLOAD_ID_RE.match(upload_id):
            raise BlobUploadUnknownError(upload_id)
        try:
            started = await self._linked.store.driver.get_content(paths.upload_started_at(self.name, upload_id))
        except PathNotFoundError:
            raise BlobUploadUnknownError(upload_id) from None
        return BlobUpload(self._linked, self._hashers, upload_id, _parse_started_at(started))


class BlobUpload:
    """One upload session (``BlobWriter``). Get one from :class:`BlobUploads`, never build one directly."""

    def __init__(
        self, linked: LinkedBlobStore, hashers: UploadHashers, upload_id: str, started_at: datetime | None
    ) -> None:
        self.name = linked.name
        self.started_at = started_at
        self._id = upload_id
        self._linked = linked
        self._hashers = hashers
        self._key = (linked.name, upload_id)
        self._data = paths.upload_data(linked.name, upload_id)

    @property
    def id(self) -> str:
        return self._id

    @property
    def _driver(self) -> StorageDriver:
        return self._linked.store.driver

    async def size(self) -> int:
        try:
            return (await self._driver.stat(self._data)).size
        except PathNotFoundError:
            return 0

    async def append(self, chunks: AsyncIterable[bytes], start: int | None = None) -> int:
        async with self._hashers.hold(self._key) as live:
            writer = await self._open(live, start)
            try:
                await _copy(chunks, writer, live)
            finally:
                await writer.close()
            return writer.size

    async def commit(
        self, expected: Digest, chunks: AsyncIterable[bytes] | None = None, start: int | None = None
    ) -> Descriptor:
        async with self._hashers.hold(self._key) as live:
            writer = await self._open(live, start)
            try:
                if chunks is not None:
                    await _copy(chunks, writer, live)
                await writer.commit()
            except BaseException:
                await writer.close()  # keep what arrived, so the client may retry; no-op after a failed commit
                raise
            descriptor = await self._verify(live, expected, writer.size)
            guard = self._linked.gc_guard
            if guard is None:
                await self._linked.store.ingest(self._data, descriptor)
                await self._linked.link(descriptor)
            else:  # online GC: claim the blob, wait out its tombstone, then commit as if it were new
                write = await guard.begin_blob_commit(self.name, descriptor.digest)
                await self._linked.store.ingest(self._data, descriptor)
                write.check_deadline()
                await self._linked.link(descriptor)
            await self._remove(live)
            return descriptor

    async def cancel(self) -> None:
        async with self._hashers.hold(self._key) as live:
            await self._remove(live)

    async def _open(self, live: _LiveUpload, start: int | None) -> FileWriter:
        """Open the data file for appending; check ``start``; keep the live hasher only if it saw every byte."""
        writer = await self._driver.writer(self._data, append=True)
        if start is not None and start != writer.size:
            await writer.close()
            raise BlobUploadOffsetError(self._id, writer.size, start)
        if live.hasher is not None and live.offset != writer.size:
            log.info(
                "upload %s: hasher at %d, data at %d; digest at commit by re-reading",
                self._id,
                live.offset,
                writer.size,
            )
            live.hasher = None
        if live.hasher is None and writer.size == 0:
            live.hasher, live.algorithm, live.offset = new_hasher(CANONICAL_ALGORITHM), CANONICAL_ALGORITHM, 0
        return writer

    async def _verify(self, live: _LiveUpload, expected: Digest, size: int) -> Descriptor:
        """The descriptor of the committed data if it hashes to ``expected``; else discard the upload and raise."""
        if live.hasher is not None and live.offset == size and live.algorithm == expected.algorithm:
            actual = Digest(expected.algorithm, live.hasher.hexdigest())
        else:
            actual, size = await self._rehash(expected.algorithm)
        if actual != expected:
            await self._remove(live)
            raise DigestMismatchError(expected, actual)
        return Descriptor(expected, size)

    async def _rehash(self, algorithm: str) -> tuple[Digest, int]:
        """Digest and size of the data file, read back: the slow path."""
        hasher, size = new_hasher(algorithm), 0
        try:
            async for chunk in self._driver.reader(self._data):
                hasher.update(chunk)
                size += len(chunk)
        except PathNotFoundError:
            pass  # no byte was ever written
        return Digest(algorithm, hasher.hexdigest()), size

    async def _remove(self, live: _LiveUpload) -> None:
        with suppress(PathNotFoundError):
            await self._driver.delete(paths.upload_dir(self.name, self._id))
        self._hashers.close(self._key, live)


async def _copy(chunks: AsyncIterable[bytes], writer: FileWriter, live: _LiveUpload) -> None:
    """Append ``chunks`` to ``writer``, then to the live hasher. (Hashing each ~1 MiB piece in a worker thread
    while the next one is received was measured: no gain on 2 cores, bench/RESULTS.md.)"""
    async for chunk in chunks:
        if not chunk:
            continue
        await writer.write(chunk)
        if live.hasher is not None:
            live.hasher.update(chunk)
            live.offset += len(chunk)


def _parse_started_at(content: bytes) -> datetime | None:
    try:
        return datetime.fromisoformat(content.decode().strip())
    except ValueError:
        return None
