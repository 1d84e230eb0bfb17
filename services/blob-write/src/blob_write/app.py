"""The blob-write service: uploads, mounts, manifest puts, links and deletes."""

from __future__ import annotations

from fastapi import FastAPI

from blob_write import manifest_routes
from blob_write.routes import router
from registry_core.config import Settings
from registry_core.web import base
from registry_core.web.app import create_service_app

ROUTERS = (base.router, router, manifest_routes.router)


def create_app(settings: Settings) -> FastAPI:
    return create_service_app("blob-write", settings, routers=ROUTERS)
