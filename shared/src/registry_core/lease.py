"""A lease in Redis: singleton background work among replicas (one purger acts at a time).

One Lua script acquires or extends: ``SET key token NX PX ttl``, else ``PEXPIRE`` if the key holds this holder's
token (only its own); another deletes it on release, token checked too. A holder that dies stops renewing, and
the lease expires after ``ttl`` so another replica takes over. Redis holds nothing else here: losing it loses no
data, and without a lease nobody acts (the safe side for deletes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("registry.lease")

_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLease:
    def __init__(self, client: aioredis.Redis, key: str, ttl_seconds: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(int(ttl_seconds * 1000), 1)
        self.token = uuid.uuid4().hex
        self.held = False

    async def acquire(self) -> bool:
        """Take the lease if free, or extend it if already ours. False when another holds it or Redis fails.

        The token decides, not what this process last saw: after a failed call (``held`` turned False) the key may
        still hold our token, and a plain ``SET NX`` would then lock us out of our own lease until it expires."""
        try:
            self.held = bool(await self.client.eval(_ACQUIRE, 1, self.key, self.token, self.ttl_ms))
        except RedisError as exc:
            log.warning("lease %s: redis unavailable (%s); not acting", self.key, exc)
            self.held = False
        return self.held

    async def release(self) -> None:
        """Give the lease up if the key still holds our token (even when a failed call left ``held`` False)."""
        held, self.held = self.held, False
        try:
            await self.client.eval(_RELEASE, 1, self.key, self.token)
        except RedisError as exc:
            if held:
                log.warning("lease %s: release failed (%s); it expires by itself", self.key, exc)

    @contextlib.asynccontextmanager
    async def renewed(self) -> AsyncIterator[None]:
        """While the body runs, renew the lease every third of its TTL as long as it is held (a renewal that
        finds another holder is logged; a Redis failure is logged by :meth:`acquire`)."""
        task = asyncio.create_task(self._keep_renewed())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_renewed(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if self.held and not await self.acquire():
                log.warning("lease %s: lost; another process may act", self.key)
