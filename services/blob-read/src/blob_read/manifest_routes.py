"""Manifest reads and content discovery: ``GET,HEAD <name>/manifests/<ref>``, ``GET <name>/tags/list``,
``GET _catalog``, ``GET <name>/referrers/<digest>``."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from registry_core.digest import Digest
from registry_core.manifests import (
    ManifestStore,
    Page,
    list_repositories,
    page_after,
    parse_digest,
    parse_lookup,
    parse_page_size,
)
from registry_core.manifests.mediatypes import OCI_INDEX
from registry_core.web.auth import caller
from registry_core.web.conditional import not_modified
from registry_core.web.deps import RegistryDep
from registry_core.web.events import record_manifest

router = APIRouter(tags=["manifests"])

CATALOG_PAGE = 100
"""Repositories per catalog page when the client gives no ``n`` (the Go registry's default)."""


@router.api_route("/v2/{name:path}/manifests/{reference}", methods=["GET", "HEAD"])
async def get_manifest(name: str, reference: str, request: Request, registry: RegistryDep) -> Response:
    store = ManifestStore.of(registry.repository(name))
    ref = parse_lookup(reference)
    descriptor = await store.stat(ref)
    headers = {"Docker-Content-Digest": str(descriptor.digest), "ETag": f'"{descriptor.digest}"'}
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)  # no event: Go answers before it reads the manifest
    manifest = await store.read(descriptor)
    headers["Content-Length"] = str(len(manifest.payload))
    tag = None if isinstance(ref, Digest) else ref
    await record_manifest(request, "pull", store.name, manifest.digest, manifest.media_type, manifest.payload, (tag,))
    body = b"" if request.method == "HEAD" else manifest.payload
    return Response(body, media_type=manifest.media_type, headers=headers)


@router.get("/v2/{name:path}/tags/list")
async def list_tags(name: str, request: Request, registry: RegistryDep) -> JSONResponse:
    repository = registry.repository(name)
    n = parse_page_size(request.query_params.get("n"), None)
    tags = await ManifestStore.of(repository).tags.all()
    page = page_after(tags, n, request.query_params.get("last"))
    return JSONResponse({"name": repository.name, "tags": page.items}, headers=next_link(request, page, n))


@router.get("/v2/_catalog")
async def catalog(request: Request, registry: RegistryDep) -> JSONResponse:
    """The repositories the caller may pull (every one, on an open registry)."""
    n = parse_page_size(request.query_params.get("n"), CATALOG_PAGE)
    visible = caller(request).lists
    page = await list_repositories(registry.driver, n, request.query_params.get("last"), visible)
    return JSONResponse({"repositories": page.items}, headers=next_link(request, page, n))


@router.get("/v2/{name:path}/referrers/{digest}")
async def list_referrers(name: str, digest: str, request: Request, registry: RegistryDep) -> JSONResponse:
    """The referrers of ``digest``: an image index, empty if there are none (never a 404)."""
    repository = registry.repository(name)
    subject = parse_digest(digest)
    artifact_type = request.query_params.get("artifactType") or None
    entries = await ManifestStore.of(repository).referrers.list(subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return JSONResponse(index, media_type=OCI_INDEX, headers=headers)


def next_link(request: Request, page: Page, n: int | None) -> dict[str, str]:
    """``Link: <path?n=&last=>; rel="next"`` when entries remain after ``page`` (RFC 5988, as the spec asks)."""
    if not page.more or page.last is None or n is None:
        return {}
    return {"Link": f'<{request.url.path}?{urlencode({"n": n, "last": page.last})}>; rel="next"'}
