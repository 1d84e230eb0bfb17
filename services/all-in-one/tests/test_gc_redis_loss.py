"""A purger's online pass when Redis (its lease) is lost in the middle: the pass stops at its next check, deletes
nothing more, and leaves no tombstone a writer would wait on; the next pass, Redis back, finishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from registry_core import gc_protocol
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.digest import Digest
from registry_core.gc import Kind
from registry_core.lease import RedisLease
from registry_core.online_gc import LEASE_KEY, OnlineCollector
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.testing.servers import RedisServer, start_redis, stop
from registry_purger.collector import GcMetrics, run_pass

pytestmark = pytest.mark.redis

REPO = "gc/redis"


class LosingRedis(CheckedDriver):
    """Stops ``redis`` at the first deletion: Redis is lost in the middle of the sweep."""

    def __init__(self, driver: StorageDriver, redis: RedisServer) -> None:
        super().__init__(driver)
        self.redis = redis
        self.deletions = 0

    async def delete(self, path: str) -> None:
        if "/_gc/" not in path:
            self.deletions += 1
            if self.deletions == 1:
                stop(self.redis.proc)
        await super().delete(path)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def orphans(driver: StorageDriver, count: int) -> set[Digest]:
    registry = Registry(driver, InMemoryDescriptorCache())
    found = set()
    for number in range(count):
        data = f"orphan {number}".encode()
        upload = await registry.repository(REPO).uploads.create()
        found.add((await upload.commit(Digest.from_bytes(data), _once(data))).digest)
    return found


async def test_losing_redis_mid_pass_stops_it_safely_and_the_next_pass_finishes(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    storage = CheckedDriver(FilesystemDriver(tmp_path / "root"))
    garbage = await orphans(storage, 6)
    losing = LosingRedis(FilesystemDriver(tmp_path / "root"), redis)
    client = aioredis.Redis(host="127.0.0.1", port=redis.port, socket_timeout=1, socket_connect_timeout=1)
    try:
        lease = RedisLease(client, LEASE_KEY, 30)
        first = await run_pass(
            OnlineCollector(losing, grace=timedelta(0), batch=2), GcMetrics(CollectorRegistry()), lease
        )
        # the batch under way (tombstoned and checked against the claims: safe without Redis) finishes, no other
        assert first.stopped and losing.deletions == 2
        assert first.count(Kind.BLOB) == 0
        assert not (await gc_protocol.read_tombstones(storage)), "no writer may wait on a stopped pass"

        redis = start_redis(tmp_path, redis.port)
        second = await run_pass(
            OnlineCollector(storage, grace=timedelta(0), batch=2), GcMetrics(CollectorRegistry()), lease
        )
        assert not second.stopped and {d.digest for d in second.deleted if d.kind is Kind.BLOB} == garbage
    finally:
        await client.aclose()
        await storage.aclose()
        stop(redis.proc)
