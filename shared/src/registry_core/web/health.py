"""``/healthz`` and ``/metrics``, served by every service.

A health check is an async callable returning nothing when healthy and raising when not; ``/healthz``
answers 200 with each check's state, or 503 naming the failing ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

HealthCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 2.0


async def _run(check: HealthCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except Exception as exc:
        return f"unhealthy: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        checks: Mapping[str, HealthCheck] = request.app.state.health_checks
        names = list(checks)
        results = dict(zip(names, await asyncio.gather(*(_run(checks[n]) for n in names)), strict=True))
        healthy = all(r == "ok" for r in results.values())
        body = {"status": "ok" if healthy else "unhealthy", "service": request.app.title, "checks": results}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        payload, content_type = request.app.state.metrics.render()
        return Response(payload, media_type=content_type)

    return router
