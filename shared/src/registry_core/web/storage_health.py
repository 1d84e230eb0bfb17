"""``health.storagedriver``: the Go registry's periodic storage check.

Every ``interval`` (0: 10 s, as in Go) the storage root is listed; after ``threshold`` failures in a row (0: one)
the registry is unhealthy until a check succeeds: ``/healthz`` answers 503 (the ``storagedriver`` check) and so
does every other request, with ``UNAVAILABLE``, as Go's ``health.Handler`` answers while a check fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from registry_core.config import StorageDriverHealthSettings
from registry_core.errors import ErrorCode, RegistryError
from registry_core.web.errors import error_response
from registry_core.web.health import CHECK_TIMEOUT, HealthCheck

DEFAULT_INTERVAL = timedelta(seconds=10)
EXEMPT = ("/healthz", "/metrics")


class PeriodicStorageCheck:
    def __init__(self, settings: StorageDriverHealthSettings) -> None:
        self.interval = (settings.interval or DEFAULT_INTERVAL).total_seconds()
        self.threshold = max(settings.threshold, 1)
        self.failures = 0
        self.last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.failures >= self.threshold

    async def run(self, check: HealthCheck) -> None:
        """Check forever (a background task of the app)."""
        while True:
            try:
                await asyncio.wait_for(check(), CHECK_TIMEOUT)
            except Exception as exc:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            else:
                self.failures, self.last_error = 0, None
            await asyncio.sleep(self.interval)

    async def state(self) -> None:
        """As a ``/healthz`` check: raises while failing."""
        if self.failing:
            raise RuntimeError(f"{self.failures} storage checks failed in a row; last: {self.last_error}")


def background_task(checker: PeriodicStorageCheck) -> Callable[[FastAPI], Awaitable[None]]:
    """The app's background task running ``checker`` on the app's storage check; also lists it in ``/healthz``."""

    async def storagedriver_health(app: FastAPI) -> None:
        app.state.health_checks["storagedriver"] = checker.state
        await checker.run(app.state.health_checks["storage"])

    return storagedriver_health


class UnhealthyGateMiddleware:
    """503 ``UNAVAILABLE`` for every request but health and metrics while the periodic check is failing."""

    def __init__(self, app: ASGIApp, checker: PeriodicStorageCheck) -> None:
        self.app = app
        self.checker = checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.checker.failing and scope["path"] not in EXEMPT:
            unavailable = RegistryError(ErrorCode.UNAVAILABLE, "health check failed: see /healthz")
            await error_response(unavailable)(scope, receive, send)
            return
        await self.app(scope, receive, send)
