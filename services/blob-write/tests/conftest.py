"""The blob-write router on a fresh registry on every storage driver (see :mod:`registry_core.testing.service_app`)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from blob_write.routes import router
from registry_core.testing.service_app import MakeService, Service, driver, make_service, service

__all__ = ["MakeService", "Service", "driver", "make_service", "service"]


@pytest.fixture
def service_router() -> APIRouter:
    return router
