"""One suite for every blob descriptor cache: in-memory, Redis (a real redis-server) and remote (the
descriptor-cache service, a real process on that Redis, through its HTTP client)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from registry_core.blobs.cache import CachedBlobStatter, InMemoryDescriptorCache
from registry_core.blobs.interfaces import (
    BlobDescriptorCacheProvider,
    BlobDescriptorService,
    BlobUnknownError,
    CacheMiss,
    DescriptorCacheError,
)
from registry_core.blobs.redis_cache import RedisDescriptorCache
from registry_core.blobs.remote_cache import RemoteDescriptorCache
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.testing.servers import Process, RedisServer, free_port, start_registry, stop


def digest_of(text: str) -> Digest:
    return Digest("sha256", hashlib.sha256(text.encode()).hexdigest())


def descriptor(text: str, media_type: str = "application/octet-stream") -> Descriptor:
    return Descriptor(digest_of(text), len(text), media_type)


@pytest.fixture
async def redis_cache(redis_server: RedisServer) -> AsyncIterator[RedisDescriptorCache]:
    cache = RedisDescriptorCache.from_url(redis_server.url, socket_timeout=0.5)
    await cache.client.flushdb()
    yield cache
    await cache.aclose()


@pytest.fixture(scope="session")
def descriptor_cache_service(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Process]:
    """``registry serve descriptor-cache`` on the session's redis-server (tests flush it)."""
    directory = tmp_path_factory.mktemp("descriptor-cache")
    config = directory / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  inmemory:\nredis:\n  addr: {redis_server.addr}\n")
    process = start_registry("descriptor-cache", config, directory)
    try:
        yield process
    finally:
        stop(process.proc)


@pytest.fixture
async def remote_cache(
    descriptor_cache_service: Process, redis_cache: RedisDescriptorCache
) -> AsyncIterator[RemoteDescriptorCache]:
    """The service's HTTP client, over real HTTP; ``redis_cache`` has flushed the service's Redis."""
    cache = RemoteDescriptorCache(descriptor_cache_service.url, timeout=5)
    yield cache
    await cache.aclose()


@pytest.fixture(params=["inmemory", "redis", "remote"])
def cache(request: pytest.FixtureRequest) -> BlobDescriptorCacheProvider:
    if request.param == "inmemory":
        return InMemoryDescriptorCache(100)
    result: BlobDescriptorCacheProvider = request.getfixturevalue(f"{request.param}_cache")
    return result


async def test_unknown_is_a_miss(cache: BlobDescriptorCacheProvider) -> None:
    with pytest.raises(BlobUnknownError):
        await cache.stat(digest_of("nothing"))
    with pytest.raises(BlobUnknownError):
        await cache.repository("library/app").stat(digest_of("nothing"))


async def test_set_stat_clear_global(cache: BlobDescriptorCacheProvider) -> None:
    d = descriptor("layer", "application/vnd.oci.image.layer.v1.tar+gzip")
    await cache.set_descriptor(d.digest, d)
    assert await cache.stat(d.digest) == d
    await cache.clear(d.digest)
    with pytest.raises(BlobUnknownError):
        await cache.stat(d.digest)
    await cache.clear(d.digest)  # idempotent


async def test_membership_is_per_repository(cache: BlobDescriptorCacheProvider) -> None:
    d = descriptor("shared layer")
    a, b = cache.repository("team/a"), cache.repository("team/b")
    await a.set_descriptor(d.digest, d)
    assert await a.stat(d.digest) == d
    assert await cache.stat(d.digest) == d, "setting in a repository also sets the global descriptor"
    with pytest.raises(BlobUnknownError):
        await b.stat(d.digest)

    await b.set_descriptor(d.digest, d)
    await a.clear(d.digest)
    with pytest.raises(BlobUnknownError):
        await a.stat(d.digest)
    assert await b.stat(d.digest) == d, "clearing one repository leaves the others"
    assert await cache.stat(d.digest) == d, "the global descriptor of an existing blob may stay"


