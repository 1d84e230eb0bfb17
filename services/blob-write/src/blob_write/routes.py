"""Blob uploads, mounts and deletes::

    POST   /v2/<name>/blobs/uploads/                  start an upload (202); ?digest= monolithic (201);
                                                      ?mount=<digest>&from=<repo> cross-repository mount (201 or 202;
                                                      a normal upload when the caller may not pull <repo>)
    GET    /v2/<name>/blobs/uploads/<id>              progress (204, Range)
    PATCH  /v2/<name>/blobs/uploads/<id>              append a stream or a Content-Range chunk (202, Range)
    PUT    /v2/<name>/blobs/uploads/<id>?digest=      optional last chunk, verify, publish (201)
    DELETE /v2/<name>/blobs/uploads/<id>              cancel (204)
    DELETE /v2/<name>/blobs/<digest>                  unlink from the repository (202)

Bodies are streamed (``request.stream()``) into the upload, never read whole. ``Range`` is Docker's inclusive
``0-<last byte>`` (``0-0`` when empty). Names and digests are validated before storage is touched.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from registry_core.blobs.interfaces import BlobUnknownError, upload_range
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.names import validate_name
from registry_core.registry import Registry
from registry_core.web.auth import caller
from registry_core.web.deps import RegistryDep
from registry_core.web.events import record_blob, record_deletes

router = APIRouter(tags=["uploads"])

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?")


async def writable_registry(registry: RegistryDep) -> Registry:
    """``async``, as ``get_registry``: a plain ``def`` dependency would cost a thread hop per upload request."""
    if registry.readonly:
        raise RegistryError(ErrorCode.UNSUPPORTED, message="the registry is in read-only mode")
    return registry


WritableRegistry = Annotated[Registry, Depends(writable_registry)]


@router.post("/v2/{name:path}/blobs/uploads/")
async def start_upload(
    name: str,
    request: Request,
    registry: WritableRegistry,
    digest: str | None = None,
    mount: str | None = None,
    from_repository: Annotated[str | None, Query(alias="from")] = None,
) -> Response:
    repository = registry.repository(name)
    if mount is not None:
        mounted = Digest.parse(mount)
        source = validate_name(from_repository) if from_repository is not None else None
        if _has_body(request):
            raise RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, message="a mount request must not carry a body")
        if source is not None and caller(request).may(source, "pull"):
            with suppress(BlobUnknownError):  # cannot mount: start a normal upload, as the spec says
                descriptor = await repository.blobs.mount(mounted, source)
                await record_blob(request, "mount", repository.name, descriptor, from_repository=source)
                return _blob_created(name, descriptor)
    elif digest is not None:
        expected = Digest.parse(digest)
        upload = await repository.uploads.create()
        try:
            descriptor = await upload.commit(expected, request.stream())
        except Exception:
            with suppress(Exception):  # nobody can resume an upload whose id was never sent
                await upload.cancel()
            raise
        await record_blob(request, "push", repository.name, descriptor)
        return _blob_created(name, descriptor)
    elif _has_body(request):
        raise RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, message="a body needs the ?digest= of a monolithic upload")
    upload = await repository.uploads.create()
    return _upload_progress(name, upload.id, 0, 202)


@router.api_route("/v2/{name:path}/blobs/uploads/{upload_id}", methods=["GET", "HEAD"])
async def upload_status(name: str, upload_id: str, registry: RegistryDep) -> Response:
    upload = await registry.repository(name).uploads.resume(upload_id)
    return _upload_progress(name, upload.id, await upload.size(), 204)


@router.patch("/v2/{name:path}/blobs/uploads/{upload_id}")
async def append_upload(name: str, upload_id: str, request: Request, registry: WritableRegistry) -> Response:
    repository = registry.repository(name)
    chunk = _chunk_range(request)
    upload = await repository.uploads.resume(upload_id)
    start = None if chunk is None else chunk[0]
    size = await upload.append(request.stream(), start)
    if chunk is not None and size - chunk[0] != chunk[1]:
        raise RegistryError(
            ErrorCode.SIZE_INVALID,
            detail={"declared": chunk[1], "received": size - chunk[0]},
            headers={"Range": upload_range(size)},
        )
    return _upload_progress(name, upload.id, size, 202)


@router.put("/v2/{name:path}/blobs/uploads/{upload_id}")
async def finish_upload(
    name: str, upload_id: str, request: Request, registry: WritableRegistry, digest: str | None = None
) -> Response:
    repository = registry.repository(name)
    if digest is None:
        raise RegistryError(ErrorCode.DIGEST_INVALID, message="the digest parameter is required")
    expected = Digest.parse(digest)
    # An empty last request is no chunk, whatever its Content-Range says (the Go registry ignores it on PUT).
    chunk = _chunk_range(request) if _has_body(request) else None
    upload = await repository.uploads.resume(upload_id)
    descriptor = await upload.commit(expected, request.stream(), None if chunk is None else chunk[0])
    await record_blob(request, "push", repository.name, descriptor)
    return _blob_created(name, descriptor)


@router.delete("/v2/{name:path}/blobs/uploads/{upload_id}")
async def cancel_upload(name: str, upload_id: str, registry: WritableRegistry) -> Response:
    upload = await registry.repository(name).uploads.resume(upload_id)
    await upload.cancel()
    return Response(status_code=204)


@router.delete("/v2/{name:path}/blobs/{digest}")
async def delete_blob(name: str, digest: str, request: Request, registry: WritableRegistry) -> Response:
    if not registry.delete_enabled:
        raise RegistryError(ErrorCode.UNSUPPORTED, message="deletes are disabled on this registry")
    repository = registry.repository(name)
    parsed = Digest.parse(digest)
    await repository.blobs.unlink(parsed)
    await record_deletes(request, repository.name, digest=parsed)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(parsed)})


def _upload_progress(name: str, upload_id: str, size: int, status: int) -> Response:
    headers = {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": upload_range(size),
        "Docker-Upload-UUID": upload_id,
    }
    if status != 204:
        headers["Content-Length"] = "0"
    return Response(status_code=status, headers=headers)


def _blob_created(name: str, descriptor: Descriptor) -> Response:
    headers = {"Location": f"/v2/{name}/blobs/{descriptor.digest}", "Docker-Content-Digest": str(descriptor.digest)}
    return Response(status_code=201, headers=headers)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit() or len(value) > 19:
        raise RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, detail={"Content-Length": value[:40]})
    return int(value)


def _has_body(request: Request) -> bool:
    length = _content_length(request)
    return bool(length) or (length is None and "transfer-encoding" in request.headers)


def _chunk_range(request: Request) -> tuple[int, int] | None:
    """``(start, length)`` of the chunk ``Content-Range: <start>-<end>`` announces, checked against Content-Length."""
    header = request.headers.get("content-range")
    if header is None:
        return None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None or int(match[2]) < int(match[1]):
        raise RegistryError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            detail={"Content-Range": header[:100]},
            message="Content-Range must be <start>-<end>, inclusive",
        )
    start, length = int(match[1]), int(match[2]) - int(match[1]) + 1
    declared = _content_length(request)
    if declared is not None and declared != length:
        raise RegistryError(ErrorCode.SIZE_INVALID, detail={"Content-Range": header[:100], "Content-Length": declared})
    return start, length
