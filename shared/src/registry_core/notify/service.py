"""Notifications in an app's lifespan: the event log, a sender task per enabled endpoint, the :class:`Notifier`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from registry_core.config import Settings
from registry_core.notify.eventlog import EventLog
from registry_core.notify.events import ACTIONS, SourceRecord
from registry_core.notify.memory import MemoryEventLog
from registry_core.notify.metrics import NotificationMetrics
from registry_core.notify.notifier import Notifier
from registry_core.notify.sender import EndpointSender

log = logging.getLogger("registry.notifications")


def create_event_log(settings: Settings) -> EventLog:
    """The Redis stream log when ``redis.addr`` is set (shared by every replica, never lost), else memory."""
    if settings.redis.addr:
        from registry_core.notify.redis_stream import RedisEventLog  # only where Redis is configured

        return RedisEventLog.from_settings(settings.redis)
    return MemoryEventLog()


@contextlib.asynccontextmanager
async def running_notifications(settings: Settings, metrics: NotificationMetrics) -> AsyncIterator[Notifier]:
    """While the block runs: the log started for the enabled endpoints (before the app serves, so every event
    recorded reaches every endpoint) and one sender task per endpoint; all stopped and closed at exit."""
    endpoints = settings.notifications.enabled
    event_log = create_event_log(settings)
    metrics.log = event_log
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(event_log.aclose)
        await event_log.start([endpoint.name for endpoint in endpoints])
        senders = [EndpointSender(endpoint, event_log, metrics) for endpoint in endpoints]
        for sender in senders:
            stack.push_async_callback(sender.aclose)
        tasks = [asyncio.create_task(s.run(), name=f"notifications:{s.name}") for s in senders]
        stack.push_async_callback(_cancel, tasks)
        log.info("notifications: sending to %s", ", ".join(s.name for s in senders))
        yield Notifier(
            event_log,
            SourceRecord.of_this_process(settings.http.addr),
            include_references=settings.notifications.events.includereferences,
            relative_urls=settings.http.relativeurls,
            actions=frozenset().union(*(ACTIONS - set(endpoint.ignore.actions) for endpoint in endpoints)),
        )


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
