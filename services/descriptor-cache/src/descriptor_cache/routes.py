"""The descriptor-cache HTTP API: stat, set and clear a blob descriptor, globally and per repository.

    GET|PUT|DELETE /v1/descriptors/<digest>
    GET|PUT|DELETE /v1/repositories/<name>/descriptors/<digest>
    GET            /v1/generation
    GET            /v1/repositories/<name>/generation

GET answers 200 with ``{"digest", "size", "mediaType"}``, or 404 with ``{"generation"}`` (the scope's, see
``registry_core.blobs.interfaces``); PUT takes the same body (204), and with ``?generation=N`` is a fill,
refused with 409 if the scope was cleared since; DELETE is idempotent and raises the generation (204).
A backend failure (Redis down) is 503, which clients treat as a cache failure.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from registry_core.blobs.interfaces import (
    BlobDescriptorCacheProvider,
    BlobDescriptorService,
    CacheMiss,
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
Generation = Annotated[int | None, Query(ge=0)]


def _unavailable(exc: DescriptorCacheError) -> JSONResponse:
    body = {"errors": [{"code": "UNAVAILABLE", "message": "descriptor cache backend unavailable", "detail": str(exc)}]}
    return JSONResponse(body, status_code=503)


async def _stat(request: Request, service: BlobDescriptorService, digest: str) -> Response:
    metrics = request.app.state.cache_metrics
    start = time.perf_counter()
    try:
        descriptor = await service.stat(Digest.parse(digest))
    except CacheMiss as miss:
        metrics.misses.inc()
        return JSONResponse({"generation": miss.generation}, status_code=404)
    except DescriptorCacheError as exc:
        metrics.errors.inc()
        return _unavailable(exc)
    finally:
        metrics.latency.observe(time.perf_counter() - start)
    metrics.hits.inc()
    return JSONResponse(descriptor_to_json(descriptor))


async def _generation(request: Request, service: BlobDescriptorService) -> Response:
    try:
        generation = await service.generation()
    except DescriptorCacheError as exc:
        request.app.state.cache_metrics.errors.inc()
        return _unavailable(exc)
    return JSONResponse({"generation": generation})


async def _set(
    request: Request, service: BlobDescriptorService, digest: str, body: DescriptorBody, generation: int | None
) -> Response:
    parsed = Digest.parse(digest)
    descriptor = Descriptor(Digest.parse(body.digest), body.size, body.mediaType)
    try:
        if generation is None:
            await service.set_descriptor(parsed, descriptor)
        elif not await service.fill(parsed, descriptor, generation):
            return Response(status_code=409)
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
async def set_global(
    request: Request, cache: CacheDep, digest: str, body: DescriptorBody, generation: Generation = None
) -> Response:
    return await _set(request, cache, digest, body, generation)


@router.delete("/v1/descriptors/{digest}", status_code=204)
async def clear_global(request: Request, cache: CacheDep, digest: str) -> Response:
    return await _clear(request, cache, digest)


@router.get("/v1/generation")
async def generation_global(request: Request, cache: CacheDep) -> Response:
    return await _generation(request, cache)


@router.get("/v1/repositories/{name:path}/generation")
async def generation_scoped(request: Request, cache: CacheDep, name: str) -> Response:
    return await _generation(request, cache.repository(validate_name(name)))


@router.get("/v1/repositories/{name:path}/descriptors/{digest}")
async def stat_scoped(request: Request, cache: CacheDep, name: str, digest: str) -> Response:
    return await _stat(request, cache.repository(validate_name(name)), digest)


@router.put("/v1/repositories/{name:path}/descriptors/{digest}", status_code=204)
async def set_scoped(
    request: Request, cache: CacheDep, name: str, digest: str, body: DescriptorBody, generation: Generation = None
) -> Response:
    return await _set(request, cache.repository(validate_name(name)), digest, body, generation)


@router.delete("/v1/repositories/{name:path}/descriptors/{digest}", status_code=204)
async def clear_scoped(request: Request, cache: CacheDep, name: str, digest: str) -> Response:
    return await _clear(request, cache.repository(validate_name(name)), digest)
