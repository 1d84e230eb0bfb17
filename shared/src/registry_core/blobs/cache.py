"""Descriptor caching: a bounded in-memory cache, and the statter that puts any cache in front of the truth.

:class:`CachedBlobStatter` is the Go registry's ``cachedBlobStatter``: a hit answers; a miss
(``BlobUnknownError``) asks the backend and backfills; any other cache error is logged (rate-limited, so a
dead cache does not flood the log), counted, and answered from the backend. A cache can make the registry
slower, never wrong, and never failing a request.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from registry_core.blobs.interfaces import BlobDescriptorService, BlobStatter, BlobUnknownError
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest

log = logging.getLogger("registry.cache")

DEFAULT_CACHE_SIZE = 10_000

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"cache size must be at least 1, not {size}")
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def set(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)


class InMemoryDescriptorCache:
    """A ``BlobDescriptorCacheProvider`` in process memory: two LRUs of ``size`` entries each.

    One holds global descriptors, the other repository memberships keyed by ``(repository, digest)``, so a
    scoped clear touches that repository alone and no repository can evict the global entries wholesale.
    """

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self._global: _LRU[Digest, Descriptor] = _LRU(size)
        self._scoped: _LRU[tuple[str, Digest], Descriptor] = _LRU(size)

    async def stat(self, digest: Digest) -> Descriptor:
        return _hit(self._global.get(digest), digest)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        self._global.set(digest, descriptor)

    async def clear(self, digest: Digest) -> None:
        self._global.pop(digest)

    def repository(self, name: str) -> BlobDescriptorService:
        return _RepositoryScopedCache(self, name)


class _RepositoryScopedCache:
    def __init__(self, parent: InMemoryDescriptorCache, name: str) -> None:
        self._parent = parent
        self._name = name

    async def stat(self, digest: Digest) -> Descriptor:
        return _hit(self._parent._scoped.get((self._name, digest)), digest)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        await self._parent.set_descriptor(digest, descriptor)
        self._parent._scoped.set((self._name, digest), descriptor)

    async def clear(self, digest: Digest) -> None:
        self._parent._scoped.pop((self._name, digest))


def _hit(descriptor: Descriptor | None, digest: Digest) -> Descriptor:
    if descriptor is None:
        raise BlobUnknownError(digest)
    return descriptor


@dataclass
class CacheStats:
    """Counters of one process's cache use, and the rate limit of its failure log.

    Shared by every :class:`CachedBlobStatter` of a registry (statters are built per request), so that a
    cache outage logs one line per ``log_interval`` seconds in all, with the count of the lines it held back.
    """

    log_interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    hits: int = 0
    misses: int = 0
    errors: int = 0
    _last_log: float | None = field(default=None, repr=False)
    _suppressed: int = field(default=0, repr=False)

    def failure(self, operation: str, digest: Digest, exc: BaseException) -> None:
        self.errors += 1
        now = self.clock()
        if self._last_log is not None and now - self._last_log < self.log_interval:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last_log = self._suppressed, 0, now
        log.error(
            "descriptor cache %s(%s) failed, answering from storage: %r (%d similar errors not logged)",
            operation,
            digest,
            exc,
            suppressed,
        )


class CachedBlobStatter:
    """``cache`` in front of ``backend``; a ``BlobDescriptorService`` whose writes go to the cache only.

    ``set_descriptor`` and ``clear`` never raise for a cache failure: the backend stays the truth, and the
    caller has already changed it (``clear`` comes after a link was removed).
    """

    def __init__(self, cache: BlobDescriptorService, backend: BlobStatter, stats: CacheStats | None = None) -> None:
        self.cache = cache
        self.backend = backend
        self.stats = stats if stats is not None else CacheStats()

    async def stat(self, digest: Digest) -> Descriptor:
        try:
            descriptor = await self.cache.stat(digest)
        except BlobUnknownError:
            miss = True
        except Exception as exc:
            miss = False
            self.stats.failure("stat", digest, exc)
        else:
            self.stats.hits += 1
            return descriptor
        descriptor = await self.backend.stat(digest)
        if miss:
            self.stats.misses += 1
            await self.set_descriptor(digest, descriptor)
        return descriptor

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        try:
            await self.cache.set_descriptor(digest, descriptor)
        except Exception as exc:
            self.stats.failure("set_descriptor", digest, exc)

    async def clear(self, digest: Digest) -> None:
        try:
            await self.cache.clear(digest)
        except Exception as exc:
            self.stats.failure("clear", digest, exc)
