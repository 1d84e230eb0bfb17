"""RedisLease against a real redis-server: one holder at a time, renewal, release, expiry, Redis down."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from registry_core.lease import RedisLease
from registry_core.testing.servers import RedisServer, free_port


async def test_one_holder_at_a_time(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    key = f"lease-{uuid.uuid4().hex}"
    first, second = RedisLease(client, key, 5), RedisLease(client, key, 5)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.acquire(), "the holder renews its own lease"
    await first.release()
    assert await second.acquire(), "a released lease is free at once"
    await second.release()
    await client.aclose()


async def test_expired_lease_passes_to_another(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    key = f"lease-{uuid.uuid4().hex}"
    dead, alive = RedisLease(client, key, 0.2), RedisLease(client, key, 5)
    assert await dead.acquire()
    await asyncio.sleep(0.3)
    assert await alive.acquire()
    assert not await dead.acquire(), "a lapsed holder cannot renew over the new holder"
    await dead.release()  # must not delete the other holder's lease
    assert await client.get(key) == alive.token.encode()
    await alive.release()
    await client.aclose()


async def test_redis_down_means_not_acting() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    lease = RedisLease(client, "lease", 5)
    assert not await lease.acquire()
    await lease.release()
    await client.aclose()


async def test_a_holder_that_saw_one_failure_takes_its_own_lease_back(redis_server: RedisServer) -> None:
    """A failed renewal (``held`` turned False) while the key still holds this holder's token: the next acquire
    renews it, instead of waiting out the lease locked out by its own token."""
    client = aioredis.Redis.from_url(redis_server.url)
    key = f"lease-{uuid.uuid4().hex}"
    holder, other = RedisLease(client, key, 30), RedisLease(client, key, 30)
    assert await holder.acquire()
    holder.held = False  # what a RedisError during a renewal leaves behind
    assert await holder.acquire()
    assert await client.get(key) == holder.token.encode()
    assert not await other.acquire()
    await holder.release()
    await client.aclose()
