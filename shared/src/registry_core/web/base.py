"""``GET /v2/``: the API version check every client starts with.

The ``Docker-Distribution-API-Version`` header is stamped on every response by the metrics middleware.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter(tags=["base"])


@router.get("/v2/")
async def api_version() -> JSONResponse:
    return JSONResponse({})
