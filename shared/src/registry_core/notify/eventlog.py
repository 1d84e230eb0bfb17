"""The contract between the requests that record events and the senders that deliver them.

An :class:`EventLog` holds every recorded event once, for all endpoints; each endpoint reads it through its
own cursor (a Redis consumer group, or a per-endpoint queue in memory), in the order events were appended.
A sender reads a batch, delivers it, then acknowledges it. What was read but not acknowledged (the sender
crashed, or lost its claim) is read again first, with the same ids: duplicates only after a crash.

Two implementations: :mod:`registry_core.notify.memory` (a process's own queues; lost with the process, as the
Go registry's) and :mod:`registry_core.notify.redis_stream` (one Redis stream with a consumer group per
endpoint; survives any registry process, shared by all replicas).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event as read back: the log's id for it (a stream entry id, or a sequence number) and the event's
    JSON (the Go registry's ``Event`` object, encoded once when it was recorded)."""

    id: str
    data: bytes


class EventLog(Protocol):
    async def start(self, endpoints: Sequence[str]) -> None:
        """Prepare a cursor per endpoint name, starting after what is already logged; idempotent.

        Called at start-up, before the process serves: every event appended afterwards reaches every endpoint.
        """
        ...

    async def append(self, events: Sequence[bytes]) -> None:
        """Record ``events`` (encoded JSON objects) for every endpoint, in order. Returns once they are as
        durable as the log can make them; raises if they could not be recorded."""
        ...

    async def claim(self, endpoint: str) -> bool:
        """Whether this process is, now, the one sender for ``endpoint`` (a renewable lease with Redis; always
        true in memory). A sender checks before each read and each delivery attempt, so one endpoint is
        delivered by one process at a time, in order."""
        ...

    async def read(self, endpoint: str, limit: int, wait: float) -> list[LoggedEvent]:
        """Up to ``limit`` events for ``endpoint``, oldest first: those read before and never acknowledged first,
        then new ones; waits up to ``wait`` seconds for one to arrive (then ``[]``)."""
        ...

    async def ack(self, endpoint: str, ids: Sequence[str]) -> None:
        """``endpoint`` is done with these events (delivered, or ignored by its filters)."""
        ...

    async def shed(self, endpoint: str, bound: int) -> int:
        """Drop the oldest events ``endpoint`` holds beyond ``bound`` (pending delivery), acknowledging them
        unsent; returns how many were dropped (the sender counts and logs them)."""
        ...

    async def pending(self, endpoint: str) -> int:
        """Events logged for ``endpoint`` and not yet acknowledged (read or not)."""
        ...

    async def aclose(self) -> None:
        """Release connections and the claims this process holds."""
        ...
