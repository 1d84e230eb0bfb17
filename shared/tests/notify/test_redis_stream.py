"""RedisEventLog against a real redis-server: order, group commit, one cursor per endpoint, re-reads after a crash,
the sender's lease, shedding, trimming, and an outage of Redis (a server of the test's own, stopped and restarted)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from registry_core.config import RedisSettings
from registry_core.notify.eventlog import LoggedEvent
from registry_core.notify.redis_stream import RedisEventLog
from registry_core.testing.servers import RedisServer, start_redis, stop

pytestmark = pytest.mark.redis

GUARD = 30.0
"""An upper bound for what a test waits on (a lease to expire, a backlog to flush): a hang fails, never a slow run."""


class CountingRedis(aioredis.Redis):
    """A client that counts the round trips of appends (the append script's calls)."""

    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] in ("EVALSHA", "EVAL"):
            self.round_trips += 1
        return await super().execute_command(*args, **options)


def event(n: int) -> bytes:
    return b'{"id":"%d"}' % n


async def stream_data(client: aioredis.Redis, stream: str) -> list[bytes]:
    return [fields[b"e"] for _, fields in await client.xrange(stream)]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it is true (a hang fails after :data:`GUARD` seconds)."""
    async with asyncio.timeout(GUARD):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def blocked(client: aioredis.Redis) -> bool:
    """Whether a client of the server waits in a blocking command."""
    return bool((await client.info("clients"))["blocked_clients"])


async def flushed(log: RedisEventLog) -> bool:
    return log.backlog == 0


async def read_all(log: RedisEventLog, endpoint: str, limit: int = 7) -> list[LoggedEvent]:
    """Read and acknowledge until a read comes back empty."""
    seen: list[LoggedEvent] = []
    while batch := await log.read(endpoint, limit, 0.05):
        seen.extend(batch)
        await log.ack(endpoint, [e.id for e in batch])
    return seen


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def stream() -> str:
    return f"events-{uuid.uuid4().hex}"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """A redis-server of this test's own (it may stop it and start another on the same port: the last is stopped)."""
    servers = [start_redis(tmp_path)]
    yield servers
    for server in servers:
        stop(server.proc)


async def test_appends_land_in_call_order(client: aioredis.Redis, stream: str) -> None:
    log = RedisEventLog(client, stream=stream)
    await log.append([event(0), event(1)])
    await log.append([event(2)])
    await asyncio.gather(*(log.append([event(n), event(n + 1)]) for n in range(3, 403, 2)))
    await log.append([event(403)])
    assert await stream_data(client, stream) == [event(n) for n in range(404)]
    assert (log.backlog, log.dropped) == (0, 0)
    await log.aclose()


async def test_concurrent_appends_share_one_round_trip(redis_server: RedisServer, stream: str) -> None:
    client = CountingRedis.from_url(redis_server.url)
    log = RedisEventLog(client, stream=stream)
    for n in range(3):
        await log.append([event(n)])
    assert client.round_trips == 3, "one round trip per append when they do not overlap"
    await asyncio.gather(*(log.append([event(n)]) for n in range(3, 203)))
    assert client.round_trips <= 3 + 2, "200 concurrent appends: coalesced (the first may go alone)"
    assert await stream_data(client, stream) == [event(n) for n in range(203)]
    await log.aclose()
    await client.aclose()


async def test_each_endpoint_reads_every_event_once(client: aioredis.Redis, stream: str) -> None:
    log = RedisEventLog(client, stream=stream)
    await client.xadd(stream, {"e": b"before start"})
    await log.start(["a", "b"])
    await log.start(["a", "b"])  # idempotent (several replicas start at once)
    other = RedisEventLog(client, stream=stream)
    await other.start(["a"])
    await log.append([event(n) for n in range(20)])
    for endpoint in ("a", "b"):
        seen = await read_all(log, endpoint)
        assert [e.data for e in seen] == [event(n) for n in range(20)], "every event, once, in order, none before"
        assert len({e.id for e in seen}) == 20
        assert await log.pending(endpoint) == 0
    await log.append([event(20)])
    assert [e.data for e in await read_all(log, "a")] == [event(20)]
    await other.aclose()
    await log.aclose()


async def test_blocking_read_waits_longer_than_the_socket_timeout(
    redis_server: RedisServer, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=0.2)
    log = RedisEventLog(client, stream=stream)
    await log.start(["a"])
    with caplog.at_level(logging.WARNING, logger="registry.notify"):
        assert await log.read("a", 10, 0.5) == []
    assert caplog.records == [], "a BLOCK longer than the client's socket timeout is no error"

    reader = asyncio.create_task(log.read("a", 10, 5.0))
    await until(lambda: blocked(client))
    await log.append([event(1)])
    assert [e.data for e in await reader] == [event(1)], "a blocked read wakes up for a new event"
    await log.aclose()
    await client.aclose()


