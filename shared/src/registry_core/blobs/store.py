"""The global blob store: content-addressed bytes under ``blobs/``, over one storage driver.

No access control here (that is :mod:`registry_core.blobs.linked`) and no cache: this is the truth the caches
sit in front of, so write paths ask it directly (a cache may still say "exists" after garbage collection).
Driver errors become blob errors at this boundary (``PathNotFoundError`` -> ``BlobUnknownError``).

:meth:`BlobStore.ingest` is the only way an upload's bytes become a blob; :meth:`BlobStore.put` stores small
content (manifests) that is hashed here, in memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from typing import BinaryIO

from registry_core import paths
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.descriptor import DEFAULT_MEDIA_TYPE, Descriptor
from registry_core.digest import CANONICAL_ALGORITHM, Digest
from registry_core.storage.driver import PathNotFoundError, StorageDriver, StorageError, UnsupportedMethodError


class BlobStore:
    """Stat, read, redirect to, and store blobs by digest. Implements ``BlobService``."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    async def stat(self, digest: Digest) -> Descriptor:
        try:
            info = await self.driver.stat(paths.blob_data(digest))
        except PathNotFoundError:
            raise BlobUnknownError(digest) from None
        if info.is_dir:  # a directory where the data file belongs is not a blob (as the Go registry)
            raise BlobUnknownError(digest)
        return Descriptor(digest, info.size)

    async def exists(self, digest: Digest) -> bool:
        try:
            await self.stat(digest)
        except BlobUnknownError:
            return False
        return True

    async def get(self, digest: Digest) -> bytes:
        try:
            return await self.driver.get_content(paths.blob_data(digest))
        except PathNotFoundError:
            raise BlobUnknownError(digest) from None

    async def reader(self, descriptor: Descriptor, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Open ``descriptor``'s bytes ``[offset, offset + length)``; see ``BlobProvider.reader``."""
        remaining = descriptor.size - offset if length is None else length
        if offset < 0 or remaining < 0 or offset + remaining > descriptor.size:
            raise ValueError(f"range {offset}+{remaining} outside a blob of {descriptor.size} bytes")
        path = paths.blob_data(descriptor.digest)
        chunks = self.driver.reader(path, offset)
        try:
            first = await anext(chunks, b"")
        except PathNotFoundError:
            raise BlobUnknownError(descriptor.digest) from None
        return _take(path, first, chunks, remaining)

    async def local_file(self, descriptor: Descriptor) -> BinaryIO | None:
        """The blob's data file, open for reading, when the driver keeps blobs in local files (the caller hands
        it to the server to send, and closes it); ``None`` when it does not. ``BlobUnknownError`` if it is missing."""
        path = paths.blob_data(descriptor.digest)
        try:
            f = await self.driver.open_local(path)
        except UnsupportedMethodError:
            return None
        except PathNotFoundError:
            raise BlobUnknownError(descriptor.digest) from None
        if os.fstat(f.fileno()).st_size < descriptor.size:
            f.close()
            raise StorageError(path, f"blob shorter than the {descriptor.size} bytes of its descriptor")
        return f

    async def url_for(self, descriptor: Descriptor) -> str | None:
        try:
            return await self.driver.url_for(paths.blob_data(descriptor.digest))
        except UnsupportedMethodError:
            return None

    async def put(
        self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE, algorithm: str = CANONICAL_ALGORITHM
    ) -> Descriptor:
        descriptor = Descriptor(Digest.from_bytes(content, algorithm), len(content), media_type)
        if not await self.exists(descriptor.digest):
            await self.driver.put_content(paths.blob_data(descriptor.digest), content)
        return descriptor

    async def ingest(self, source: str, descriptor: Descriptor) -> None:
        """Publish the upload data file ``source``, already verified to hash to ``descriptor``, as that blob.

        The file is moved, never copied or re-read. If the blob already exists it is kept and ``source`` is
        dropped: content addressing makes both identical, so concurrent pushes of one blob all succeed and
        leave one intact blob (a race between two moves replaces the bytes with the same bytes).
        """
        dest = paths.blob_data(descriptor.digest)
        if await self.exists(descriptor.digest):
            with suppress(PathNotFoundError):
                await self.driver.delete(source)
            return
        try:
            await self.driver.move(source, dest)
        except PathNotFoundError:
            if descriptor.size != 0:
                raise
            await self.driver.put_content(dest, b"")  # an empty upload may have no data file at all


async def _take(path: str, first: bytes, rest: AsyncIterator[bytes], remaining: int) -> AsyncIterator[bytes]:
    """Yield ``remaining`` bytes: ``first``, then from ``rest``; always close ``rest``."""
    try:
        chunk: bytes | None = first
        while remaining > 0:
            if chunk is None:
                raise StorageError(path, f"blob ended {remaining} bytes short of its descriptor")
            if chunk:
                piece = chunk[:remaining]
                remaining -= len(piece)
                yield piece
            if remaining > 0:
                chunk = await anext(rest, None)
    finally:
        if isinstance(rest, AsyncGenerator):
            await rest.aclose()
