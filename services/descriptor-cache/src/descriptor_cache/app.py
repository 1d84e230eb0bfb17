"""The descriptor-cache service: the blob descriptor cache as an HTTP API, backed by Redis (or memory).

With ``redis.addr`` configured it serves from Redis and ``/healthz`` reports Redis down as unhealthy;
without, it keeps descriptors in its own memory (a single shared cache for a small deployment).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from descriptor_cache.routes import router
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider
from registry_core.config import Settings
from registry_core.web.app import create_service_app
from registry_core.web.caches import redis_options, redis_url


class CacheMetrics:
    def __init__(self, app: FastAPI) -> None:
        registry = app.state.metrics.registry
        self.hits = Counter("descriptor_cache_hits", "stats answered from the cache", registry=registry)
        self.misses = Counter("descriptor_cache_misses", "stats of unknown descriptors", registry=registry)
        self.errors = Counter("descriptor_cache_errors", "backend failures", registry=registry)
        self.latency = Histogram(
            "descriptor_cache_stat_seconds",
            "stat latency",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
            registry=registry,
        )


def backend(settings: Settings) -> BlobDescriptorCacheProvider:
    if settings.redis.addr:
        from registry_core.blobs.redis_cache import RedisDescriptorCache

        return RedisDescriptorCache.from_url(redis_url(settings.redis), **redis_options(settings.redis))
    return InMemoryDescriptorCache(settings.storage.cache.blobdescriptorsize)


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def setup(app: FastAPI) -> AsyncIterator[None]:
        cache = backend(settings)
        app.state.descriptor_cache = cache
        app.state.cache_metrics = CacheMetrics(app)
        ping = getattr(cache, "ping", None)
        if ping is not None:
            app.state.health_checks["redis"] = ping
        try:
            yield
        finally:
            aclose = getattr(cache, "aclose", None)
            if aclose is not None:
                await aclose()

    return create_service_app("descriptor-cache", settings, routers=[router], with_registry=False, setup=setup)
