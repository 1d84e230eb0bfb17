"""A sender over the in-memory log, delivering to a real HTTP listener: batches in order, filters, retries of the
same batch after failures, a listener down then up, shedding past maxpending, and the metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry

from registry_core.config import EndpointSettings
from registry_core.notify.events import EVENTS_MEDIA_TYPE, encode
from registry_core.notify.memory import MemoryEventLog
from registry_core.notify.metrics import NotificationMetrics
from registry_core.notify.sender import EndpointSender
from registry_core.testing.listener import WAIT, EventListener, listening

FAST = {"threshold": 2, "backoff": "10ms", "maxbackoff": "40ms"}


def events(*actions: str, media_type: str = "application/octet-stream") -> list[bytes]:
    return [encode({"id": str(n), "action": a, "target": {"mediaType": media_type}}) for n, a in enumerate(actions)]


class Delivery:
    def __init__(self, endpoint: EndpointSettings) -> None:
        self.log = MemoryEventLog()
        self.registry = CollectorRegistry()
        self.sender = EndpointSender(endpoint, self.log, NotificationMetrics(self.registry, [endpoint.name]))

    def metric(self, name: str) -> float:
        value = self.registry.get_sample_value(f"registry_notifications_{name}", {"endpoint": self.sender.name})
        return value or 0.0


@asynccontextmanager
async def delivering(listener: EventListener, **options: Any) -> AsyncIterator[Delivery]:
    endpoint = EndpointSettings.model_validate({"name": "hook", "url": listener.url, **FAST, **options})
    delivery = Delivery(endpoint)
    await delivery.log.start([endpoint.name])
    task = asyncio.create_task(delivery.sender.run())
    try:
        yield delivery
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await delivery.sender.aclose()


async def received(listener: EventListener, count: int) -> list[dict[str, Any]]:
    return await asyncio.to_thread(listener.wait_for_events, count)


async def eventually(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds (a bound for a failing test: :data:`WAIT`)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 (a metric: nothing signals its change)
            await asyncio.sleep(0.01)


async def test_events_arrive_in_order_with_the_envelope_type_and_the_endpoint_headers() -> None:
    with listening() as listener:
        async with delivering(listener, headers={"Authorization": ["Bearer t"], "X-Two": ["a", "b"]}) as d:
            await d.log.append(events("push", "pull"))
            await d.log.append(events("delete"))
            got = await received(listener, 3)
            await eventually(lambda: d.metric("delivered_total") == 3)
            assert d.metric("delivery_seconds_count") == 0  # these test events carry no timestamp
    assert [e["action"] for e in got] == ["push", "pull", "delete"]
    first = listener.received[0]
    assert first.headers["content-type"] == EVENTS_MEDIA_TYPE
    assert first.headers["authorization"] == "Bearer t" and first.headers["x-two"] == "a, b"


async def test_ignored_events_are_acknowledged_and_never_sent() -> None:
    with listening() as listener:
        async with delivering(listener, ignore={"actions": ["pull"], "mediatypes": ["x/skip"]}) as d:
            await d.log.append(events("pull", "push") + events("push", media_type="x/skip") + events("mount"))
            got = await received(listener, 2)
            await eventually(lambda: d.metric("delivered_total") == 2)
            assert await d.log.pending("hook") == 0
    assert [e["action"] for e in got] == ["push", "mount"]


async def test_a_failing_endpoint_gets_the_same_batch_again_until_it_accepts_it() -> None:
    with listening() as listener:
        listener.fail_next(5)
        async with delivering(listener) as d:
            await d.log.append(events("push", "pull", "mount"))
            got = await received(listener, 3)
            assert d.metric("failed_total") == 5 * 3
    assert [e["action"] for e in got] == ["push", "pull", "mount"]
    bodies = [json.dumps(r.body) for r in listener.received]
    assert len(bodies) == 6 and len(set(bodies)) == 1  # five failures, then the same envelope accepted


async def test_the_pending_gauge_counts_the_events_held_while_the_endpoint_fails() -> None:
    with listening() as listener:
        async with delivering(listener) as d:
            await d.log.append(events("push"))
            await received(listener, 1)
            await eventually(lambda: d.metric("delivered_total") == 1)  # the next turn counted 0 pending, reads
            listener.fail_next(1_000_000)
            await d.log.append(events("push", "pull", "mount"))
            await eventually(lambda: d.metric("failed_total") > 0)
            await eventually(lambda: d.metric("pending") == 3)
            listener.fail_next(0)
            await received(listener, 4)
            await eventually(lambda: d.metric("pending") == 0)


async def test_a_listener_down_then_up_receives_everything_in_order() -> None:
    listener = EventListener()
    async with delivering(listener) as d:
        await d.log.append(events("push", "pull"))
        await eventually(lambda: d.metric("failed_total") >= 2)  # connection refused, and retried
        await d.log.append(events("delete"))
        listener.start()
        try:
            got = await received(listener, 3)
        finally:
            listener.stop()
    assert [e["action"] for e in got] == ["push", "pull", "delete"]


async def test_events_past_maxpending_are_dropped_oldest_first_and_counted() -> None:
    listener = EventListener()
    async with delivering(listener, maxpending=2) as d:
        await d.log.append(events("push", "pull", "mount", "delete"))
        await eventually(lambda: d.metric("dropped_total") == 2)
        listener.start()
        try:
            got = await received(listener, 2)
        finally:
            listener.stop()
    assert [e["action"] for e in got] == ["mount", "delete"]


async def test_a_redirect_counts_as_accepted_and_is_not_followed() -> None:
    with listening() as listener:
        listener.fail_next(1, status=302)
        async with delivering(listener) as d:
            await d.log.append(events("push"))
            await eventually(lambda: d.metric("delivered_total") == 1)
            assert d.metric("failed_total") == 0
    assert len(listener.received) == 1