async def test_from_settings_owns_its_client(redis_server: RedisServer, stream: str) -> None:
    log = RedisEventLog.from_settings(RedisSettings(addr=redis_server.addr), stream=stream)
    await log.start(["a"])
    await log.append([event(1)])
    assert [e.data for e in await log.read("a", 10, 0)] == [event(1)]
    await log.aclose()  # closes both of its clients: no ResourceWarning (an error here)
    with pytest.raises(ValueError, match=r"redis\.addr"):
        RedisEventLog.from_settings(RedisSettings())


async def test_a_restarted_process_rereads_what_was_not_acknowledged(client: aioredis.Redis, stream: str) -> None:
    crashed = RedisEventLog(client, stream=stream, lease_ttl=0.3)
    await crashed.start(["a"])
    await crashed.append([event(n) for n in range(3)])
    assert await crashed.claim("a")
    unacked = await crashed.read("a", 10, 0)
    assert [e.data for e in unacked] == [event(n) for n in range(3)]
    # the process dies here: no ack, no release (its lease expires)

    restarted = RedisEventLog(client, stream=stream, lease_ttl=5)
    await restarted.start(["a"])
    await restarted.append([event(3), event(4)])
    await until(lambda: restarted.claim("a"))
    again = await restarted.read("a", 10, 0)
    assert again == unacked, "the same events, with the same ids, first"
    await restarted.ack("a", [e.id for e in again])
    assert [e.data for e in await restarted.read("a", 10, 0)] == [event(3), event(4)]

    await crashed.aclose()  # its lease is the other's now: left alone
    assert await restarted.claim("a")
    await restarted.aclose()


async def test_claim_is_exclusive_and_passes_on_after_expiry(client: aioredis.Redis, stream: str) -> None:
    first = RedisEventLog(client, stream=stream, lease_ttl=30)
    second = RedisEventLog(client, stream=stream, lease_ttl=30)
    assert await first.claim("a")
    assert await first.claim("a"), "renewed by its holder"
    assert not await second.claim("a")
    assert await second.claim("b"), "one lease per endpoint"
    assert await client.pexpire(f"{stream}::sender::a", 1), "the lease's key; its holder stops renewing: it expires"
    await until(lambda: second.claim("a"))
    assert not await first.claim("a"), "the lapsed holder does not take it back"
    await second.aclose()  # releases a and b
    assert await first.claim("a")
    assert await first.claim("b")
    await first.aclose()


async def test_claim_is_false_when_redis_does_not_answer(own_redis: list[RedisServer], stream: str) -> None:
    client = aioredis.Redis.from_url(own_redis[0].url)
    log = RedisEventLog(client, stream=stream, timeout=0.5)
    assert await log.claim("a")
    stop(own_redis[0].proc)
    assert not await log.claim("a")
    assert await log.read("a", 10, 0.1) == []
    await log.aclose()
    await client.aclose()


async def test_shed_drops_the_oldest_unread_beyond_the_bound(client: aioredis.Redis, stream: str) -> None:
    log = RedisEventLog(client, stream=stream)
    await log.start(["a"])
    await log.append([event(n) for n in range(10)])
    read = await log.read("a", 2, 0)  # being delivered: pending, never shed
    assert await log.pending("a") == 10, "lag 8 + pending 2"
    assert await log.shed("a", 10) == 0
    assert await log.shed("a", 5) == 5
    assert await log.pending("a") == 5
    assert await log.shed("a", 5) == 0
    assert await log.read("a", 10, 0) == read, "the pending ones are still there, first"
    await log.ack("a", [e.id for e in read])
    assert [e.data for e in await log.read("a", 10, 0)] == [event(n) for n in range(7, 10)], "2..6 were shed"
    assert await log.pending("a") == 3
    await log.aclose()


