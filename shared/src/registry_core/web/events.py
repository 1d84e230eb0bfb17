"""What routes call to record a notification event, before they return their response.

Each function returns at once when the app has no notifier (no enabled endpoint): one attribute lookup. Else it
builds the event from the request (``request`` and ``actor`` records, the content URL) and appends it to the
event log; delivery happens later, in the senders.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from fastapi import Request

from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.notify.events import (
    Action,
    Json,
    RequestRecord,
    blob_target,
    delete_target,
    encode_events,
    manifest_target,
    references,
)
from registry_core.notify.notifier import Notifier
from registry_core.web.auth import caller
from registry_core.web.request_context import current_request_id


def notifier_of(request: Request) -> Notifier | None:
    found: Notifier | None = getattr(request.app.state, "notifier", None)
    return found


async def record_blob(
    request: Request, action: Action, repository: str, descriptor: Descriptor, *, from_repository: str | None = None
) -> None:
    """A blob pulled, pushed, or mounted (from ``from_repository``)."""
    notifier = notifier_of(request)
    if notifier is None or not notifier.wants(action):
        return
    digest = str(descriptor.digest)
    url = content_url(request, notifier, repository, "blobs", digest)
    await _record(request, notifier, action, [blob_target(repository, digest, descriptor.size, url, from_repository)])


async def record_manifest(
    request: Request,
    action: Action,
    repository: str,
    digest: Digest,
    media_type: str,
    payload: bytes,
    tags: Sequence[str | None] = (None,),
) -> None:
    """A manifest pulled or pushed: one event per tag (``None``: by digest, no tag)."""
    notifier = notifier_of(request)
    if notifier is None or not notifier.wants(action):
        return
    url = content_url(request, notifier, repository, "manifests", str(digest))
    refs = references(payload) if notifier.include_references else []
    targets = [manifest_target(repository, media_type, str(digest), len(payload), url, tag, refs) for tag in tags]
    await _record(request, notifier, action, targets)


async def record_deletes(
    request: Request, repository: str, *, digest: Digest | None = None, tags: Sequence[str] = ()
) -> None:
    """A manifest or blob deleted (``digest``), then the tags deleted (a tag's delete, or the tags a manifest's
    delete removed, as Go sends them)."""
    notifier = notifier_of(request)
    if notifier is None or not notifier.wants("delete"):
        return
    targets = [delete_target(repository, digest=str(digest))] if digest is not None else []
    targets += [delete_target(repository, tag=tag) for tag in tags]
    await _record(request, notifier, "delete", targets)


async def _record(request: Request, notifier: Notifier, action: Action, targets: Sequence[Json]) -> None:
    if not targets:
        return
    record = request_record(request)
    actor = caller(request).name
    await notifier.record(encode_events(action, targets, record, actor, notifier.source))


_RECORDED = frozenset(
    {b"host", b"user-agent", b"x-forwarded-for", b"x-real-ip", b"x-forwarded-proto", b"x-forwarded-host"}
)
"""The request headers events read: picked from the raw list in one pass, the first of each name."""


def recorded_headers(request: Request) -> dict[bytes, str]:
    found: dict[bytes, str] = request.scope.setdefault("registry.recorded_headers", {})
    if not found:
        for name, value in request.scope["headers"]:
            if name in _RECORDED and name not in found:
                found[name] = value.decode("latin-1")
    return found


def request_record(request: Request) -> RequestRecord:
    headers = recorded_headers(request)
    return RequestRecord(
        id=current_request_id() or "",
        addr=remote_addr(request),
        host=headers.get(b"host", ""),
        method=request.method,
        useragent=headers.get(b"user-agent", ""),
    )


def remote_addr(request: Request) -> str:
    """Go's ``RemoteAddr``: the first ``X-Forwarded-For`` entry, else ``X-Real-Ip`` (each only if an IP address),
    else the connection's ``ip:port``."""
    headers = recorded_headers(request)
    forwarded = headers.get(b"x-forwarded-for")
    if forwarded and _is_ip(first := forwarded.split(",", 1)[0].strip()):
        return first
    real = headers.get(b"x-real-ip")
    if real and _is_ip(real.strip()):
        return real.strip()
    client = request.scope.get("client")
    if not client:
        return ""
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def content_url(
    request: Request, notifier: Notifier, repository: str, kind: Literal["blobs", "manifests"], digest: str
) -> str:
    """``/v2/<repository>/<kind>/<digest>``: a path with ``http.relativeurls``, else absolute, from the request's
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (their first entries) or its own scheme and ``Host``."""
    path = f"/v2/{repository}/{kind}/{digest}"
    if notifier.relative_urls:
        return path
    headers = recorded_headers(request)
    scheme = _first(headers.get(b"x-forwarded-proto")) or request.scope["scheme"]
    host = _first(headers.get(b"x-forwarded-host")) or headers.get(b"host") or request.url.netloc
    return f"{scheme}://{host}{path}"


def _first(value: str | None) -> str:
    return "" if value is None else value.split(",", 1)[0].strip()


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
