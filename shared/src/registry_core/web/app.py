"""The one way a service app is built: settings in, a FastAPI app with storage, cache, health and metrics out.

Nothing is built at import time. The lifespan owns the resources (driver, descriptor cache, background
tasks) and publishes them on ``app.state`` for the dependencies in :mod:`registry_core.web.deps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI

from registry_core import tracing
from registry_core.blobs.cache import CacheStats
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider
from registry_core.config import Settings
from registry_core.manifests.concurrency import DEFAULT_LIMIT
from registry_core.notify.metrics import NotificationMetrics
from registry_core.notify.service import running_notifications
from registry_core.registry import Registry
from registry_core.storage.driver import PathNotFoundError, StorageDriver
from registry_core.storage.factory import create_driver
from registry_core.web.access_log import AccessLogMiddleware
from registry_core.web.auth import auth_dependencies, build_guard
from registry_core.web.caches import create_descriptor_cache
from registry_core.web.errors import install_error_handlers
from registry_core.web.headers import ConfiguredHeadersMiddleware
from registry_core.web.health import HealthCheck, health_router
from registry_core.web.metrics import CacheStatsCollector, Metrics, MetricsMiddleware
from registry_core.web.request_context import RequestContextMiddleware
from registry_core.web.storage_health import PeriodicStorageCheck, UnhealthyGateMiddleware, background_task

log = logging.getLogger("registry.app")

BackgroundTask = Callable[[FastAPI], Awaitable[None]]
"""Runs for the app's lifetime (cancelled at shutdown); reads what it needs from ``app.state``."""

Setup = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
"""A service's own resources: entered at start-up (after storage), exited at shutdown."""

CLEAR_RETRY_INTERVAL = 1.0
"""Seconds between retries of the descriptor-cache clears that failed (see ``blobs.cache.ClearBacklog``)."""


def storage_check(driver: StorageDriver) -> HealthCheck:
    async def check() -> None:
        with contextlib.suppress(PathNotFoundError):  # reachable, merely empty
            await driver.list("/")

    return check


def build_registry(settings: Settings, driver: StorageDriver, cache: BlobDescriptorCacheProvider) -> Registry:
    storage = settings.storage
    return Registry(
        driver,
        cache,
        delete_enabled=storage.delete.enabled,
        readonly=storage.maintenance.readonly.enabled,
        redirect=not storage.redirect.disable,
        blob_max_age=int(settings.http.blobcachemaxage.total_seconds()),
        tag_concurrency=storage.tag.concurrencylimit or DEFAULT_LIMIT,
        gc_grace=gc.grace.total_seconds() if (gc := storage.maintenance.garbagecollect).enabled else None,
    )


async def retry_cache_clears(app: FastAPI) -> None:
    """Retry the clears the descriptor cache missed, so other processes stop seeing removed links soon after
    the cache is back, even while this process gets no request."""
    backlog = app.state.registry.cache_stats.backlog
    while True:
        await asyncio.sleep(CLEAR_RETRY_INTERVAL)
        if backlog:
            await backlog.flush()


def _registry_stats(app: FastAPI) -> CacheStats | None:
    registry: Registry | None = getattr(app.state, "registry", None)
    return None if registry is None else registry.cache_stats


async def _close(resource: object) -> None:
    aclose = getattr(resource, "aclose", None)
    if aclose is not None:
        await aclose()


def create_service_app(
    title: str,
    settings: Settings,
    *,
    routers: Sequence[APIRouter] = (),
    with_registry: bool = True,
    background: Sequence[BackgroundTask] = (),
    setup: Setup | None = None,
) -> FastAPI:
    """Build one service's app (or, with every router, the all-in-one app)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with _resources(app):
                yield
        finally:
            if tracing.active():
                # The last moment that is sure to come: on SIGTERM uvicorn drains, runs this, then re-raises
                # the signal, which ends the process with no ``finally`` or ``atexit`` of its own.
                await asyncio.to_thread(tracing.shutdown)

    @contextlib.asynccontextmanager
    async def _resources(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as resources:
            if with_registry:
                driver = create_driver(settings.storage)
                resources.push_async_callback(_close, driver)
                cache = create_descriptor_cache(settings)
                resources.push_async_callback(_close, cache)
                app.state.registry = build_registry(settings, driver, cache)
                app.state.health_checks["storage"] = storage_check(driver)
                if (ping := getattr(cache, "ping", None)) is not None:  # Redis or the descriptor-cache service
                    app.state.advisory_checks["descriptorcache"] = ping
            if notification_metrics is not None:  # the log started before the app serves, senders running
                app.state.notifier = await resources.enter_async_context(
                    running_notifications(settings, notification_metrics)
                )
            if setup is not None:
                await resources.enter_async_context(setup(app))
            tasks = [
                asyncio.create_task(task(app), name=f"{title}:{task.__name__}")
                for task in (*background, *([retry_cache_clears] if with_registry else []))
            ]
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
                app.state.notifier = None

    checker = PeriodicStorageCheck(settings.health.storagedriver)
    if with_registry and settings.health.storagedriver.enabled:
        background = [*background, background_task(checker)]
    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    metrics = Metrics(title)
    if with_registry:
        metrics.registry.register(CacheStatsCollector(lambda: _registry_stats(app)))
    app.state.settings = settings
    serves_api = with_registry and bool(routers)  # the purger has storage but no routes: no auth files to read
    app.state.guard = build_guard(settings.auth) if serves_api else None
    endpoints = [endpoint.name for endpoint in settings.notifications.enabled] if serves_api else []
    notification_metrics = NotificationMetrics(metrics.registry, endpoints) if endpoints else None
    app.state.notifier = None  # the lifespan sets it while notifications run: requests record events through it
    app.state.metrics = metrics
    app.state.health_checks = {}
    app.state.advisory_checks = {}
    install_error_handlers(app)
    app.include_router(health_router())
    guarded = auth_dependencies(settings) if serves_api else []
    for router in routers:
        app.include_router(router, dependencies=guarded)
    if with_registry and settings.health.storagedriver.enabled:
        app.add_middleware(UnhealthyGateMiddleware, checker=checker)
    if settings.http.headers:
        app.add_middleware(ConfiguredHeadersMiddleware, headers=settings.http.headers)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.log.accesslog.disabled is False:
        app.add_middleware(AccessLogMiddleware)  # inside the request context: its lines carry the id
    if tracing.active():  # only then: off, tracing adds nothing to the stack
        tracing.instrument_app(app)  # must come before RequestContextMiddleware, see there
    app.add_middleware(RequestContextMiddleware)  # outermost: the id is set for everything below
    return app
