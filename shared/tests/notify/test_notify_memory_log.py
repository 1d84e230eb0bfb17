"""The in-memory event log: per-endpoint cursors, unacknowledged events first, shedding the oldest."""

from __future__ import annotations

from registry_core.notify.eventlog import EventLog
from registry_core.notify.memory import MemoryEventLog


async def started(*endpoints: str) -> MemoryEventLog:
    log = MemoryEventLog()
    await log.start(endpoints)
    return log


async def datas(log: EventLog, endpoint: str, limit: int = 100) -> list[bytes]:
    return [event.data for event in await log.read(endpoint, limit, 0)]


async def test_every_endpoint_reads_every_event_in_order() -> None:
    log = await started("a", "b")
    await log.append([b"1", b"2"])
    await log.append([b"3"])
    assert await datas(log, "a") == [b"1", b"2", b"3"]
    assert await datas(log, "b", limit=2) == [b"1", b"2"]
    assert await log.claim("a") is True


async def test_read_returns_unacknowledged_events_first_with_the_same_ids() -> None:
    log = await started("a")
    await log.append([b"1", b"2"])
    first = await log.read("a", 1, 0)
    await log.append([b"3"])
    again = await log.read("a", 100, 0)
    assert [e.id for e in again[:1]] == [e.id for e in first]
    assert [e.data for e in again] == [b"1", b"2", b"3"]
    await log.ack("a", [again[0].id, again[2].id])
    assert await datas(log, "a") == [b"2"]
    assert await log.pending("a") == 1


async def test_ids_are_increasing_sequence_numbers() -> None:
    log = await started("a")
    await log.append([b"x"] * 3)
    assert [int(e.id) for e in await log.read("a", 10, 0)] == [1, 2, 3]


async def test_shed_drops_the_oldest_beyond_the_bound() -> None:
    log = await started("a", "b")
    await log.append([str(n).encode() for n in range(5)])
    await log.read("a", 2, 0)  # 0 and 1 read, not acknowledged: still the oldest
    assert await log.shed("a", 2) == 3
    assert await datas(log, "a") == [b"3", b"4"]
    assert await log.shed("a", 2) == 0
    assert await log.pending("b") == 5  # another endpoint's cursor is its own


async def test_an_empty_read_waits_then_returns_nothing() -> None:
    log = await started("a")
    assert await log.read("a", 10, 0.01) == []


async def test_start_is_idempotent_and_events_before_start_are_not_kept() -> None:
    log = MemoryEventLog()
    await log.append([b"before"])
    await log.start(["a"])
    await log.append([b"after"])
    await log.start(["a"])
    assert await datas(log, "a") == [b"after"]
