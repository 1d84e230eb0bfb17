"""Descriptor caching: a bounded in-memory cache, and the statter that puts any cache in front of the truth.

:class:`CachedBlobStatter` is the Go registry's ``cachedBlobStatter``: a hit answers; a miss
(``BlobUnknownError``) asks the backend and backfills (guarded by the miss's generation, so a fill racing a
delete is dropped); any other cache error is logged (rate-limited, so a dead cache does not flood the log),
counted, and answered from the backend. A clear the cache failed to take is retried from a
:class:`ClearBacklog`. A cache can make the registry slower, never wrong, and never failing a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from registry_core.blobs.interfaces import BlobDescriptorService, BlobStatter, BlobUnknownError, CacheMiss
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
    One generation serves every scope: any clear raises it (deletes are rare; a fill it refuses is only a
    later miss).
    """

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self._global: _LRU[Digest, Descriptor] = _LRU(size)
        self._scoped: _LRU[tuple[str, Digest], Descriptor] = _LRU(size)
        self._generation = 0

    async def stat(self, digest: Digest) -> Descriptor:
        return self._hit(self._global.get(digest), digest)

    async def generation(self) -> int:
        return self._generation

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        return self._fill(digest, descriptor, generation)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        self._set(digest, descriptor)

    async def clear(self, digest: Digest) -> None:
        self._global.pop(digest)
        self._generation += 1

    def repository(self, name: str) -> BlobDescriptorService:
        return _RepositoryScopedCache(self, name)

    def _set(self, digest: Digest, descriptor: Descriptor, name: str | None = None) -> None:
        self._global.set(digest, descriptor)
        if name is not None:
            self._scoped.set((name, digest), descriptor)

    def _fill(self, digest: Digest, descriptor: Descriptor, generation: int, name: str | None = None) -> bool:
        if generation != self._generation:
            return False
        self._set(digest, descriptor, name)
        return True

    def _hit(self, descriptor: Descriptor | None, digest: Digest) -> Descriptor:
        if descriptor is None:
            raise CacheMiss(digest, self._generation)
        return descriptor


class _RepositoryScopedCache:
    def __init__(self, parent: InMemoryDescriptorCache, name: str) -> None:
        self._parent = parent
        self._name = name

    async def stat(self, digest: Digest) -> Descriptor:
        return self._parent._hit(self._parent._scoped.get((self._name, digest)), digest)

    async def generation(self) -> int:
        return self._parent._generation

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        return self._parent._fill(digest, descriptor, generation, self._name)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        self._parent._set(digest, descriptor, self._name)

    async def clear(self, digest: Digest) -> None:
        self._parent._scoped.pop((self._name, digest))
        self._parent._generation += 1


class ClearBacklog:
    """Clears a cache failed to take, retried until it takes them: a removed link must not stay cached.

    A clear fails when the cache is down (or partitioned from this process only); the link is already gone
    from storage, so the request succeeds and the clear waits here, retried by :meth:`flush` (from a loop in
    the app, and before this process trusts the cache again). Bounded: past ``limit`` the oldest are dropped,
    loudly, since the cache may then serve those entries until it is flushed by hand.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._pending: deque[tuple[BlobDescriptorService, Digest]] = deque()
        self._flushing = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, cache: BlobDescriptorService, digest: Digest) -> None:
        self._pending.append((cache, digest))
        while len(self._pending) > self.limit:
            _, dropped = self._pending.popleft()
            log.error("descriptor cache: clear backlog full, dropped the clear of %s; flush the cache", dropped)

    async def flush(self) -> bool:
        """Retry the pending clears in order, stopping at the first failure; whether none is left.

        Concurrent callers do not wait for a flush under way: they get False (the cache is not to be trusted
        yet) at once.
        """
        if self._flushing.locked():
            return not self._pending
        async with self._flushing:
            done = 0
            while self._pending:
                cache, digest = self._pending[0]
                try:
                    await cache.clear(digest)
                except Exception:
                    return False
                self._pending.popleft()
                done += 1
        if done:
            log.warning("descriptor cache: back; the %d clears it had missed are done", done)
        return True


@dataclass
class CacheStats:
    """One process's cache bookkeeping: counters, the rate limit of the failure log, the clear backlog.

    Shared by every :class:`CachedBlobStatter` of a registry (statters are built per request), so that a
    cache outage logs one line per ``log_interval`` seconds in all, with the count of the lines it held back.
    """

    log_interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    hits: int = 0
    misses: int = 0
    errors: int = 0
    backlog: ClearBacklog = field(default_factory=ClearBacklog)
    _last_log: float | None = field(default=None, repr=False)
    _suppressed: int = field(default=0, repr=False)

    def failure(self, operation: str, digest: Digest | None, exc: BaseException) -> None:
        self.errors += 1
        now = self.clock()
        if self._last_log is not None and now - self._last_log < self.log_interval:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last_log = self._suppressed, 0, now
        log.error(
            "descriptor cache %s(%s) failed, answering from storage: %r (%d similar errors not logged)",
            operation,
            digest or "",
            exc,
            suppressed,
        )


class CachedBlobStatter:
    """``cache`` in front of ``backend``: stat through the cache, and the cache's write side.

    Nothing here raises for a cache failure: the backend stays the truth. Fills are guarded by generations
    (see :mod:`registry_core.blobs.interfaces`), so a fill racing a clear is dropped, never cached stale; a
    clear that fails goes to the :class:`ClearBacklog`, and while the backlog is not empty this process
    answers from the backend.
    """

    def __init__(self, cache: BlobDescriptorService, backend: BlobStatter, stats: CacheStats | None = None) -> None:
        self.cache = cache
        self.backend = backend
        self.stats = stats if stats is not None else CacheStats()

    async def stat(self, digest: Digest) -> Descriptor:
        if self.stats.backlog and not await self.stats.backlog.flush():
            return await self.backend.stat(digest)
        try:
            descriptor = await self.cache.stat(digest)
        except BlobUnknownError as miss:
            self.stats.misses += 1
            generation = miss.generation if isinstance(miss, CacheMiss) else None
        except Exception as exc:
            self.stats.failure("stat", digest, exc)
            return await self.backend.stat(digest)
        else:
            self.stats.hits += 1
            return descriptor
        descriptor = await self.backend.stat(digest)
        await self.fill(digest, descriptor, generation)
        return descriptor

    async def generation(self) -> int | None:
        """The cache's generation to :meth:`fill` with later; None if the cache failed (then nothing fills)."""
        try:
            return await self.cache.generation()
        except Exception as exc:
            self.stats.failure("generation", None, exc)
            return None

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int | None) -> None:
        if generation is None:
            return
        try:
            await self.cache.fill(digest, descriptor, generation)
        except Exception as exc:
            self.stats.failure("fill", digest, exc)

    async def clear(self, digest: Digest) -> None:
        try:
            await self.cache.clear(digest)
        except Exception as exc:
            self.stats.failure("clear", digest, exc)
            self.stats.backlog.add(self.cache, digest)
