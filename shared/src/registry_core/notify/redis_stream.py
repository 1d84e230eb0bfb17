"""The event log in Redis: ONE stream shared by all replicas, a consumer group per endpoint.

Why one stream and groups
    An event is written once (``XADD``), whatever the number of endpoints; each endpoint's consumer group is its
    own cursor over the same entries (last delivered id, entries read but not acknowledged). Any replica may
    append, any replica may deliver, and a replica that dies loses nothing that reached Redis.

Why one consumer name
    Every replica reads a group as the same consumer (``consumer``, default ``sender``), and only the holder of the
    endpoint's lease (:meth:`RedisEventLog.claim`, a :class:`~registry_core.lease.RedisLease` on
    ``<stream>::sender::<endpoint>``) reads at all. The group's pending entries list (PEL) is then the list of what
    the current or a crashed holder read and never acknowledged, and a new holder re-reads it first (``XREADGROUP``
    from id ``0``) before new entries (``>``): nothing needs ``XAUTOCLAIM``, and ids stay the same.

Order
    Entries are in the order of the :meth:`~RedisEventLog.append` calls of one process (one writer coroutine
    coalesces them, in call order); appends of different replicas interleave in the order Redis received them.
    Each endpoint is read in stream order by one process at a time (while its lease holds: a holder that stalls
    longer than ``lease_ttl`` may overlap the next one, as any lease).

Duplicates
    Only after a failure: a holder that crashed (or lost its lease, or failed to ``XACK``) between delivery and
    acknowledgement; the new holder re-delivers those entries with the same ids (the Go event's ``id`` is in the
    payload too), so receivers can de-duplicate. An append whose round trip timed out may also have reached Redis
    before it was re-appended from the backlog: that duplicate has a new entry id but the same event ``id``.

What is durable
    What Redis keeps: with ``appendonly yes`` and ``appendfsync everysec`` a crash of Redis (or of its host) loses
    up to about one second of appends and acknowledgements (lost acks mean re-deliveries; lost appends are lost);
    ``appendfsync always`` loses nothing but costs a disk sync per write; RDB snapshots only lose everything since
    the last snapshot. If the stream or a group disappears (Redis restarted empty), the group is created again at
    the start of the stream the next time it is read, so what was appended since is still delivered.

Losing Redis must fail no request
    :meth:`~RedisEventLog.append` never raises. When Redis does not answer (an error, or no answer within
    ``timeout``), events go to a bounded in-process backlog (``backlog_limit`` events; beyond it the oldest are
    dropped and counted in :attr:`~RedisEventLog.dropped`); one warning per outage, never a payload. While Redis is
    down, appends go straight to the backlog (no request waits on a dead Redis); a probe (from the retry task
    started by :meth:`~RedisEventLog.start`, or kicked by an append once ``retry_interval`` has passed) re-appends
    the backlog, oldest first, and only then lets new appends through: newer events never overtake it. A process
    that dies during an outage loses its backlog.

Bounds
    ``XADD ... MAXLEN ~ cap`` bounds the stream whatever happens (an endpoint further behind than ``cap`` loses its
    oldest events). Besides, :meth:`~RedisEventLog.ack` trims (at most once a second per process, ``XTRIM MINID``,
    exact) everything older than what the slowest group still needs: for each group, its oldest pending entry if
    it has any, else the entry after its last delivered one. Only the groups this process started count (a group
    left behind by an endpoint removed from the configuration would otherwise keep the stream at ``cap``
    forever); so, during a rolling change that adds an endpoint, replicas still without it may trim what its group
    needs. If a started group is missing, nothing is trimmed. :meth:`~RedisEventLog.shed` lets a sender bound one
    endpoint's backlog.

Blocking reads
    A read waits for new entries with ``XREADGROUP ... BLOCK``. The configured client's ``socket_timeout``
    (``redis.readtimeout``, 0.5 s by default) would cut any longer wait with a timeout error, so blocking reads use
    a dedicated connection pool, built from the client's own connection settings with ``socket_timeout`` =
    ``max_block`` + the client's timeout, and a read waits at most ``max_block`` seconds (the sender just reads
    again). The request path's client keeps its short timeouts, and its pool is never held by a blocked read.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from registry_core.config import RedisSettings
from registry_core.lease import RedisLease
from registry_core.notify.eventlog import LoggedEvent

log = logging.getLogger("registry.notify")

_T = TypeVar("_T")
_FAILURES = (RedisError, OSError, TimeoutError)
"""What "Redis did not answer" looks like: redis-py's errors, a socket error, or our own deadline."""
FIELD = "e"
"""The one field of an entry: the event's JSON."""
MAX_BATCH = 1000
"""Events per append round trip (a larger burst, or a backlog flush, takes several)."""
TRIM_INTERVAL = 1.0
"""Seconds between two trims by one process."""


