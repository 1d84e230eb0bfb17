"""The blob descriptor cache as a client of the descriptor-cache service (``blobdescriptor: remote``).

One keep-alive ``httpx.AsyncClient`` with short timeouts. 404 is a miss (``BlobUnknownError``); anything
else that is not a success (refused, timed out, 5xx) is a :class:`DescriptorCacheError`, which the cached
statter answers from storage.
"""

from __future__ import annotations

from typing import Any

import httpx

from registry_core.blobs.interfaces import BlobDescriptorService, BlobUnknownError, DescriptorCacheError
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest


def descriptor_to_json(descriptor: Descriptor) -> dict[str, Any]:
    return {"digest": str(descriptor.digest), "size": descriptor.size, "mediaType": descriptor.media_type}


def descriptor_from_json(data: Any) -> Descriptor:
    return Descriptor(Digest.parse(data["digest"]), int(data["size"]), data["mediaType"])


class RemoteDescriptorCache:
    """A ``BlobDescriptorCacheProvider`` over the descriptor-cache service's HTTP API."""

    def __init__(self, base_url: str, *, timeout: float = 0.25, client: httpx.AsyncClient | None = None) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.client = client or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, limits=limits)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            response = await self.client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise DescriptorCacheError(f"descriptor-cache {method} {path}: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code not in (200, 204, 404):
            raise DescriptorCacheError(f"descriptor-cache {method} {path}: HTTP {response.status_code}")
        return response

    async def _stat(self, path: str, digest: Digest) -> Descriptor:
        response = await self.request("GET", path)
        if response.status_code == 404:
            raise BlobUnknownError(digest)
        try:
            return descriptor_from_json(response.json())
        except Exception as exc:
            raise DescriptorCacheError(f"descriptor-cache answered a malformed descriptor: {exc!r}") from exc

    async def stat(self, digest: Digest) -> Descriptor:
        return await self._stat(f"/v1/descriptors/{digest}", digest)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        await self.request("PUT", f"/v1/descriptors/{digest}", descriptor_to_json(descriptor))

    async def clear(self, digest: Digest) -> None:
        await self.request("DELETE", f"/v1/descriptors/{digest}")

    def repository(self, name: str) -> BlobDescriptorService:
        return _RemoteRepositoryCache(self, name)


class _RemoteRepositoryCache:
    def __init__(self, parent: RemoteDescriptorCache, name: str) -> None:
        self._parent = parent
        self._prefix = f"/v1/repositories/{name}/descriptors"

    async def stat(self, digest: Digest) -> Descriptor:
        return await self._parent._stat(f"{self._prefix}/{digest}", digest)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        await self._parent.request("PUT", f"{self._prefix}/{digest}", descriptor_to_json(descriptor))

    async def clear(self, digest: Digest) -> None:
        await self._parent.request("DELETE", f"{self._prefix}/{digest}")
