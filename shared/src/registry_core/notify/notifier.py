"""What requests record events through: the :class:`Notifier` on ``app.state`` (None without enabled endpoints)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from registry_core.notify.eventlog import EventLog
from registry_core.notify.events import ACTIONS, SourceRecord

log = logging.getLogger("registry.notifications")


@dataclass(frozen=True)
class Notifier:
    """The event log and what every event of this process shares.

    ``include_references``: manifest events list references (``notifications.events.includereferences``);
    ``relative_urls``: ``target.url`` is a path (``http.relativeurls``), else an absolute URL; ``actions``: the
    actions some endpoint receives (an event every endpoint ignores by its action is never built: with
    ``ignore.actions: [pull]`` everywhere, a HEAD costs nothing).
    """

    log: EventLog
    source: SourceRecord
    include_references: bool = False
    relative_urls: bool = False
    actions: frozenset[str] = ACTIONS

    def wants(self, action: str) -> bool:
        return action in self.actions

    async def record(self, events: Sequence[bytes]) -> None:
        """Append ``events`` to the log before the response goes. A log that cannot record them (the Redis
        log buffers instead of failing) costs the events, never the request: what it reports is done."""
        try:
            await self.log.append(events)
        except Exception as exc:
            log.error("notifications: %d events not recorded: %s", len(events), exc)
