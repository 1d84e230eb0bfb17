"""Manifest writes: ``PUT <name>/manifests/<ref>`` (with ``?tag=`` on a put by digest) and
``DELETE <name>/manifests/<ref>``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from registry_core.digest import Digest
from registry_core.manifests import MAX_MANIFEST_SIZE, ManifestStore, parse_reference
from registry_core.manifests.parser import too_large
from registry_core.names import validate_tag
from registry_core.web.deps import RegistryDep
from registry_core.web.events import record_deletes, record_manifest

router = APIRouter(tags=["manifests"])


@router.put("/v2/{name:path}/manifests/{reference}", status_code=201)
async def put_manifest(name: str, reference: str, request: Request, registry: RegistryDep) -> Response:
    repository = registry.repository(name)
    ref = parse_reference(reference)
    tags = [validate_tag(tag) for tag in request.query_params.getlist("tag")]
    store = ManifestStore.of(repository)
    store.check_writable()
    payload = await read_body(request, MAX_MANIFEST_SIZE)
    result = await store.put(payload, request.headers.get("content-type"), ref, tags)
    headers = {
        "Location": f"/v2/{repository.name}/manifests/{result.digest}",
        "Docker-Content-Digest": str(result.digest),
    }
    if result.manifest.subject is not None:
        headers["OCI-Subject"] = str(result.manifest.subject.digest)
    if tags:
        headers["OCI-Tag"] = ", ".join(result.tags)
    media_type = result.manifest.media_type
    await record_manifest(request, "push", repository.name, result.digest, media_type, payload, result.tags or (None,))
    return Response(status_code=201, headers=headers)


@router.delete("/v2/{name:path}/manifests/{reference}", status_code=202)
async def delete_manifest(name: str, reference: str, request: Request, registry: RegistryDep) -> Response:
    store = ManifestStore.of(registry.repository(name))
    ref = parse_reference(reference)
    untagged = await store.delete(ref)
    if isinstance(ref, Digest):
        await record_deletes(request, store.name, digest=ref, tags=untagged)
    else:
        await record_deletes(request, store.name, tags=[ref])
    return Response(status_code=202)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit``: from ``Content-Length`` before
    reading, else after at most ``limit`` plus one chunk."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)
