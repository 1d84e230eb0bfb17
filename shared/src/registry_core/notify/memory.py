"""The in-process :class:`~registry_core.notify.eventlog.EventLog`: a queue per endpoint, ids as sequence numbers.

Lossy with the process, as the Go registry's queues are: events not yet delivered when the process stops are
gone, and each process delivers only what it recorded (use Redis for a log that survives and is shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from registry_core.notify.eventlog import LoggedEvent


@dataclass
class _Queue:
    """One endpoint's cursor: ``unacked`` was read and not acknowledged, ``new`` was never read."""

    unacked: list[LoggedEvent] = field(default_factory=list)
    new: deque[LoggedEvent] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __len__(self) -> int:
        return len(self.unacked) + len(self.new)


class MemoryEventLog:
    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._ids = itertools.count(1)

    async def start(self, endpoints: Sequence[str]) -> None:
        for name in endpoints:
            self._queues.setdefault(name, _Queue())

    async def append(self, events: Sequence[bytes]) -> None:
        logged = [LoggedEvent(str(next(self._ids)), data) for data in events]
        for queue in self._queues.values():
            queue.new.extend(logged)
            queue.arrived.set()

    async def claim(self, endpoint: str) -> bool:
        return True

    async def read(self, endpoint: str, limit: int, wait: float) -> list[LoggedEvent]:
        queue = self._queues[endpoint]
        if not queue:
            queue.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.arrived.wait(), wait)
        batch = queue.unacked[:limit]
        while len(batch) < limit and queue.new:
            event = queue.new.popleft()
            queue.unacked.append(event)
            batch.append(event)
        return batch

    async def ack(self, endpoint: str, ids: Sequence[str]) -> None:
        queue = self._queues[endpoint]
        done = set(ids)
        queue.unacked = [event for event in queue.unacked if event.id not in done]

    async def shed(self, endpoint: str, bound: int) -> int:
        queue = self._queues[endpoint]
        excess = len(queue) - bound
        if excess <= 0:
            return 0
        from_unacked = min(excess, len(queue.unacked))
        del queue.unacked[:from_unacked]
        for _ in range(excess - from_unacked):
            queue.new.popleft()
        return excess

    async def pending(self, endpoint: str) -> int:
        return len(self._queues[endpoint])

    async def aclose(self) -> None:
        self._queues.clear()
