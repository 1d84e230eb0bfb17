"""``/healthz`` and ``/metrics``, served by every service.

A health check is an async callable returning nothing when healthy and raising when not. ``/healthz`` answers
200 with each check's state, or 503 when a required check fails (``app.state.health_checks``: storage, or Redis
for the descriptor-cache service). An advisory check (``app.state.advisory_checks``: the descriptor cache of a
blob service) that fails makes the status ``degraded`` but keeps the 200: the service answers from storage
meanwhile, and failing it would pull every replica out of a load balancer during a Redis outage.
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
        required: Mapping[str, HealthCheck] = request.app.state.health_checks
        advisory: Mapping[str, HealthCheck] = request.app.state.advisory_checks
        checks = {**required, **advisory}
        names = list(checks)
        results = dict(zip(names, await asyncio.gather(*(_run(checks[n]) for n in names)), strict=True))
        failing = {n for n, r in results.items() if r != "ok"}
        status = "unhealthy" if failing & set(required) else "degraded" if failing else "ok"
        body = {"status": status, "service": request.app.title, "checks": results}
        return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        payload, content_type = request.app.state.metrics.render()
        return Response(payload, media_type=content_type)

    return router
