"""The blob descriptor cache as a client of the descriptor-cache service (``blobdescriptor: remote``).

One pool of keep-alive connections (:class:`~registry_core.blobs.keepalive.KeepAlivePool`: on the HEAD path,
httpx cost more CPU than all the rest of the request), each call bounded as a whole by
``services.descriptorcache.timeout`` (250 ms by default), so a hung service costs a cache call at most that.
404 is a miss (:class:`CacheMiss`, its body carrying the scope's generation); a fill is a PUT with
``?generation=``, answered 409 when the scope was cleared since; anything else that is not a success
(refused, timed out, 5xx) is a :class:`DescriptorCacheError`, which the cached statter answers from storage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from registry_core.blobs.interfaces import BlobDescriptorService, CacheMiss, DescriptorCacheError
from registry_core.blobs.keepalive import HttpError, HttpResponse, KeepAlivePool
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest

T = TypeVar("T")


def descriptor_to_json(descriptor: Descriptor) -> dict[str, Any]:
    return {"digest": str(descriptor.digest), "size": descriptor.size, "mediaType": descriptor.media_type}


def descriptor_from_json(data: Any) -> Descriptor:
    return Descriptor(Digest.parse(data["digest"]), int(data["size"]), data["mediaType"])


def _json(response: HttpResponse, read: Callable[[Any], T]) -> T:
    try:
        return read(response.json())
    except Exception as exc:
        raise DescriptorCacheError(f"descriptor-cache answered a malformed body: {exc!r}") from exc


def _generation_of(data: Any) -> int:
    return int(data["generation"])


class RemoteDescriptorCache:
    """A ``BlobDescriptorCacheProvider`` over the descriptor-cache service's HTTP API."""

    def __init__(self, base_url: str, *, timeout: float = 0.25, connections: int = 64) -> None:
        self.client = KeepAlivePool(base_url, limit=connections, timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        """``DescriptorCacheError`` unless the descriptor-cache service (and so its Redis) is healthy."""
        response = await self.request("GET", "/healthz")
        if response.status != 200:
            raise DescriptorCacheError(f"descriptor-cache GET /healthz: HTTP {response.status}")

    async def request(self, method: str, path: str, json: Any = None) -> HttpResponse:
        try:
            response = await self.client.request(method, path, json)
        except HttpError as exc:
            raise DescriptorCacheError(f"descriptor-cache {method} {path}: {exc}") from exc
        if response.status not in (200, 204, 404, 409):
            raise DescriptorCacheError(f"descriptor-cache {method} {path}: HTTP {response.status}")
        return response

    async def _stat(self, path: str, digest: Digest) -> Descriptor:
        response = await self.request("GET", path)
        if response.status == 404:
            raise CacheMiss(digest, _json(response, _generation_of))
        return _json(response, descriptor_from_json)

    async def _generation(self, path: str) -> int:
        return _json(await self.request("GET", path), _generation_of)

    async def _fill(self, path: str, descriptor: Descriptor, generation: int) -> bool:
        response = await self.request("PUT", f"{path}?generation={generation}", descriptor_to_json(descriptor))
        return response.status == 204

    async def stat(self, digest: Digest) -> Descriptor:
        return await self._stat(f"/v1/descriptors/{digest}", digest)

    async def generation(self) -> int:
        return await self._generation("/v1/generation")

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        return await self._fill(f"/v1/descriptors/{digest}", descriptor, generation)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        await self.request("PUT", f"/v1/descriptors/{digest}", descriptor_to_json(descriptor))

    async def clear(self, digest: Digest) -> None:
        await self.request("DELETE", f"/v1/descriptors/{digest}")

    def repository(self, name: str) -> BlobDescriptorService:
        return _RemoteRepositoryCache(self, name)


class _RemoteRepositoryCache:
    def __init__(self, parent: RemoteDescriptorCache, name: str) -> None:
        self._parent = parent
        self._prefix = f"/v1/repositories/{name}"

    async def stat(self, digest: Digest) -> Descriptor:
        return await self._parent._stat(f"{self._prefix}/descriptors/{digest}", digest)

    async def generation(self) -> int:
        return await self._parent._generation(f"{self._prefix}/generation")

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        return await self._parent._fill(f"{self._prefix}/descriptors/{digest}", descriptor, generation)

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        await self._parent.request("PUT", f"{self._prefix}/descriptors/{digest}", descriptor_to_json(descriptor))

    async def clear(self, digest: Digest) -> None:
        await self._parent.request("DELETE", f"{self._prefix}/descriptors/{digest}")
