"""The descriptor-cache HTTP API: stat, set and clear a blob descriptor, globally and per repository.

    GET|PUT|DELETE /v1/descriptors/<digest>
    GET|PUT|DELETE /v1/repositories/<name>/descriptors/<digest>

GET answers 200 with ``{"digest", "size", "mediaType"}`` or 404; PUT takes the same body (204); DELETE is
idempotent (204). A backend failure (Redis down) is 503, which clients treat as a cache failure.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from registry_core.blobs.interfaces import (
    BlobDescriptorCacheProvider,
    BlobDescriptorService,
    BlobUnknownError,
    DescriptorCacheError,
)
from registry_core.blobs.remote_cache import descriptor_to_json
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.names import validate_name

router = APIRouter(tags=["descriptors"])


class DescriptorBody(BaseModel):
    digest: str
    size: int = Field(ge=0)
    mediaType: str = Field(min_length=1)


def get_cache(request: Request) -> BlobDescriptorCacheProvider:
    cache: BlobDescriptorCacheProvider = request.app.state.descriptor_cache
    return cache


CacheDep = Annotated[BlobDescriptorCacheProvider, Depends(get_cache)]


def _unavailable(exc: DescriptorCacheError) -> JSONResponse:
    body = {"errors": [{"code": "UNAVAILABLE", "message": "descriptor cache backend unavailable", "detail": str(exc)}]}
    return JSONResponse(body, status_code=503)


async def _stat(request: Request, service: BlobDescriptorService, digest: str) -> Response:
    metrics = request.app.state.cache_metrics
    start = time.perf_counter()
    try:
        descriptor = await service.stat(Digest.parse(digest))
    except BlobUnknownError:
        metrics.misses.inc()
        return Response(status_code=404)
    except DescriptorCacheError as exc:
        metrics.errors.inc()
        return _unavailable(exc)
    finally:
        metrics.latency.observe(time.perf_counter() - start)
    metrics.hits.inc()
    return JSONResponse(descriptor_to_json(descriptor))


async def _set(request: Request, service: BlobDescriptorService, digest: str, body: DescriptorBody) -> Response:
    parsed = Digest.parse(digest)
    try:
        await service.set_descriptor(parsed, Descriptor(Digest.parse(body.digest), body.size, body.mediaType))
    except DescriptorCacheError as exc:
        request.app.state.cache_metrics.errors.inc()
        return _unavailable(exc)
    return Response(status_code=204)


async def _clear(request: Request, service: BlobDescriptorService, digest: str) -> Response:
    try:
        await service.clear(Digest.parse(digest))
    except DescriptorCacheError as exc:
        request.app.state.cache_metrics.errors.inc()
        return _unavailable(exc)
    return Response(status_code=204)


@router.get("/v1/descriptors/{digest}")
async def stat_global(request: Request, cache: CacheDep, digest: str) -> Response:
    return await _stat(request, cache, digest)


@router.put("/v1/descriptors/{digest}", status_code=204)
async def set_global(request: Request, cache: CacheDep, digest: str, body: DescriptorBody) -> Response:
    return await _set(request, cache, digest, body)


@router.delete("/v1/descriptors/{digest}", status_code=204)
async def clear_global(request: Request, cache: CacheDep, digest: str) -> Response:
    return await _clear(request, cache, digest)


@router.get("/v1/repositories/{name:path}/descriptors/{digest}")
async def stat_scoped(request: Request, cache: CacheDep, name: str, digest: str) -> Response:
    return await _stat(request, cache.repository(validate_name(name)), digest)


@router.put("/v1/repositories/{name:path}/descriptors/{digest}", status_code=204)
async def set_scoped(request: Request, cache: CacheDep, name: str, digest: str, body: DescriptorBody) -> Response:
    return await _set(request, cache.repository(validate_name(name)), digest, body)


@router.delete("/v1/repositories/{name:path}/descriptors/{digest}", status_code=204)
async def clear_scoped(request: Request, cache: CacheDep, name: str, digest: str) -> Response:
    return await _clear(request, cache.repository(validate_name(name)), digest)