async def test_repository_media_type_overrides(cache: BlobDescriptorCacheProvider) -> None:
    d = descriptor("manifest", "application/vnd.oci.image.manifest.v1+json")
    await cache.repository("x").set_descriptor(d.digest, d)
    assert (await cache.repository("x").stat(d.digest)).media_type == d.media_type


def scopes(cache: BlobDescriptorCacheProvider) -> list[BlobDescriptorService]:
    return [cache, cache.repository("team/a")]


async def test_a_miss_carries_the_generation_and_clears_raise_it(cache: BlobDescriptorCacheProvider) -> None:
    d = descriptor("generations")
    for scope in scopes(cache):
        with pytest.raises(CacheMiss) as miss:
            await scope.stat(d.digest)
        assert miss.value.generation == await scope.generation()
        await scope.clear(d.digest)
        assert await scope.generation() > miss.value.generation


async def test_a_fill_after_a_clear_is_refused(cache: BlobDescriptorCacheProvider) -> None:
    """Read the generation, (read storage), a delete clears, then fill: the fill must not land."""
    d = descriptor("racing a delete")
    for scope in scopes(cache):
        seen = await scope.generation()
        await scope.clear(d.digest)
        assert await scope.fill(d.digest, d, seen) is False
        with pytest.raises(BlobUnknownError):
            await scope.stat(d.digest)

        assert await scope.fill(d.digest, d, await scope.generation()) is True
        assert await scope.stat(d.digest) == d


async def test_a_scoped_fill_is_membership_in_that_repository_only(cache: BlobDescriptorCacheProvider) -> None:
    d = descriptor("scoped fill")
    a = cache.repository("team/a")
    assert await a.fill(d.digest, d, await a.generation())
    assert await cache.stat(d.digest) == d
    with pytest.raises(BlobUnknownError):
        await cache.repository("team/b").stat(d.digest)


async def dead_redis() -> RedisDescriptorCache:
    return RedisDescriptorCache.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)


async def dead_remote() -> RemoteDescriptorCache:
    return RemoteDescriptorCache(f"http://127.0.0.1:{free_port()}", timeout=0.2)


@pytest.mark.parametrize("make", [dead_redis, dead_remote], ids=["redis", "remote"])
async def test_unreachable_backend_is_a_cache_error_and_statter_falls_back(make: Any) -> None:
    dead = await make()
    d = descriptor("truth")
    with pytest.raises(DescriptorCacheError):
        await dead.stat(d.digest)
    with pytest.raises(DescriptorCacheError):
        await dead.repository("r").set_descriptor(d.digest, d)

    truth = InMemoryDescriptorCache(10)
    await truth.set_descriptor(d.digest, d)
    statter = CachedBlobStatter(dead, truth)
    assert await statter.stat(d.digest) == d
    assert await statter.generation() is None  # swallowed and counted
    assert statter.stats.errors == 2 and statter.stats.hits == 0
    await dead.aclose()


async def test_redis_keys_are_the_go_registry_keys(redis_cache: RedisDescriptorCache) -> None:
    d = descriptor("go compatible")
    await redis_cache.repository("lib/x").set_descriptor(d.digest, d)
    client = redis_cache.client
    assert await client.hgetall(f"blobs::{d.digest}") == {
        b"digest": str(d.digest).encode(),
        b"size": str(d.size).encode(),
        b"mediatype": b"application/octet-stream",
    }
    assert await client.smembers("repository::lib/x::blobs") == {str(d.digest).encode()}
    assert await client.hget(f"repository::lib/x::blobs::{d.digest}", "mediatype") == b"application/octet-stream"

    await redis_cache.repository("lib/x").clear(d.digest)
    assert await client.smembers("repository::lib/x::blobs") == set()
    assert not await client.exists(f"repository::lib/x::blobs::{d.digest}")
    assert await client.get("repository::lib/x::generation") == b"1"
