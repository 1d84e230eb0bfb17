"""The blob descriptor cache in Redis, with the Go registry's keys so both registries can share one Redis::

    blobs::<digest>                          hash: digest, size, mediatype      (global descriptor)
    repository::<name>::blobs                set of digests                      (membership)
    repository::<name>::blobs::<digest>      hash: digest, mediatype             (the repository's media type)

Every failure (connection refused, timeout, a malformed entry) becomes :class:`DescriptorCacheError`, which
the cached statter answers from storage; timeouts come from ``redis.dialtimeout`` / ``readtimeout`` and stay
well under a second by default. A scoped clear removes the membership and the scoped hash in one MULTI.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from registry_core.blobs.interfaces import BlobDescriptorService, BlobUnknownError, DescriptorCacheError
from registry_core.descriptor import DEFAULT_MEDIA_TYPE, Descriptor
from registry_core.digest import Digest
from registry_core.errors import RegistryError


def _blob_key(digest: Digest) -> str:
    return f"blobs::{digest}"


def _members_key(name: str) -> str:
    return f"repository::{name}::blobs"


def _scoped_key(name: str, digest: Digest) -> str:
    return f"repository::{name}::blobs::{digest}"


def _decode(fields: dict[bytes, bytes], digest: Digest) -> Descriptor:
    try:
        stored = Digest.parse(fields[b"digest"].decode())
        return Descriptor(stored, int(fields[b"size"]), fields.get(b"mediatype", b"").decode() or DEFAULT_MEDIA_TYPE)
    except (KeyError, ValueError, RegistryError) as exc:
        raise DescriptorCacheError(f"malformed cache entry for {digest}: {exc!r}") from exc


class RedisDescriptorCache:
    """A ``BlobDescriptorCacheProvider`` over one Redis connection pool."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisDescriptorCache:
        return cls(aioredis.Redis.from_url(url, **options))

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except RedisError as exc:
            raise DescriptorCacheError(f"redis: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except RedisError as exc:
            raise DescriptorCacheError(f"redis: {exc}") from exc

    async def stat(self, digest: Digest) -> Descriptor:
        fields = await self._call(self.client.hgetall(_blob_key(digest)))
        if not fields:
            raise BlobUnknownError(digest)
        return _decode(fields, digest)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        mapping = {"digest": str(descriptor.digest), "size": descriptor.size, "mediatype": descriptor.media_type}
        await self._call(self.client.hset(_blob_key(digest), mapping=mapping))

    async def clear(self, digest: Digest) -> None:
        await self._call(self.client.delete(_blob_key(digest)))

    def repository(self, name: str) -> BlobDescriptorService:
        return _RedisRepositoryCache(self, name)


class _RedisRepositoryCache:
    def __init__(self, parent: RedisDescriptorCache, name: str) -> None:
        self._parent = parent
        self._name = name

    async def stat(self, digest: Digest) -> Descriptor:
        client = self._parent.client
        async with client.pipeline(transaction=False) as pipe:
            pipe.sismember(_members_key(self._name), str(digest))
            pipe.hgetall(_blob_key(digest))
            pipe.hget(_scoped_key(self._name, digest), "mediatype")
            member, fields, media_type = await self._parent._call(pipe.execute())
        if not member or not fields:
            raise BlobUnknownError(digest)
        descriptor = _decode(fields, digest)
        if media_type:
            descriptor = Descriptor(descriptor.digest, descriptor.size, media_type.decode())
        return descriptor

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        mapping = {"digest": str(descriptor.digest), "size": descriptor.size, "mediatype": descriptor.media_type}
        async with self._parent.client.pipeline(transaction=True) as pipe:
            pipe.hset(_blob_key(digest), mapping=mapping)
            pipe.sadd(_members_key(self._name), str(digest))
            pipe.hset(
                _scoped_key(self._name, digest),
                mapping={"digest": str(descriptor.digest), "mediatype": descriptor.media_type},
            )
            await self._parent._call(pipe.execute())

    async def clear(self, digest: Digest) -> None:
        async with self._parent.client.pipeline(transaction=True) as pipe:
            pipe.srem(_members_key(self._name), str(digest))
            pipe.delete(_scoped_key(self._name, digest))
            await self._parent._call(pipe.execute())
