"""Delivery to one endpoint: a background loop over the event log, one envelope per batch, retried until accepted.

Each turn: ``claim`` (skip the turn if another process is the endpoint's sender), ``shed`` past ``maxpending``
and count the pending events (at most once a second), ``read`` a batch, acknowledge what the endpoint's filters
ignore, POST the rest as one envelope. Any 2xx or 3xx answer is success, as in Go (redirects are not followed);
then the batch is acknowledged. Anything else (a status of 400 or more, a connection error, a timeout) is retried,
the same batch in the same order, after
:func:`~registry_core.notify.backoff.retry_delay`. Before each attempt the claim is checked again: a sender that
lost it drops the batch, which the new sender reads again (never acknowledged here).

Requests never wait for this loop: they only append to the log. Header values are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from opentelemetry.instrumentation.utils import suppress_instrumentation

from registry_core.config.notifications import EndpointSettings
from registry_core.notify.backoff import retry_delay
from registry_core.notify.eventlog import EventLog, LoggedEvent
from registry_core.notify.events import EVENTS_MEDIA_TYPE, envelope, recorded_at
from registry_core.notify.filters import EventFilter
from registry_core.notify.metrics import NotificationMetrics

log = logging.getLogger("registry.notifications")

BATCH = 1000
"""Events per envelope at most (about 600 KB of JSON)."""
READ_WAIT = 1.0
"""Seconds a read waits for a new event before the loop turns (and refreshes the pending gauge)."""
LINGER = 0.25
"""Seconds the loop waits after delivering a batch that was not full, so that the next envelope carries what
arrived meanwhile: under load, one POST per ``LINGER`` (or per ``BATCH`` events) instead of one per event, which
would cost the listener and this process far more than the events themselves (each turn is a POST and a few
round trips to the log: measured at 1 to 2 ms of this process's CPU). An event arriving after a quiet spell
still leaves at once."""
SHED_INTERVAL = 1.0
"""Seconds between two sheds (and two readings of the pending count), at each turn and while waiting to retry:
the bound holds within a second's worth of events, during a long backoff too."""
ERROR_PAUSE = 1.0
"""Seconds the loop pauses after the log itself failed (Redis unreachable, say)."""


class EndpointSender:
    def __init__(self, endpoint: EndpointSettings, log: EventLog, metrics: NotificationMetrics) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.log = log
        self.metrics = metrics
        self.filter = EventFilter.of(endpoint)
        self.timeout = endpoint.timeout.total_seconds()
        headers = [(name, value) for name, values in endpoint.headers.items() for value in values]
        self.client = httpx.AsyncClient(headers=headers, timeout=self.timeout, follow_redirects=False)
        self.next_check = 0.0
        """When the next turn sheds and counts the pending events (the loop's clock)."""

    async def run(self) -> None:
        """Deliver until cancelled. Untraced: with tracing on, each turn's Redis calls (claim, read, acknowledge)
        would otherwise be a trace of their own every second, with no request behind them (the context is this
        task's own)."""
        with suppress_instrumentation():
            while True:
                try:
                    await self.turn()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("notifications: endpoint %s: the event log failed: %s", self.name, exc)
                    await asyncio.sleep(ERROR_PAUSE)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def turn(self) -> None:
        """One turn of the loop: read a batch and deliver it (or wait, when there is nothing or no claim)."""
        if not await self.log.claim(self.name):
            await asyncio.sleep(READ_WAIT)
            return
        now = asyncio.get_running_loop().time()
        if now >= self.next_check:
            self.next_check = now + SHED_INTERVAL
            await self.shed()
            await self.count_pending()
        batch = await self.log.read(self.name, BATCH, READ_WAIT)
        if not batch:
            return
        if self.filter.ignores_nothing:
            await self.deliver(batch)
        else:
            await self.deliver_wanted(batch)
        if len(batch) < BATCH:
            await asyncio.sleep(LINGER)

    async def deliver_wanted(self, batch: Sequence[LoggedEvent]) -> None:
        """Acknowledge, unsent, what the endpoint's filters ignore; deliver the rest."""
        wanted: list[LoggedEvent] = []
        ignored: list[str] = []
        for logged in batch:
            try:
                event = json.loads(logged.data)
            except ValueError:  # nothing but this code writes the log: never expected, but never a stuck endpoint
                log.error("notifications: endpoint %s: event %s is not JSON; skipped", self.name, logged.id)
                event = None
            if isinstance(event, dict) and self.filter.accepts(event):
                wanted.append(logged)
            else:
                ignored.append(logged.id)
        if ignored:
            await self.log.ack(self.name, ignored)
        if wanted:
            await self.deliver(wanted)

    async def shed(self) -> int:
        dropped = await self.log.shed(self.name, self.endpoint.maxpending)
        if dropped:
            self.metrics.dropped.labels(self.name).inc(dropped)
            log.warning(
                "notifications: endpoint %s: %d events dropped unsent (more than maxpending=%d waiting)",
                self.name,
                dropped,
                self.endpoint.maxpending,
            )
        return dropped

    async def count_pending(self) -> None:
        """Set the pending gauge from the log: at each turn, and while a batch is retried (the turn that read it
        may have counted nothing yet, and events keep arriving during a long backoff)."""
        self.metrics.pending.labels(self.name).set(await self.log.pending(self.name))

    async def deliver(self, batch: Sequence[LoggedEvent]) -> None:
        """POST ``batch`` until the endpoint accepts it; give up only if the claim is lost or events were shed
        (then the next turn reads what is left, oldest first)."""
        body = envelope([logged.data for logged in batch])
        failures = 0
        while await self.log.claim(self.name):
            problem = await self.attempt(body)
            if problem is None:
                await self.log.ack(self.name, [logged.id for logged in batch])
                self.delivered(batch)
                return
            failures += 1
            self.metrics.failed.labels(self.name).inc(len(batch))
            delay = retry_delay(
                failures,
                self.endpoint.threshold,
                self.endpoint.backoff.total_seconds(),
                self.endpoint.maxbackoff.total_seconds(),
            )
            log.warning(
                "notifications: endpoint %s: %d events not delivered (%s), attempt %d, retrying in %.1fs",
                self.name,
                len(batch),
                problem,
                failures,
                delay,
            )
            if await self.wait(delay):
                return

    async def attempt(self, body: bytes) -> str | None:
        """One POST; None if accepted, else what went wrong (no header value, no URL)."""
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.post(
                    self.endpoint.url, content=body, headers={"Content-Type": EVENTS_MEDIA_TYPE}
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 400:
            return None
        return f"status {response.status_code}"

    async def wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds, shedding and counting the pending events on the way; True if events were shed
        (the batch must be read again)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(remaining, SHED_INTERVAL))
            if await self.shed():
                return True
            await self.count_pending()
        return False

    def delivered(self, batch: Sequence[LoggedEvent]) -> None:
        self.metrics.delivered.labels(self.name).inc(len(batch))
        now = datetime.now(UTC)
        histogram = self.metrics.delivery.labels(self.name)
        for logged in batch:
            recorded = recorded_at(logged.data)
            if recorded is not None:
                histogram.observe(max(0.0, (now - recorded).total_seconds()))
