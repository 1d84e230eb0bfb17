"""Fixtures of the blob store tests: every test runs on every driver in :data:`DRIVERS`.

A driver is named by a fixture ``<name>_driver`` from the root ``conftest.py`` (``inmemory``, ``filesystem``,
``s3``); adding one to the matrix is one line in :data:`DRIVERS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.registry import Registry, Repository
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver

DRIVERS = [
    pytest.param("inmemory"),
    pytest.param("filesystem"),
]


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[CheckedDriver]:
    checked = CheckedDriver(request.getfixturevalue(f"{request.param}_driver"))
    yield checked
    await checked.aclose()


class Files:
    """The files stored under a path: to check the layout, and that nothing is visible or left behind."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    async def under(self, path: str) -> list[str]:
        """Every file (no directories) below ``path``, sorted; ``[]`` if nothing is there."""
        if not await self.exists(path):
            return []
        return sorted([info.path async for info in self.driver.walk(path) if not info.is_dir])

    async def exists(self, path: str) -> bool:
        try:
            await self.driver.stat(path)
        except FileNotFoundError:
            return False
        return True


@pytest.fixture
def files(driver: CheckedDriver) -> Files:
    return Files(driver)


@pytest.fixture
def registry(driver: CheckedDriver) -> Registry:
    return Registry(driver, InMemoryDescriptorCache(), delete_enabled=True)


@pytest.fixture
def repo(registry: Registry) -> Repository:
    return registry.repository("library/ubuntu")
