"""The online garbage-collection loop (``docs/online-gc.md``): after a random jitter, one
:class:`registry_core.online_gc.OnlineCollector` pass every ``storage.maintenance.garbagecollect.interval``.

Run beside the purge loop by ``registry serve purger`` and ``registry serve all``, on the app's driver and
descriptor cache (so the in-memory cache of ``serve all`` forgets what is deleted). With Redis, one pass at a time
among replicas and ``registry garbage-collect --online`` (the lease ``registry::gc::lease``), renewed during the
pass; the pass stops when the lease cannot be renewed. Without Redis it runs unconditionally (one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge

from registry_core.config import Settings
from registry_core.gc import Kind
from registry_core.lease import RedisLease
from registry_core.online_gc import LEASE_KEY, OnlineCollector, OnlineGcReport
from registry_core.registry import Registry
from registry_core.web.caches import redis_options, redis_url

log = logging.getLogger("registry.gc")


class GcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter("registry_gc_passes", "online garbage-collection passes", registry=registry)
        self.blobs = Counter("registry_gc_blobs_deleted", "blobs deleted", registry=registry)
        self.bytes = Counter("registry_gc_bytes_reclaimed", "bytes of blob data deleted", registry=registry)
        self.manifests = Counter("registry_gc_manifests_deleted", "manifest revisions deleted", registry=registry)
        self.tags = Counter("registry_gc_tags_deleted", "tags deleted by retention rules", registry=registry)
        self.rescued = Counter("registry_gc_rescued", "candidates a writer's claim kept", registry=registry)
        self.duration = Gauge("registry_gc_pass_duration_seconds", "duration of the last pass", registry=registry)
        self.last_pass = Gauge("registry_gc_last_pass_timestamp_seconds", "end of the last pass", registry=registry)

    def record(self, report: OnlineGcReport) -> None:
        self.passes.inc()
        if not report.dry_run:
            self.blobs.inc(report.count(Kind.BLOB))
            self.bytes.inc(report.bytes_freed)
            self.manifests.inc(report.count(Kind.MANIFEST))
            self.tags.inc(report.count(Kind.TAG))
        self.rescued.inc(report.rescued)
        self.duration.set(report.duration)
        self.last_pass.set(time.time())


def gc_lease(settings: Settings) -> RedisLease | None:
    """With Redis configured, the lease every collector takes; None without it."""
    if not settings.redis.addr:
        return None
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url(settings.redis), **redis_options(settings.redis))
    return RedisLease(client, LEASE_KEY, settings.services.purger.lease.total_seconds())


async def run_pass(collector: OnlineCollector, metrics: GcMetrics, lease: RedisLease | None) -> OnlineGcReport:
    """One pass, under ``lease`` (renewed meanwhile) when there is one."""

    async def still_allowed() -> bool:
        return lease is None or await lease.acquire()

    async with lease.renewed() if lease is not None else contextlib.nullcontext():
        report = await collector.run(still_allowed)
    metrics.record(report)
    log.info(
        "online gc pass: %d tags, %d manifests, %d layer links, %d blobs %s (%d bytes), %d rescued, %d errors,"
        " %.1f s%s",
        report.count(Kind.TAG),
        report.count(Kind.MANIFEST),
        report.count(Kind.LAYER_LINK),
        report.count(Kind.BLOB),
        "would be deleted" if report.dry_run else "deleted",
        report.bytes_freed,
        report.rescued,
        len(report.errors),
        report.duration,
        ", stopped (lease lost)" if report.stopped else "",
    )
    return report


async def gc_loop(app: FastAPI) -> None:
    """Background task for :func:`registry_core.web.app.create_service_app`."""
    settings: Settings = app.state.settings
    gc = settings.storage.maintenance.garbagecollect
    if not gc.enabled or settings.storage.maintenance.readonly.enabled:
        log.info("online garbage collection disabled")
        return
    metrics = GcMetrics(app.state.metrics.registry)
    registry: Registry = app.state.registry
    collector = OnlineCollector(
        registry.driver,
        registry.descriptors,
        grace=gc.grace,
        delete_untagged=gc.deleteuntagged,
        retention=gc.retention,
        dry_run=gc.dryrun,
    )
    lease = gc_lease(settings)
    try:
        await asyncio.sleep(random.uniform(0, gc.jitter.total_seconds()))
        while True:
            if lease is None or await lease.acquire():
                try:
                    await run_pass(collector, metrics, lease)
                except Exception:
                    log.exception("online gc pass failed")
                finally:
                    if lease is not None:
                        await lease.release()
            else:
                log.debug("another collector holds the lease; skipping this pass")
            await asyncio.sleep(gc.interval.total_seconds())
    finally:
        if lease is not None:
            await asyncio.shield(lease.release())
            await lease.client.aclose()
