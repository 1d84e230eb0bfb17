"""How an app carries notifications: no notifier (nothing to pay) without an enabled endpoint; with one, the
lifespan publishes a notifier over the memory log (no ``redis.addr``) and ``/metrics`` shows the endpoint's series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from registry_core.config import Settings
from registry_core.notify.memory import MemoryEventLog
from registry_core.notify.notifier import Notifier
from registry_core.notify.service import create_event_log
from registry_core.testing.service_app import running_app
from registry_core.web import base
from registry_core.web.app import create_service_app

APPS: list[FastAPI] = []


def create(settings: Settings) -> FastAPI:
    APPS.append(create_service_app("test", settings, routers=[base.router]))
    return APPS[-1]


def endpoints(*items: dict[str, Any]) -> dict[str, Any]:
    return {"endpoints": list(items)}


async def test_no_enabled_endpoint_no_notifier(tmp_path: Path) -> None:
    disabled = endpoints({"name": "off", "url": "http://127.0.0.1:9/", "disabled": True})
    async with running_app(tmp_path, create, notifications=disabled) as client:
        assert APPS[-1].state.notifier is None
        assert "registry_notifications" not in (await client.get("/metrics")).text


async def test_an_enabled_endpoint_gets_a_notifier_and_its_metrics(tmp_path: Path) -> None:
    hook = endpoints({"name": "hook", "url": "http://127.0.0.1:9/"})
    async with running_app(tmp_path, create, notifications=hook, http={"addr": "127.0.0.1:5123"}) as client:
        notifier: Notifier = APPS[-1].state.notifier
        assert isinstance(notifier.log, MemoryEventLog)
        assert notifier.source.addr.endswith(":5123")
        text = (await client.get("/metrics")).text
    for name in ("pending", "delivered_total", "failed_total", "dropped_total", "delivery_seconds_count"):
        assert f'registry_notifications_{name}{{endpoint="hook"}}' in text
    assert "registry_notifications_unrecorded 0.0" in text  # the memory log holds nothing for Redis
    assert "registry_notifications_unrecorded_dropped_total 0.0" in text
    assert APPS[-1].state.notifier is None  # stopped with the app


def test_the_memory_log_without_redis() -> None:
    assert isinstance(create_event_log(Settings()), MemoryEventLog)


async def test_the_notifier_builds_only_the_actions_some_endpoint_receives(tmp_path: Path) -> None:
    listener = "http://127.0.0.1:9/hook"
    hooks = endpoints(
        {"name": "ci", "url": listener, "ignore": {"actions": ["pull", "mount"]}},
        {"name": "audit", "url": listener, "ignore": {"actions": ["pull"]}},
        {"name": "off", "url": listener, "disabled": True},  # a disabled endpoint receives nothing
    )
    async with running_app(tmp_path, create, notifications=hooks):
        notifier: Notifier = APPS[-1].state.notifier
        assert notifier.actions == {"push", "mount", "delete"}
        assert not notifier.wants("pull")
