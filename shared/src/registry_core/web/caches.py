"""Build the blob descriptor cache the configuration asks for: ``inmemory``, ``redis`` or ``remote``."""

from __future__ import annotations

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider
from registry_core.config import RedisSettings, Settings


def redis_url(redis: RedisSettings) -> str:
    scheme = "rediss" if redis.tls.enabled else "redis"
    return f"{scheme}://{redis.addr}/{redis.db}"


def redis_options(redis: RedisSettings) -> dict[str, object]:
    """redis-py options from Go's ``redis`` section (a zero timeout means none, as in Go)."""
    return {
        "password": redis.password,
        "socket_connect_timeout": redis.dialtimeout.total_seconds() or None,
        "socket_timeout": redis.readtimeout.total_seconds() or None,
        "max_connections": redis.pool.maxactive or None,
        "health_check_interval": 30,
    }


def create_descriptor_cache(settings: Settings) -> BlobDescriptorCacheProvider:
    kind = settings.storage.cache.blobdescriptor
    if kind == "redis":
        from registry_core.blobs.redis_cache import RedisDescriptorCache

        return RedisDescriptorCache.from_url(redis_url(settings.redis), **redis_options(settings.redis))
    if kind == "remote":
        from registry_core.blobs.remote_cache import RemoteDescriptorCache

        remote = settings.services.descriptorcache
        assert remote.url is not None  # the settings model requires it for "remote"
        return RemoteDescriptorCache(remote.url, timeout=remote.timeout.total_seconds())
    return InMemoryDescriptorCache(settings.storage.cache.blobdescriptorsize)