async def test_trim_keeps_what_a_slow_group_needs(client: aioredis.Redis, stream: str) -> None:
    log = RedisEventLog(client, stream=stream)
    await log.start(["fast", "slow"])
    await log.append([event(n) for n in range(10)])
    ids = [entry_id.decode() for entry_id, _ in await client.xrange(stream)]
    await read_all(log, "fast")
    done = await log.read("slow", 4, 0)
    await log.ack("slow", [e.id for e in done])
    await log.read("slow", 2, 0)  # read, not acknowledged: still needed

    assert await log.trim() == 4
    assert [entry_id.decode() for entry_id, _ in await client.xrange(stream)] == ids[4:]
    assert await log.trim() == 0
    assert [e.data for e in await read_all(log, "slow")] == [event(n) for n in range(4, 10)]

    await log.append([event(10)])
    await log.read("slow", 10, 0)  # delivered to slow (not acknowledged), unread by fast
    assert await log.trim() == 6, "up to the first entry either group still needs"
    assert await stream_data(client, stream) == [event(10)]
    await read_all(log, "fast")
    await read_all(log, "slow")
    await log.trim()
    assert await client.xlen(stream) == 0, "everything acknowledged by every group"
    assert await read_all(log, "slow") == []
    await log.aclose()


class AckedMeanwhile(aioredis.Redis):
    """A client on which another sender acknowledges what ``group`` has pending right after each ``XINFO GROUPS``
    (between the two reads of a trim): a race that two endpoints of one process, or two processes, can run."""

    group = ""

    async def xinfo_groups(self, name: Any) -> Any:
        groups = await super().xinfo_groups(name)
        pending = await self.xpending_range(name, self.group, "-", "+", 1000)
        if pending:
            await self.xack(name, self.group, *(entry["message_id"] for entry in pending))
        return groups


async def test_trim_when_a_group_acknowledged_between_its_two_reads(redis_server: RedisServer, stream: str) -> None:
    client = AckedMeanwhile.from_url(redis_server.url)
    client.group = "b"
    log = RedisEventLog(client, stream=stream)
    await log.start(["a", "b"])
    await log.append([event(n) for n in range(3)])
    await read_all(log, "a")
    assert len(await log.read("b", 10, 0)) == 3  # pending for b when XINFO answers, acknowledged before XPENDING
    assert await log.trim() == 3, "nothing is pending any more: everything delivered can go"
    assert await client.xlen(stream) == 0
    await log.aclose()
    await client.aclose()


async def test_redis_outage_keeps_events_and_reappends_them_in_order(
    own_redis: list[RedisServer], stream: str, tmp_path: Path
) -> None:
    server = own_redis[0]
    client = aioredis.Redis.from_url(server.url)
    log = RedisEventLog(client, stream=stream, timeout=0.5, retry_interval=0.1, backlog_limit=5)
    await log.start(["a"])
    await log.append([event(0)])

    stop(server.proc)
    await log.append([event(1)])  # does not raise
    await asyncio.gather(*(log.append([event(n)]) for n in range(2, 5)))
    assert (log.backlog, log.dropped) == (4, 0)
    await log.append([event(5), event(6), event(7)])
    assert (log.backlog, log.dropped) == (5, 2), "bounded: the oldest are dropped and counted"

    (tmp_path / "again").mkdir()
    own_redis.append(start_redis(tmp_path / "again", server.port))  # the same address, empty
    await log.append([event(8)])
    await until(lambda: flushed(log))
    await log.append([event(9)])
    # 8 went to the full backlog (dropping 3) unless the retry task had flushed it already: count, don't guess
    kept = [event(n) for n in range(1 + log.dropped, 10)]
    assert log.dropped in (2, 3)
    # a restarted redis without persistence: only what was appended since, the backlog first, in order
    assert await stream_data(client, stream) == kept
    # the group vanished with the server: created again at the stream's start by the next read
    async with asyncio.timeout(GUARD):
        while not (seen := await read_all(log, "a")):
            pass
    assert [e.data for e in seen] == kept
    await log.aclose()
    await client.aclose()


async def test_redis_down_at_start_up(own_redis: list[RedisServer], stream: str, tmp_path: Path) -> None:
    """Groups that could not be created at start-up are created as soon as Redis answers, before the backlog is
    re-appended: the events recorded meanwhile reach every endpoint."""
    server = own_redis[0]
    stop(server.proc)
    client = aioredis.Redis.from_url(server.url)
    log = RedisEventLog(client, stream=stream, timeout=0.5, retry_interval=0.1)
    await log.start(["a", "b"])  # does not raise
    await log.append([event(0), event(1)])
    assert log.backlog == 2

    own_redis.append(start_redis(tmp_path, server.port))
    await until(lambda: flushed(log))
    await log.append([event(2)])
    for endpoint in ("a", "b"):
        assert [e.data for e in await read_all(log, endpoint)] == [event(0), event(1), event(2)]
    assert log.dropped == 0
    await log.aclose()
    await client.aclose()
