"""The blob descriptor cache in Redis, with the Go registry's keys so both registries can share one Redis::

    blobs::<digest>                          hash: digest, size, mediatype      (global descriptor)
    repository::<name>::blobs                set of digests                      (membership)
    repository::<name>::blobs::<digest>      hash: digest, mediatype             (the repository's media type)

and, ours (the Go registry ignores them), the generation of each scope (see ``blobs.interfaces``)::

    blobs::generation                        integer, raised by every global clear
    repository::<name>::generation           integer, raised by every clear in the repository

A stat reads the generation in the same round trip; a fill is one Lua script that writes only if the
generation is unchanged; a scoped clear removes the membership and the scoped hash and raises the generation
in one MULTI. Every failure (connection refused, timeout, a malformed entry) becomes
:class:`DescriptorCacheError`, which the cached statter answers from storage; timeouts come from
``redis.dialtimeout`` / ``readtimeout`` (redis-py does not retry a command built by ``from_url``), so a frozen
Redis costs a request at most ``readtimeout`` (500 ms by default) per cache call.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from registry_core.blobs.interfaces import BlobDescriptorService, CacheMiss, DescriptorCacheError
from registry_core.descriptor import DEFAULT_MEDIA_TYPE, Descriptor
from registry_core.digest import Digest
from registry_core.errors import RegistryError

GLOBAL_GENERATION_KEY = "blobs::generation"

_FILL = """
if (redis.call('get', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[2], 'digest', ARGV[2], 'size', ARGV[3], 'mediatype', ARGV[4])
if #KEYS == 4 then
  redis.call('sadd', KEYS[3], ARGV[5])
  redis.call('hset', KEYS[4], 'digest', ARGV[2], 'mediatype', ARGV[4])
end
return 1
"""
"""KEYS: generation, blob[, members, scoped]; ARGV: generation, digest, size, media type[, member digest]."""


def _blob_key(digest: Digest) -> str:
    return f"blobs::{digest}"


def _generation_key(name: str) -> str:
    return f"repository::{name}::generation"


def _members_key(name: str) -> str:
    return f"repository::{name}::blobs"


def _scoped_key(name: str, digest: Digest) -> str:
    return f"repository::{name}::blobs::{digest}"


def _generation(value: bytes | None) -> int:
    try:
        return int(value or 0)
    except ValueError as exc:
        raise DescriptorCacheError(f"malformed generation {value!r}") from exc


def _fill_args(descriptor: Descriptor, generation: int) -> list[str | int]:
    return [generation, str(descriptor.digest), descriptor.size, descriptor.media_type]


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
        self._fill = client.register_script(_FILL)

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
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(_blob_key(digest))
            pipe.get(GLOBAL_GENERATION_KEY)
            fields, generation = await self._call(pipe.execute())
        if not fields:
            raise CacheMiss(digest, _generation(generation))
        return _decode(fields, digest)

    async def generation(self) -> int:
        return _generation(await self._call(self.client.get(GLOBAL_GENERATION_KEY)))

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        keys = [GLOBAL_GENERATION_KEY, _blob_key(digest)]
        return bool(await self._call(self._fill(keys=keys, args=_fill_args(descriptor, generation))))

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        mapping = {"digest": str(descriptor.digest), "size": descriptor.size, "mediatype": descriptor.media_type}
        await self._call(self.client.hset(_blob_key(digest), mapping=mapping))

    async def clear(self, digest: Digest) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(_blob_key(digest))
            pipe.incr(GLOBAL_GENERATION_KEY)
            await self._call(pipe.execute())

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
            pipe.get(_generation_key(self._name))
            member, fields, media_type, generation = await self._parent._call(pipe.execute())
        if not member or not fields:
            raise CacheMiss(digest, _generation(generation))
        descriptor = _decode(fields, digest)
        if media_type:
            descriptor = Descriptor(descriptor.digest, descriptor.size, media_type.decode())
        return descriptor

    async def generation(self) -> int:
        return _generation(await self._parent._call(self._parent.client.get(_generation_key(self._name))))

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        keys = [
            _generation_key(self._name),
            _blob_key(digest),
            _members_key(self._name),
            _scoped_key(self._name, digest),
        ]
        args = [*_fill_args(descriptor, generation), str(digest)]
        return bool(await self._parent._call(self._parent._fill(keys=keys, args=args)))

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
            pipe.incr(_generation_key(self._name))
            await self._parent._call(pipe.execute())
