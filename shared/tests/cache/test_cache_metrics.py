"""Every service with a registry exports its descriptor cache counters on ``/metrics``."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from registry_core.config import Settings, load_settings
from registry_core.web.app import create_service_app


def settings() -> Settings:
    return load_settings(None, env={"REGISTRY_STORAGE": "inmemory"})


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match[1])


async def scrape(app: FastAPI) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        return (await client.get("/metrics")).text


async def test_hits_misses_errors_and_pending_clears_are_exported() -> None:
    app = create_service_app("blob-read", settings())
    async with app.router.lifespan_context(app):
        before = await scrape(app)
        for name in ("hits_total", "misses_total", "errors_total", "pending_clears"):
            assert sample(before, f"registry_descriptor_cache_{name}") == 0

        blobs = app.state.registry.repository("metrics/app").blobs
        descriptor = await blobs.put(b"layer")  # fills the cache
        await blobs.stat(descriptor.digest)
        await blobs.stat(descriptor.digest)

        after = await scrape(app)
    assert sample(after, "registry_descriptor_cache_hits_total") == 2
    assert sample(after, "registry_descriptor_cache_misses_total") == 0


def test_a_service_without_a_registry_exports_no_cache_counters() -> None:
    app = create_service_app("purger-like", settings(), with_registry=False)
    assert "registry_descriptor_cache" not in app.state.metrics.render()[0].decode()
