"""The in-memory descriptor cache and the cached statter: hit, miss and backfill, and cache failures."""

from __future__ import annotations

import logging

import pytest

from registry_core.blobs.cache import CachedBlobStatter, CacheStats, InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobDescriptorService, BlobUnknownError, DescriptorCacheError
from registry_core.blobs.store import BlobStore
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.storage.base import CheckedDriver


def descriptor(content: bytes) -> Descriptor:
    return Descriptor(Digest.from_bytes(content), len(content))


A, B, C = descriptor(b"a"), descriptor(b"bb"), descriptor(b"ccc")


class UnreachableCache:
    """A cache whose backend is down: every call fails as a Redis or remote cache then does."""

    async def stat(self, digest: Digest) -> Descriptor:
        raise DescriptorCacheError("connection refused")

    async def generation(self) -> int:
        raise DescriptorCacheError("connection refused")

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        raise DescriptorCacheError("connection refused")

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        raise DescriptorCacheError("connection refused")

    async def clear(self, digest: Digest) -> None:
        raise DescriptorCacheError("connection refused")


class SwitchableCache(InMemoryDescriptorCache):
    """An in-memory cache that can be taken down and brought back, keeping its entries (a frozen Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise DescriptorCacheError("timed out")

    async def stat(self, digest: Digest) -> Descriptor:
        self._check()
        return await super().stat(digest)

    async def clear(self, digest: Digest) -> None:
        self._check()
        await super().clear(digest)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- InMemoryDescriptorCache ---------------------------------------------------------------------------------


async def test_miss_set_hit_clear() -> None:
    cache = InMemoryDescriptorCache()
    with pytest.raises(BlobUnknownError):
        await cache.stat(A.digest)
    await cache.set_descriptor(A.digest, A)
    assert await cache.stat(A.digest) == A
    await cache.clear(A.digest)
    with pytest.raises(BlobUnknownError):
        await cache.stat(A.digest)
    await cache.clear(A.digest)  # idempotent


async def test_bounded_least_recently_used() -> None:
    cache = InMemoryDescriptorCache(size=2)
    await cache.set_descriptor(A.digest, A)
    await cache.set_descriptor(B.digest, B)
    await cache.stat(A.digest)  # A is now more recent than B

    await cache.set_descriptor(C.digest, C)

    assert await cache.stat(A.digest) == A
    assert await cache.stat(C.digest) == C
    with pytest.raises(BlobUnknownError):
        await cache.stat(B.digest)


async def test_scoped_views() -> None:
    cache = InMemoryDescriptorCache()
    one, two = cache.repository("one"), cache.repository("two")

    await one.set_descriptor(A.digest, A)
    await two.set_descriptor(A.digest, A)

    assert await cache.stat(A.digest) == A  # a scoped set also sets the global entry
    await one.clear(A.digest)
    with pytest.raises(BlobUnknownError):
        await one.stat(A.digest)
    assert await two.stat(A.digest) == A  # another repository keeps its entry
    assert await cache.stat(A.digest) == A  # and so does the global scope


async def test_a_global_entry_is_no_membership() -> None:
    cache = InMemoryDescriptorCache()
    await cache.set_descriptor(A.digest, A)
    with pytest.raises(BlobUnknownError):
        await cache.repository("one").stat(A.digest)


async def test_scoped_entries_are_bounded() -> None:
    cache = InMemoryDescriptorCache(size=2)
    for name in ("r1", "r2", "r3"):
        await cache.repository(name).set_descriptor(A.digest, A)
    with pytest.raises(BlobUnknownError):
        await cache.repository("r1").stat(A.digest)
    assert await cache.repository("r3").stat(A.digest) == A


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        InMemoryDescriptorCache(size=0)


# -- CachedBlobStatter ---------------------------------------------------------------------------------------


@pytest.fixture
def store(driver: CheckedDriver) -> BlobStore:
    return BlobStore(driver)


async def test_hit_answers_from_the_cache(store: BlobStore) -> None:
    cache = InMemoryDescriptorCache()
    await cache.set_descriptor(A.digest, A)  # not in storage at all
    statter = CachedBlobStatter(cache, store)

    assert await statter.stat(A.digest) == A
    assert (statter.stats.hits, statter.stats.misses, statter.stats.errors) == (1, 0, 0)


async def test_miss_asks_the_backend_and_backfills(store: BlobStore) -> None:
    stored = await store.put(b"a")
    cache = InMemoryDescriptorCache()
    statter = CachedBlobStatter(cache, store)

    assert await statter.stat(stored.digest) == stored
    assert await cache.stat(stored.digest) == stored
    assert (statter.stats.hits, statter.stats.misses) == (0, 1)


async def test_unknown_everywhere_is_unknown_and_not_cached(store: BlobStore) -> None:
    cache = InMemoryDescriptorCache()
    statter = CachedBlobStatter(cache, store)
    with pytest.raises(BlobUnknownError):
        await statter.stat(A.digest)
    with pytest.raises(BlobUnknownError):
        await cache.stat(A.digest)


async def test_a_failing_cache_never_fails_a_request(store: BlobStore) -> None:
    stored = await store.put(b"a")
    statter = CachedBlobStatter(UnreachableCache(), store)

    assert await statter.stat(stored.digest) == stored
    assert await statter.generation() is None
    await statter.fill(stored.digest, stored, 0)
    await statter.clear(stored.digest)
    with pytest.raises(BlobUnknownError):
        await statter.stat(B.digest)
    assert statter.stats.errors == 4


async def test_a_fill_racing_a_delete_is_dropped(store: BlobStore) -> None:
    """Storage answers, then a delete clears the cache before the fill: the old answer must not be cached."""
    stored = await store.put(b"a")
    cache = InMemoryDescriptorCache()

    class DeletedMeanwhile:
        async def stat(self, digest: Digest) -> Descriptor:
            descriptor = await store.stat(digest)
            await cache.clear(digest)
            return descriptor

    statter = CachedBlobStatter(cache, DeletedMeanwhile())
    assert await statter.stat(stored.digest) == stored  # served: it was there when asked
    with pytest.raises(BlobUnknownError):
        await cache.stat(stored.digest)  # but not cached


async def test_a_failed_clear_is_retried_and_the_cache_is_not_trusted_meanwhile(store: BlobStore) -> None:
    cache, stats = SwitchableCache(), CacheStats()
    await cache.set_descriptor(A.digest, A)  # cached; storage no longer has it (the link was removed)
    cache.down = True
    await CachedBlobStatter(cache, store, stats).clear(A.digest)
    assert len(stats.backlog) == 1 and stats.errors == 1

    cache.down = False  # back, still holding the stale entry
    with pytest.raises(BlobUnknownError):
        await CachedBlobStatter(cache, store, stats).stat(A.digest)  # the backlog is flushed first
    assert len(stats.backlog) == 0
    with pytest.raises(BlobUnknownError):
        await cache.stat(A.digest)


async def test_while_clears_are_pending_stats_skip_the_cache(store: BlobStore) -> None:
    cache, stats = SwitchableCache(), CacheStats()
    await cache.set_descriptor(A.digest, A)
    cache.down = True
    await CachedBlobStatter(cache, store, stats).clear(A.digest)
    with pytest.raises(BlobUnknownError):
        await CachedBlobStatter(cache, store, stats).stat(A.digest)
    assert stats.hits == 0 and len(stats.backlog) == 1
    assert await stats.backlog.flush() is False


async def test_cache_failures_are_logged_rate_limited(store: BlobStore, caplog: pytest.LogCaptureFixture) -> None:
    stored = await store.put(b"a")
    clock = Clock()
    stats = CacheStats(log_interval=60.0, clock=clock)
    cache: BlobDescriptorService = UnreachableCache()

    with caplog.at_level(logging.ERROR, logger="registry.cache"):
        for _ in range(5):
            await CachedBlobStatter(cache, store, stats).stat(stored.digest)  # one statter per request
        clock.now += 61
        await CachedBlobStatter(cache, store, stats).stat(stored.digest)

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "connection refused" in messages[0]
    assert "(0 similar errors not logged)" in messages[0]
    assert "(4 similar errors not logged)" in messages[1]
    assert stats.errors == 6
