"""Building and pushing real content for the manifest tests (imported by the tests and by conftest)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from registry_core.digest import Digest
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.reference import parse_reference
from registry_core.manifests.store import ManifestStore
from registry_core.registry import Registry
from registry_core.storage.driver import FileInfo, FileWriter, StorageDriver

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Content:
    """Builds and pushes test content into one registry."""

    registry: Registry

    def manifests(self, name: str) -> ManifestStore:
        return ManifestStore.of(self.registry.repository(name))

    async def blob(self, name: str, data: bytes, media_type: str = LAYER_TYPE) -> dict[str, Any]:
        descriptor = await self.registry.repository(name).blobs.put(data)
        return {"mediaType": media_type, "digest": str(descriptor.digest), "size": descriptor.size}

    async def image(self, name: str, seed: str = "x", *, layers: int = 2, **extra: Any) -> bytes:
        """An OCI image manifest whose config and layers are pushed to ``name``."""
        config = await self.blob(name, f'{{"seed": "{seed}"}}'.encode(), CONFIG_TYPE)
        blobs = [await self.blob(name, f"{seed}-layer-{i}".encode()) for i in range(layers)]
        return encode({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": blobs, **extra})

    async def put(self, name: str, payload: bytes, reference: str | None = None, **kwargs: Any) -> Digest:
        ref = parse_reference(reference) if reference else Digest.from_bytes(payload)
        media_type = json.loads(payload).get("mediaType")
        return (await self.manifests(name).put(payload, media_type, ref, **kwargs)).digest


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


def descriptor_of(payload: bytes, media_type: str = mt.OCI_MANIFEST, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(Digest.from_bytes(payload)), "size": len(payload), **extra}


class CrashingDriver(StorageDriver):
    """Delegates to ``inner``, but raises ``OSError`` on the first ``put_content``/``delete`` that ``crash`` selects:
    a process dying at that write."""

    def __init__(self, inner: StorageDriver, crash: Callable[[str, str], bool]) -> None:
        self.inner = inner
        self.crash = crash
        self.name = inner.name

    def _check(self, operation: str, path: str) -> None:
        if self.crash(operation, path):
            raise OSError(f"simulated crash at {operation} {path}")

    async def get_content(self, path: str) -> bytes:
        return await self.inner.get_content(path)

    async def put_content(self, path: str, content: bytes) -> None:
        self._check("put_content", path)
        await self.inner.put_content(path, content)

    def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        return self.inner.reader(path, offset)

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        return await self.inner.writer(path, append=append)

    async def stat(self, path: str) -> FileInfo:
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        return await self.inner.list(path)

    async def move(self, source: str, dest: str) -> None:
        await self.inner.move(source, dest)

    async def delete(self, path: str) -> None:
        self._check("delete", path)
        await self.inner.delete(path)

    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        return self.inner.walk(path)