_APPEND = f"""
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '{FIELD}', ARGV[i])
end
return #ARGV - 1
"""
"""Append ``ARGV[2..]`` to the stream ``KEYS[1]`` (bounded to about ``ARGV[1]`` entries), in order."""


@dataclass(order=True, frozen=True)
class _Id:
    """A stream entry id, comparable (``<ms>-<seq>``)."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, value: str | bytes) -> _Id:
        ms, _, seq = _text(value).partition("-")
        return cls(int(ms), int(seq or 0))

    def next(self) -> _Id:
        return _Id(self.ms, self.seq + 1)

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


@dataclass
class _Append:
    """One caller's events, and the future it waits on."""

    events: Sequence[bytes]
    done: asyncio.Future[None] = field(repr=False)


def _answer(appends: Iterable[_Append]) -> None:
    for item in appends:
        if not item.done.done():
            item.done.set_result(None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _is_nogroup(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


def _entries(response: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """The ``(id, fields)`` pairs of an ``XREADGROUP`` reply on one stream, whatever shape redis-py gives it (RESP2
    list, RESP3 dict, legacy or unified)."""
    if not response:
        return []
    items: Iterable[Any] = response.items() if isinstance(response, dict) else response
    out: list[tuple[Any, dict[Any, Any]]] = []
    for _stream, entries in items:
        if entries and isinstance(entries[0], list):  # RESP3 legacy shape: one more level
            entries = entries[0]
        out.extend((entry_id, fields or {}) for entry_id, fields in entries if entry_id is not None)
    return out


class RedisEventLog:
    """:class:`~registry_core.notify.eventlog.EventLog` on one Redis stream (see the module's docstring).

    ``client`` is the caller's (never closed here); :meth:`from_settings` builds one this log owns and closes.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        stream: str = "registry::events",
        lease_ttl: float = 10.0,
        cap: int = 1_000_000,
        consumer: str = "sender",
        backlog_limit: int = 100_000,
        timeout: float = 1.0,
        max_block: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        """``timeout``: how long one Redis operation may take before it counts as failed (it bounds redis-py's
        own retries too); ``max_block``: the longest wait of one blocking read; ``retry_interval``: seconds
        between two attempts to re-append the backlog during an outage."""
        self.client = client
        self.stream = stream
        self.lease_ttl = lease_ttl
        self.cap = cap
        self.consumer = consumer
        self.backlog_limit = backlog_limit
        self.timeout = timeout
        self.max_block = max_block
        self.retry_interval = retry_interval
        self._owns_client = False
        self._blocking = self._blocking_client(client, max_block)
        self._append_script = client.register_script(_APPEND)
        self._endpoints: list[str] = []
        self._created: set[str] = set()
        self._leases: dict[str, RedisLease] = {}
        # group commit: callers waiting for the writer, the writer task
        self._waiting: collections.deque[_Append] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        # outage: events not yet in Redis (oldest first), how many ever left its head, the probe re-appending them
        self._backlog: collections.deque[bytes] = collections.deque()
        self._backlog_removed = 0
        self._dropped = 0
        self._dropping = False
        self._down = False
        self._flush_lock = asyncio.Lock()
        self._last_attempt = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._read_failing = False
        self._next_trim = 0.0
        self._last_pending: dict[str, int] = {}

    @classmethod
    def from_settings(cls, redis: RedisSettings, **options: Any) -> RedisEventLog:
        """A log on the ``redis`` section's server, with a client of its own (closed by :meth:`aclose`)."""
        from registry_core.web.caches import redis_options, redis_url

        if redis.addr is None:
            raise ValueError("notifications in redis need redis.addr")
        client = aioredis.Redis.from_url(redis_url(redis), **redis_options(redis))
        log_ = cls(client, **options)
        log_._owns_client = True
        return log_

    @staticmethod
    def _blocking_client(client: aioredis.Redis, max_block: float) -> aioredis.Redis:
        """A client on its own pool with the same connection settings as ``client`` but a socket timeout longer
        than any ``BLOCK`` this log sends."""
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs["socket_timeout"] = max_block + (kwargs.get("socket_timeout") or 1.0)
        blocking_pool = aioredis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=pool.max_connections, **kwargs
        )
        return aioredis.Redis.from_pool(blocking_pool)  # owns the pool: closed with the client

    # -- metrics -----------------------------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Events recorded in this process and not yet in Redis (it did not answer)."""
        return len(self._backlog)

    @property
    def dropped(self) -> int:
        """Events dropped from a full backlog since this log was created."""
        return self._dropped

    # -- start-up ------------------------------------------------------------------------------------------------

    async def start(self, endpoints: Sequence[str]) -> None:
        """Create each endpoint's group at the stream's end (``$``), if absent. Never raises: if Redis does not
        answer, the groups are created by the retry task as soon as it does (before the backlog is flushed, so the
        events recorded meanwhile reach them)."""
        for name in endpoints:
            if name not in self._endpoints:
                self._endpoints.append(name)
        try:
            await self._create_groups()
        except _FAILURES as exc:
            self._went_down(exc)
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.create_task(self._retry_loop(), name="eventlog-retry")

    async def _create_groups(self) -> None:
        for name in self._endpoints:
            if name not in self._created:
                await self._create_group(name, "$")

    async def _create_group(self, endpoint: str, start: str) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.xgroup_create(self.stream, endpoint, id=start, mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._created.add(endpoint)

    async def _recreate_group(self, endpoint: str) -> None:
        """After ``NOGROUP``: a group this log created is gone (Redis lost its data, or someone deleted it): from
        the stream's start, so that what was appended since is delivered (duplicates rather than losses); a group
        never created (Redis was down at start-up): at the end, as :meth:`start` would have."""
        start = "0" if endpoint in self._created else "$"
        try:
            await self._create_group(endpoint, start)
            log.warning("events: consumer group %s was missing; created it at %s", endpoint, start)
        except _FAILURES as exc:
            log.debug("events: cannot create group %s: %s", endpoint, exc)

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            if self._down or self._backlog:
                try:
                    await self.flush()
                except Exception:  # a bug must not stop the retries
                    log.exception("events: re-appending the backlog failed")

    # -- append: group commit, backlog -------------------------------------------------------------------------

    async def append(self, events: Sequence[bytes]) -> None:
        """Record ``events``; returns once they are in Redis, or in the backlog if Redis did not answer. Never
        raises. Concurrent calls share one round trip, in call order."""
        if not events:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Append(list(events), done))
        if self._writer is None or self._writer.done():
            # A context of its own: the request that happens to start the writer must not lend its id (logs) or
            # its span (traces) to the appends of every request the writer then serves.
            self._writer = asyncio.create_task(self._write(), name="eventlog-writer", context=contextvars.Context())
        await done

    async def _write(self) -> None:
        """The one writer: takes every waiting append (up to :data:`MAX_BATCH` events), one round trip, repeat.

        Whatever happens (even an unexpected error, or this task's cancellation), every caller is answered: a
        request never hangs on the event log."""
        batch: list[_Append] = []
        try:
            while self._waiting:
                batch = [self._waiting.popleft()]
                count = len(batch[0].events)
                while self._waiting and count + len(self._waiting[0].events) <= MAX_BATCH:
                    batch.append(self._waiting.popleft())
                    count += len(batch[-1].events)
                events = [event for item in batch for event in item.events]
                if self._down:
                    self._to_backlog(events)
                    self._kick_probe()
                else:
                    try:
                        await self._bounded(self._xadd(events))
                    except Exception as exc:  # RedisError, OSError, TimeoutError, or a bug: never the request's
                        self._went_down(exc)
                        self._to_backlog(events)
                _answer(batch)
        finally:
            _answer(batch)
            _answer(self._waiting)
            self._waiting.clear()

    async def _xadd(self, events: Sequence[bytes]) -> None:
        """One ``XADD`` per event, all in one script call: one command for the client to encode and one reply to
        parse, where a pipeline of ``XADD`` costs this process a command and a reply per event."""
        await self._append_script(keys=[self.stream], args=[self.cap, *events])

    async def _bounded(self, operation: Awaitable[_T], seconds: float | None = None) -> _T:
        """``operation`` within ``seconds`` (default ``timeout``), else :class:`TimeoutError`."""
        async with asyncio.timeout(self.timeout if seconds is None else seconds):
            return await operation

    def _went_down(self, exc: BaseException) -> None:
        self._last_attempt = time.monotonic()
        if not self._down:
            self._down = True
            log.warning(
                "events: redis unavailable (%s); keeping events in this process (at most %d) until it answers",
                str(exc) or type(exc).__name__,
                self.backlog_limit,
            )

    def _to_backlog(self, events: Sequence[bytes]) -> None:
        self._backlog.extend(events)
        excess = len(self._backlog) - self.backlog_limit
        if excess > 0:
            if not self._dropping:
                log.warning("events: backlog full (%d); dropping the oldest events", self.backlog_limit)
            for _ in range(excess):
                self._backlog.popleft()
            self._backlog_removed += excess
            self._dropped += excess
            self._dropping = True

    def _kick_probe(self) -> None:
        """During an outage, try Redis again in the background once ``retry_interval`` has passed."""
        if self._flush_lock.locked() or (self._probe is not None and not self._probe.done()):
            return
        if time.monotonic() - self._last_attempt >= self.retry_interval:
            self._probe = asyncio.create_task(self.flush(), name="eventlog-probe", context=contextvars.Context())

    async def flush(self) -> bool:
        """Re-append the backlog, oldest first (creating the groups :meth:`start` could not); True once it is
        empty and appends go to Redis again. Runs only while appends go to the backlog, so the two never race for
        the stream's order."""
        async with self._flush_lock:
            return await self._flush()

    async def _flush(self) -> bool:
        self._last_attempt = time.monotonic()
        flushed = 0
        try:
            await self._create_groups()
            while self._backlog:
                head = self._backlog_removed
                chunk = list(itertools.islice(self._backlog, MAX_BATCH))
                await self._bounded(self._xadd(chunk), self.timeout * 5)
                # the writer may have dropped some of the chunk's oldest while we waited: remove what is left of it
                for _ in range(max(0, head + len(chunk) - self._backlog_removed)):
                    self._backlog.popleft()
                self._backlog_removed = max(self._backlog_removed, head + len(chunk))
                flushed += len(chunk)
        except _FAILURES as exc:
            self._went_down(exc)
            if flushed:
                log.info("events: re-appended %d events before redis failed again", flushed)
            return False
        if self._down:
            self._down = False
            self._dropping = False
            log.warning(
                "events: redis answers again; re-appended %d events (%d dropped in all so far)", flushed, self._dropped
            )
        return True

    # -- the sender's side ---------------------------------------------------------------------------------------

    async def claim(self, endpoint: str) -> bool:
        """Take or renew this process's lease on ``endpoint`` (``lease_ttl``); False if another holds it or Redis
        does not answer."""
        lease = self._leases.get(endpoint)
        if lease is None:
            lease = self._leases[endpoint] = RedisLease(
                self.client, f"{self.stream}::sender::{endpoint}", self.lease_ttl
            )
        try:
            return await self._bounded(lease.acquire())
        except TimeoutError:
            lease.held = False
            return False

    async def read(self, endpoint: str, limit: int, wait: float) -> list[LoggedEvent]:
        """The group's pending entries first (read before, never acknowledged: same ids), else new ones, waiting
        up to ``min(wait, max_block)`` seconds. On a Redis error: ``[]`` after a short pause."""
        try:
            events = await self._read_pending(endpoint, limit)
            if not events:
                events = await self._read_new(endpoint, limit, wait)
        except _FAILURES as exc:
            if _is_nogroup(exc):
                await self._recreate_group(endpoint)
                return []
            if not self._read_failing:
                self._read_failing = True
                log.warning("events: cannot read for %s (%s); retrying", endpoint, str(exc) or type(exc).__name__)
            await asyncio.sleep(min(max(wait, 0.1), 1.0))
            return []
        if self._read_failing:
            self._read_failing = False
            log.info("events: reading for %s again", endpoint)
        return events

    async def _read_pending(self, endpoint: str, limit: int) -> list[LoggedEvent]:
        reply = await self._bounded(self.client.xreadgroup(endpoint, self.consumer, {self.stream: "0"}, count=limit))
        return await self._events(endpoint, reply)

    async def _read_new(self, endpoint: str, limit: int, wait: float) -> list[LoggedEvent]:
        block = min(wait, self.max_block)
        block_ms = max(int(block * 1000), 1) if block > 0 else None  # BLOCK 0 would wait forever
        reply = await self._bounded(
            self._blocking.xreadgroup(
                endpoint,
                self.consumer,
                {self.stream: ">"},
                count=limit,
                block=block_ms,
            ),
            block + self.timeout,
        )
        return await self._events(endpoint, reply)

    async def _events(self, endpoint: str, reply: Any) -> list[LoggedEvent]:
        """The reply's entries as events; entries the stream no longer has (trimmed by ``MAXLEN`` while pending)
        come back empty and are acknowledged at once."""
        events: list[LoggedEvent] = []
        gone: list[str] = []
        for entry_id, fields in _entries(reply):
            data = fields.get(FIELD.encode(), fields.get(FIELD))
            if data is None:
                gone.append(_text(entry_id))
            else:
                events.append(LoggedEvent(_text(entry_id), data if isinstance(data, bytes) else data.encode()))
        if gone:
            await self._bounded(self.client.xack(self.stream, endpoint, *gone))
        return events

    async def ack(self, endpoint: str, ids: Sequence[str]) -> None:
        """``XACK``, then (at most once a second per process) trim. A failure is logged, not raised: the entries
        stay pending and are delivered again (the at-least-once side)."""
        if ids:
            try:
                await self._bounded(self.client.xack(self.stream, endpoint, *ids))
            except _FAILURES as exc:
                log.warning("events: ack for %s failed (%s); they will be delivered again", endpoint, exc)
                return
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_INTERVAL
            try:
                await self.trim()
            except _FAILURES as exc:
                log.debug("events: trim failed: %s", exc)

    async def trim(self) -> int:
        """Remove the entries no started group needs any more (``XTRIM MINID``): older than each group's oldest
        pending entry, or than the entry after its last delivered one. Groups not started by this process are not
        considered; if a started group is missing, nothing is trimmed. Returns how many entries were removed."""
        groups = {_text(g["name"]): g for g in await self._bounded(self.client.xinfo_groups(self.stream))}
        needed: _Id | None = None
        for name in self._endpoints:
            group = groups.get(name)
            if group is None:
                return 0
            # nothing pending: all up to the last delivered id (as XINFO told it, if older) is acknowledged
            need = _Id.parse(group["last-delivered-id"]).next()
            if group["pending"]:  # unless acknowledged since (another sender): XPENDING then has no "min"
                oldest = (await self._bounded(self.client.xpending(self.stream, name)))["min"]
                if oldest is not None:
                    need = _Id.parse(oldest)
            needed = need if needed is None else min(needed, need)
        if needed is None:
            return 0
        return int(await self._bounded(self.client.xtrim(self.stream, minid=str(needed), approximate=False)))

    async def _group(self, endpoint: str) -> tuple[int | None, int]:
        """The group's lag (None if Redis cannot tell) and pending count."""
        for group in await self._bounded(self.client.xinfo_groups(self.stream)):
            if _text(group["name"]) == endpoint:
                lag = group.get("lag")
                return (None if lag is None else int(lag)), int(group["pending"])
        raise ResponseError(f"NOGROUP no group {endpoint} on {self.stream}")

    async def shed(self, endpoint: str, bound: int) -> int:
        """Acknowledge unsent the oldest unread entries beyond ``bound`` (lag + pending); returns how many. Entries
        already read (pending) are never shed: they are being delivered. Skipped when Redis cannot tell the lag
        (it can after ``XDEL``, which this log never sends) or does not answer."""
        try:
            lag, pending = await self._group(endpoint)
            if lag is None:
                return 0
            excess = min(lag + pending - bound, lag)
            shed = 0
            while shed < excess:
                reply = await self._bounded(
                    self.client.xreadgroup(
                        endpoint,
                        self.consumer,
                        {self.stream: ">"},
                        count=min(excess - shed, MAX_BATCH),
                    )
                )
                ids = [_text(entry_id) for entry_id, _ in _entries(reply)]
                if not ids:
                    break
                await self._bounded(self.client.xack(self.stream, endpoint, *ids))
                shed += len(ids)
            return shed
        except _FAILURES as exc:
            if _is_nogroup(exc):
                await self._recreate_group(endpoint)
            else:
                log.debug("events: shed for %s failed: %s", endpoint, exc)
            return 0

    async def pending(self, endpoint: str) -> int:
        """Lag + pending count (an upper bound, ``XLEN``, for the lag when Redis cannot tell it); the last known
        value when Redis does not answer."""
        try:
            lag, pending = await self._group(endpoint)
            if lag is None:
                lag = int(await self._bounded(self.client.xlen(self.stream)))
            self._last_pending[endpoint] = lag + pending
        except _FAILURES as exc:
            if _is_nogroup(exc):
                await self._recreate_group(endpoint)
        return self._last_pending.get(endpoint, 0)

    # -- shutdown ------------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Let the writer finish (bounded by ``timeout``), try the backlog once more, release this process's
        leases, stop the retry task, close the clients this log owns."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer], timeout=self.timeout * 2)
        for task in (self._retry_task, self._probe):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._backlog:
            self._last_attempt = 0.0
            self._probe = None
            await self.flush()
            if self._backlog:
                log.warning("events: closing with %d events never recorded (redis unavailable)", len(self._backlog))
        for lease in self._leases.values():
            with contextlib.suppress(TimeoutError):
                await self._bounded(lease.release())
        await self._blocking.aclose()
        if self._owns_client:
            await self.client.aclose()
