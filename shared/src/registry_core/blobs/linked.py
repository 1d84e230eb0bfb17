"""Repository-scoped blobs: a blob is visible in a repository only through its link there.

As the Go registry's ``linkedBlobStore``, parametrized by the link path function, so the same code serves
layer links (:func:`registry_core.paths.layer_link`, the default) and manifest revision links
(:func:`registry_core.paths.manifest_revision_link`). A link file holds exactly ``<alg>:<hex>``, no newline.

Order keeps references safe: the blob exists before its link is written, and removing a link never touches
the bytes (garbage collection does that).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, BinaryIO

from registry_core import paths
from registry_core.blobs.cache import CachedBlobStatter, CacheStats
from registry_core.blobs.interfaces import BlobDescriptorService, BlobStatter, BlobUnknownError
from registry_core.blobs.store import BlobStore
from registry_core.descriptor import DEFAULT_MEDIA_TYPE, Descriptor
from registry_core.digest import Digest
from registry_core.storage.driver import PathNotFoundError

if TYPE_CHECKING:
    from registry_core.gc_guard import GcGuard

log = logging.getLogger("registry.blobs")

LinkPath = Callable[[str, Digest], str]
"""``(repository name, digest) -> link path``: :func:`paths.layer_link` or :func:`paths.manifest_revision_link`."""


class LinkedBlobStatter:
    """Stat from storage: read the link of ``digest`` in repository ``name``, then stat the global blob."""

    def __init__(self, store: BlobStore, name: str, link_path: LinkPath) -> None:
        self.store = store
        self.name = name
        self.link_path = link_path

    async def stat(self, digest: Digest) -> Descriptor:
        path = self.link_path(self.name, digest)
        try:
            target = await self.store.driver.get_content(path)
        except PathNotFoundError:
            raise BlobUnknownError(digest) from None
        if target != str(digest).encode():
            log.warning("link %s holds %r, not %s: treating the blob as unknown", path, target[:200], digest)
            raise BlobUnknownError(digest)
        return await self.store.stat(digest)


class LinkedBlobStore:
    """The blobs of one repository: stat (through ``cache`` if given), read, store, link, unlink, mount.

    ``reader`` and ``url_for`` take a descriptor obtained from :meth:`stat` of this store: the stat is the
    access check, opening is a path computation (as in the Go registry).

    ``gc_guard`` (online garbage collection enabled) makes :meth:`mount` and upload commits claim what they link
    (see :mod:`registry_core.gc_guard`); None changes nothing.
    """

    def __init__(
        self,
        name: str,
        store: BlobStore,
        *,
        link_path: LinkPath = paths.layer_link,
        cache: BlobDescriptorService | None = None,
        cache_stats: CacheStats | None = None,
        gc_guard: GcGuard | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.link_path = link_path
        self.gc_guard = gc_guard
        self._links = LinkedBlobStatter(store, name, link_path)
        self._cached = None if cache is None else CachedBlobStatter(cache, self._links, cache_stats)
        self._statter: BlobStatter = self._links if self._cached is None else self._cached

    async def stat(self, digest: Digest) -> Descriptor:
        return await self._statter.stat(digest)

    async def get(self, digest: Digest) -> bytes:
        await self.stat(digest)
        return await self.store.get(digest)

    async def reader(self, descriptor: Descriptor, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return await self.store.reader(descriptor, offset, length)

    async def local_file(self, descriptor: Descriptor) -> BinaryIO | None:
        return await self.store.local_file(descriptor)

    async def url_for(self, descriptor: Descriptor) -> str | None:
        return await self.store.url_for(descriptor)

    async def put(self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> Descriptor:
        """Store small content globally, then link it here."""
        descriptor = await self.store.put(content, media_type)
        await self._write_link(descriptor)
        return descriptor

    async def link(self, descriptor: Descriptor) -> None:
        """Link a blob that exists in the global store (checked in storage, not in a cache)."""
        if not await self.store.exists(descriptor.digest):
            raise BlobUnknownError(descriptor.digest)
        await self._write_link(descriptor)

    async def unlink(self, digest: Digest) -> None:
        """Remove the link, then the cache entry (also when the link was already gone: a stale entry goes too)."""
        try:
            await self.store.driver.delete(self.link_path(self.name, digest))
        except PathNotFoundError:
            raise BlobUnknownError(digest) from None
        finally:
            if self._cached is not None:
                await self._cached.clear(digest)

    async def mount(self, digest: Digest, from_repository: str) -> Descriptor:
        """Link the blob ``from_repository`` has linked, without copying; ``BlobUnknownError`` if it has not.

        The source is checked in storage, not in the cache: this is a write path. With a ``gc_guard``, the mount
        is claimed first, and a blob being garbage collected is not mounted (``BlobUnknownError``).
        """
        if self.gc_guard is None:
            descriptor = await LinkedBlobStatter(self.store, from_repository, self.link_path).stat(digest)
            await self._write_link(descriptor)
            return descriptor
        write = await self.gc_guard.begin_mount(self.name, digest)
        try:
            descriptor = await LinkedBlobStatter(self.store, from_repository, self.link_path).stat(digest)
        except BlobUnknownError:
            await write.abandon()
            raise
        write.check_deadline()
        await self._write_link(descriptor)
        return descriptor

    async def _write_link(self, descriptor: Descriptor) -> None:
        """Write the link, then fill the cache with the generation read before: a racing unlink wins.

        The link is written even when it exists: its fresh modification time is what tells online garbage
        collection that an old blob was just committed or mounted again (young)."""
        generation = None if self._cached is None else await self._cached.generation()
        path = self.link_path(self.name, descriptor.digest)
        await self.store.driver.put_content(path, str(descriptor.digest).encode())
        if self._cached is not None:
            await self._cached.fill(descriptor.digest, descriptor, generation)
