"""Fixtures for a service's API tests: its router over a fresh registry, on every storage driver in :data:`DRIVERS`.

A service's ``tests/conftest.py`` imports these fixtures and defines ``service_router`` (its router).

Adding a backend is one line in :data:`DRIVERS` plus a ``<name>_driver`` fixture (S3: on the moto server).
Only this service's router is mounted (services never import each other); tests arrange content through
``service.registry``, the same object the routes use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import APIRouter, FastAPI

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.config import Settings, load_settings
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.testing.configs import filesystem_config
from registry_core.web.errors import install_error_handlers

DRIVERS = [
    pytest.param("inmemory"),
    pytest.param("filesystem"),
    pytest.param("s3", marks=pytest.mark.s3),
]


@dataclass
class Service:
    client: httpx.AsyncClient
    registry: Registry


MakeService = Callable[..., Service]
"""``make_service(storage=driver, **registry_options)``: the app over a ``Registry`` built with those options."""


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> StorageDriver:
    driver: StorageDriver = request.getfixturevalue(f"{request.param}_driver")
    return driver


def create_app(registry: Registry, router: APIRouter) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.registry = registry
    return app


@pytest.fixture
async def make_service(driver: StorageDriver, service_router: APIRouter) -> AsyncIterator[MakeService]:
    clients: list[httpx.AsyncClient] = []

    def make(storage: StorageDriver = driver, **options: Any) -> Service:
        options = {"delete_enabled": True} | options
        registry = Registry(CheckedDriver(storage), InMemoryDescriptorCache(), **options)
        transport = httpx.ASGITransport(app=create_app(registry, service_router))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://registry.test"))
        return Service(clients[-1], registry)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def service(make_service: MakeService) -> Service:
    return make_service()


@asynccontextmanager
async def running_app(
    directory: Path, create: Callable[[Settings], FastAPI], **sections: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app ``create`` builds on filesystem storage under ``directory/root``, its config extended with
    ``sections`` (merged one level deep), started (lifespan: storage, background tasks) while the block runs."""
    config: dict[str, Any] = yaml.safe_load(filesystem_config(directory / "root"))
    for name, section in sections.items():
        config[name] = {**config.get(name, {}), **section}
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config))
    app = create(load_settings(path, env={}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        yield client
