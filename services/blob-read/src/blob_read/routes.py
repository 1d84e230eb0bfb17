"""``GET,HEAD /v2/<name>/blobs/<digest>``: serve a blob the repository links.

The stat goes through the descriptor cache, so a HEAD on a warm cache touches neither storage nor bytes.
A GET redirects to the driver's direct URL when the registry is configured to and the driver has one;
otherwise, when the blob is a local file and the server offers the ASGI ``http.response.zerocopysend``
extension (``registry serve`` does), the server sends the file itself from its event loop; else the bytes
stream in the driver's (large) chunks. ``If-None-Match`` answers 304, a single
``Range`` 206 (a range not satisfiable: 416); other range forms are ignored and the whole blob is sent,
as RFC 9110 allows.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.web.conditional import not_modified
from registry_core.web.deps import RegistryDep
from registry_core.web.events import record_blob
from registry_core.web.zerocopy import ZERO_COPY

router = APIRouter(tags=["blobs"])

_BYTE_RANGE = re.compile(r"\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")


@router.api_route("/v2/{name:path}/blobs/{digest}", methods=["GET", "HEAD"])
async def get_blob(name: str, digest: str, request: Request, registry: RegistryDep) -> Response:
    repository = registry.repository(name)
    blobs = repository.blobs
    descriptor = await blobs.stat(Digest.parse(digest))
    headers = _blob_headers(descriptor, registry.blob_max_age)

    if not_modified(request, headers["ETag"]):
        await record_blob(request, "pull", repository.name, descriptor)  # as Go's ServeBlob: a 304 is a pull
        return Response(status_code=304, headers=headers)
    if request.method == "GET" and registry.redirect and (url := await blobs.url_for(descriptor)):
        await record_blob(request, "pull", repository.name, descriptor)
        return RedirectResponse(url, status_code=307, headers={"Docker-Content-Digest": str(descriptor.digest)})

    status, offset, length = 200, 0, descriptor.size
    if request.headers.get("if-range", headers["ETag"]) == headers["ETag"]:
        requested = _requested_range(request.headers.get("range"), descriptor.size)
        if requested is not None:
            status, (offset, length) = 206, requested
            headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{descriptor.size}"
    headers["Content-Length"] = str(length)
    await record_blob(request, "pull", repository.name, descriptor)

    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    if ZERO_COPY in request.scope.get("extensions", ()):
        file = await blobs.local_file(descriptor)
        if file is not None:
            return _FileRangeResponse(file, offset, length, status, headers)
    return StreamingResponse(await blobs.reader(descriptor, offset, length), status_code=status, headers=headers)


class _FileRangeResponse(Response):
    """``length`` bytes of ``file`` from ``offset``, sent by the server's zero-copy extension; closes ``file``."""

    def __init__(self, file: BinaryIO, offset: int, length: int, status: int, headers: dict[str, str]) -> None:
        super().__init__(status_code=status, headers=headers)
        self.file, self.offset, self.length = file, offset, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": ZERO_COPY, "file": self.file, "offset": self.offset, "count": self.length})
        finally:
            self.file.close()


def _blob_headers(descriptor: Descriptor, max_age: int) -> dict[str, str]:
    return {
        "Docker-Content-Digest": str(descriptor.digest),
        "ETag": f'"{descriptor.digest}"',
        "Cache-Control": f"max-age={max_age}",
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
    }


def _requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(offset, length)`` of a single ``bytes`` range; ``None`` to send the whole blob; 416 if unsatisfiable."""
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _BYTE_RANGE.fullmatch(spec)
    if match is None or not (match[1] or match[2]):
        raise _unsatisfiable(size)
    if match[1]:  # first-last, or first- (to the end)
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if first >= size or last < first:
            raise _unsatisfiable(size)
        return first, min(last, size - 1) - first + 1
    suffix = int(match[2])  # -n: the last n bytes
    if suffix == 0 or size == 0:
        raise _unsatisfiable(size)
    length = min(suffix, size)
    return size - length, length


def _unsatisfiable(size: int) -> RegistryError:
    return RegistryError(
        ErrorCode.RANGE_INVALID, detail={"size": size}, status=416, headers={"Content-Range": f"bytes */{size}"}
    )
