"""The pull events blob-read records: blobs (GET, HEAD, 304, redirects), manifests (by tag, by digest, HEAD; none for
a 304), the request and source records, forwarded headers, references and relative URLs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blob_read.app import ROUTERS
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.digest import Digest
from registry_core.manifests import ManifestStore
from registry_core.manifests import mediatypes as mt
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.testing.notifications import Notified, notified_service

NAME = "library/app"
BLOB = b"layer bytes"
BLOB_DIGEST = str(Digest.from_bytes(BLOB))
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    return Registry(CheckedDriver(driver), InMemoryDescriptorCache(), delete_enabled=True, redirect=False)


@pytest.fixture
async def notified(registry: Registry) -> AsyncIterator[Notified]:
    async with notified_service(ROUTERS, registry) as service:
        yield service


async def image(registry: Registry, *tags: str) -> tuple[str, bytes]:
    """An OCI image manifest in ``NAME`` (its config and one layer linked there); its digest and bytes."""
    blobs = registry.repository(NAME).blobs
    config = await blobs.put(b"{}")
    layer = await blobs.put(BLOB)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(config.digest), "size": 2},
        "layers": [{"mediaType": LAYER_TYPE, "digest": str(layer.digest), "size": layer.size}],
    }
    payload = json.dumps(doc).encode()
    digest = Digest.from_bytes(payload)
    await ManifestStore.of(registry.repository(NAME)).put(payload, mt.OCI_MANIFEST, digest, tags)
    return str(digest), payload


async def test_a_blob_get_records_a_pull_as_go_shapes_it(notified: Notified, registry: Registry) -> None:
    await registry.repository(NAME).blobs.put(BLOB)
    response = await notified.client.get(f"/v2/{NAME}/blobs/{BLOB_DIGEST}", headers={"User-Agent": "docker/27"})
    assert response.status_code == 200
    (event,) = await notified.events()
    assert event["action"] == "pull"
    assert event["target"] == {
        "mediaType": "application/octet-stream",
        "size": len(BLOB),
        "digest": BLOB_DIGEST,
        "length": len(BLOB),
        "repository": NAME,
        "url": f"http://registry/v2/{NAME}/blobs/{BLOB_DIGEST}",
    }
    assert event["request"] == {
        "id": response.headers["x-request-id"],
        "addr": "127.0.0.1:123",  # the ASGI test transport's client
        "host": "registry",
        "method": "GET",
        "useragent": "docker/27",
    }
    assert event["actor"] == {}
    assert event["source"] == {"addr": "registry.test:5000", "instanceID": "test-instance"}


async def test_head_and_not_modified_blob_reads_are_pulls_too_errors_are_not(
    notified: Notified, registry: Registry
) -> None:
    await registry.repository(NAME).blobs.put(BLOB)
    url = f"/v2/{NAME}/blobs/{BLOB_DIGEST}"
    assert (await notified.client.head(url)).status_code == 200
    assert (await notified.client.get(url, headers={"If-None-Match": f'"{BLOB_DIGEST}"'})).status_code == 304
    assert (await notified.client.get(f"/v2/{NAME}/blobs/sha256:{'0' * 64}")).status_code == 404
    assert [(e["action"], e["request"]["method"]) for e in await notified.events()] == [
        ("pull", "HEAD"),
        ("pull", "GET"),
    ]


async def test_forwarded_headers_make_the_url_and_the_client_address(notified: Notified, registry: Registry) -> None:
    await registry.repository(NAME).blobs.put(BLOB)
    url = f"/v2/{NAME}/blobs/{BLOB_DIGEST}"
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "registry.example, proxy.internal",
        "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
    }
    await notified.client.head(url, headers=forwarded)
    await notified.client.head(url, headers={"X-Forwarded-For": "not-an-ip", "X-Real-Ip": "198.51.100.7"})
    first, second = await notified.events()
    assert first["target"]["url"] == f"https://registry.example/v2/{NAME}/blobs/{BLOB_DIGEST}"
    assert first["request"]["addr"] == "203.0.113.9"
    assert second["request"]["addr"] == "198.51.100.7"


async def test_manifest_reads_record_pulls_with_the_tag_when_by_tag(notified: Notified, registry: Registry) -> None:
    digest, payload = await image(registry, "v1")
    assert (await notified.client.get(f"/v2/{NAME}/manifests/v1")).status_code == 200
    assert (await notified.client.head(f"/v2/{NAME}/manifests/{digest}")).status_code == 200
    not_modified = await notified.client.get(f"/v2/{NAME}/manifests/v1", headers={"If-None-Match": f'"{digest}"'})
    assert not_modified.status_code == 304  # no event: Go answers it before reading the manifest
    assert (await notified.client.get(f"/v2/{NAME}/manifests/v2")).status_code == 404
    by_tag, by_digest = await notified.events()
    assert by_tag["target"] == {
        "mediaType": mt.OCI_MANIFEST,
        "size": len(payload),
        "digest": digest,
        "length": len(payload),
        "repository": NAME,
        "url": f"http://registry/v2/{NAME}/manifests/{digest}",
        "tag": "v1",
    }
    assert "tag" not in by_digest["target"] and by_digest["request"]["method"] == "HEAD"


async def test_references_and_relative_urls_when_configured(registry: Registry) -> None:
    digest, payload = await image(registry)
    async with notified_service(ROUTERS, registry, include_references=True, relative_urls=True) as notified:
        await notified.client.get(f"/v2/{NAME}/manifests/{digest}")
        (event,) = await notified.events()
    doc = json.loads(payload)
    assert event["target"]["url"] == f"/v2/{NAME}/manifests/{digest}"
    assert event["target"]["references"] == [doc["config"], *doc["layers"]]


class PresigningDriver(InMemoryDriver):
    async def url_for(self, path: str, *, method: str = "GET", expires_in: int = 1200) -> str:
        return f"https://bucket.example{path}"


async def test_a_redirected_blob_get_is_a_pull() -> None:
    registry = Registry(CheckedDriver(PresigningDriver()), InMemoryDescriptorCache(), redirect=True)
    await registry.repository(NAME).blobs.put(BLOB)
    async with notified_service(ROUTERS, registry) as notified:
        assert (await notified.client.get(f"/v2/{NAME}/blobs/{BLOB_DIGEST}")).status_code == 307
        assert [e["action"] for e in await notified.events()] == ["pull"]


async def test_reads_record_nothing_when_every_endpoint_ignores_pulls(registry: Registry) -> None:
    await registry.repository(NAME).blobs.put(BLOB)
    digest, _ = await image(registry, "v1")
    async with notified_service(ROUTERS, registry, actions=frozenset({"push", "mount", "delete"})) as service:
        assert (await service.client.head(f"/v2/{NAME}/blobs/{BLOB_DIGEST}")).status_code == 200
        assert (await service.client.get(f"/v2/{NAME}/manifests/v1")).status_code == 200
        assert (await service.client.get(f"/v2/{NAME}/manifests/{digest}")).status_code == 200
        assert await service.events() == []
