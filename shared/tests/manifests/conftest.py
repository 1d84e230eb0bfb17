"""Fixtures for the manifest layer: a registry over each cheap driver, and a builder of real pushed content."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from manifest_helpers import Content

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.storage.inmemory import InMemoryDriver


@pytest.fixture(params=["inmemory", "filesystem"])
def driver(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[StorageDriver]:
    yield CheckedDriver(InMemoryDriver() if request.param == "inmemory" else FilesystemDriver(tmp_path))


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    return Registry(driver, InMemoryDescriptorCache(), delete_enabled=True)


@pytest.fixture
def content(registry: Registry) -> Content:
    return Content(registry)
