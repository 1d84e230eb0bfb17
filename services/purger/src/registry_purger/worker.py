"""The purge loop: after a random jitter, purge stale uploads every ``interval``.

Run by ``registry serve purger`` and, in the background, by ``registry serve all``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge

from registry_core.config import Settings
from registry_core.lease import RedisLease
from registry_core.purge import PurgeReport, purge_uploads
from registry_core.storage.driver import StorageDriver
from registry_core.web.caches import redis_options, redis_url

log = logging.getLogger("registry.purger")

LEASE_KEY = "registry::purger::lease"


class PurgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter("registry_purger_runs", "purge runs", registry=registry)
        self.purged = Counter("registry_purger_uploads_purged", "uploads purged", registry=registry)
        self.bytes_freed = Counter("registry_purger_bytes_freed", "bytes of upload data freed", registry=registry)
        self.errors = Counter("registry_purger_errors", "uploads that could not be purged", registry=registry)
        self.last_run = Gauge("registry_purger_last_run_timestamp_seconds", "end of the last run", registry=registry)

    def record(self, report: PurgeReport, *, dry_run: bool) -> None:
        self.runs.inc()
        if not dry_run:
            self.purged.inc(len(report.purged))
            self.bytes_freed.inc(report.bytes_freed)
        self.errors.inc(len(report.errors))
        self.last_run.set(time.time())


async def run_once(driver: StorageDriver, settings: Settings, metrics: PurgeMetrics) -> PurgeReport:
    purging = settings.storage.maintenance.uploadpurging
    report = await purge_uploads(driver, datetime.now(UTC) - purging.age, dry_run=purging.dryrun)
    metrics.record(report, dry_run=purging.dryrun)
    log.info(
        "purge run: %d examined, %d %s, %d bytes, %d errors",
        report.examined,
        len(report.purged),
        "would be purged" if purging.dryrun else "purged",
        report.bytes_freed,
        len(report.errors),
    )
    return report


def purge_lease(settings: Settings) -> RedisLease | None:
    """With Redis configured, the lease that makes one purger act at a time; alone without it."""
    if not settings.redis.addr:
        return None
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url(settings.redis), **redis_options(settings.redis))
    return RedisLease(client, LEASE_KEY, settings.services.purger.lease.total_seconds())


async def purge_loop(app: FastAPI) -> None:
    """Background task for :func:`registry_core.web.app.create_service_app`."""
    settings: Settings = app.state.settings
    purging = settings.storage.maintenance.uploadpurging
    if not purging.enabled or settings.storage.maintenance.readonly.enabled:
        log.info("upload purging disabled")
        return
    metrics = PurgeMetrics(app.state.metrics.registry)
    driver: StorageDriver = app.state.registry.driver
    lease = purge_lease(settings)
    try:
        async with lease.renewed() if lease is not None else contextlib.nullcontext():
            await asyncio.sleep(random.uniform(0, purging.jitter.total_seconds()))
            while True:
                if lease is None or await lease.acquire():
                    try:
                        await run_once(driver, settings, metrics)
                    except Exception:
                        log.exception("purge run failed")
                else:
                    log.debug("another purger holds the lease; skipping this run")
                await asyncio.sleep(purging.interval.total_seconds())
    finally:
        if lease is not None:
            await asyncio.shield(lease.release())
            await lease.client.aclose()
