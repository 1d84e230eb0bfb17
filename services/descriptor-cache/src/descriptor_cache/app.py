"""The descriptor-cache service: the blob descriptor cache as an HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from registry_core.config import Settings
from registry_core.web.app import create_service_app


def create_app(settings: Settings) -> FastAPI:
    return create_service_app("descriptor-cache", settings, with_registry=False)
