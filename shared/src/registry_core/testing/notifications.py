"""Service tests of notification events: a service's routers over a registry, with a notifier on an in-memory
log whose events the test reads back (nothing is sent: no sender runs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter

from registry_core.config import Settings
from registry_core.notify.events import ACTIONS, SourceRecord
from registry_core.notify.memory import MemoryEventLog
from registry_core.notify.notifier import Notifier
from registry_core.registry import Registry
from registry_core.web.app import create_service_app

ENDPOINT = "test"
SOURCE = SourceRecord("registry.test:5000", instance_id="test-instance")
BASE_URL = "http://registry"


@dataclass
class Notified:
    client: httpx.AsyncClient
    notifier: Notifier

    async def events(self) -> list[dict[str, Any]]:
        """The events recorded since the last call, oldest first."""
        logged = await self.notifier.log.read(ENDPOINT, 10_000, 0)
        await self.notifier.log.ack(ENDPOINT, [event.id for event in logged])
        return [json.loads(event.data) for event in logged]


@asynccontextmanager
async def notified_service(
    routers: Sequence[APIRouter],
    registry: Registry,
    *,
    include_references: bool = False,
    relative_urls: bool = False,
    actions: frozenset[str] = ACTIONS,
) -> AsyncIterator[Notified]:
    """The service as deployed (its routers, the app builder's middleware) over ``registry``, recording events
    (``actions``: those some endpoint receives)."""
    log = MemoryEventLog()
    await log.start([ENDPOINT])
    notifier = Notifier(
        log, SOURCE, include_references=include_references, relative_urls=relative_urls, actions=actions
    )
    app = create_service_app("test", Settings(), routers=routers, with_registry=False)
    app.state.registry = registry
    app.state.notifier = notifier
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield Notified(client, notifier)
