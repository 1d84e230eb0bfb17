"""The purger service: background removal of stale uploads and online garbage collection; health and metrics."""

from __future__ import annotations

from fastapi import FastAPI

from registry_core.config import Settings
from registry_core.web.app import create_service_app
from registry_purger.collector import gc_loop
from registry_purger.worker import purge_loop


def create_app(settings: Settings) -> FastAPI:
    return create_service_app("purger", settings, background=[purge_loop, gc_loop])
