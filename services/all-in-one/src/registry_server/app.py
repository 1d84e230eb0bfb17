"""Every service in one process: blob-read and blob-write routers and the background purger (`make run`)."""

from __future__ import annotations

from fastapi import FastAPI

from blob_read.app import ROUTERS as READ_ROUTERS
from blob_write.app import ROUTERS as WRITE_ROUTERS
from registry_core.config import Settings
from registry_core.web.app import create_service_app
from registry_purger.collector import gc_loop
from registry_purger.worker import purge_loop


def create_app(settings: Settings) -> FastAPI:
    routers = list({id(r): r for r in (*READ_ROUTERS, *WRITE_ROUTERS)}.values())  # the shared /v2/ router once
    return create_service_app("registry", settings, routers=routers, background=[purge_loop, gc_loop])
