"""The events blob-write records: blob pushes (monolithic, upload), mounts, manifest pushes (by tag, by digest, with
``?tag=``), deletes (blob, manifest with its tags, tag); none for a refused request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blob_write.app import ROUTERS
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.digest import Digest
from registry_core.manifests import mediatypes as mt
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.testing.notifications import Notified, notified_service

NAME = "app"


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    return Registry(CheckedDriver(driver), InMemoryDescriptorCache(), delete_enabled=True)


@pytest.fixture
async def notified(registry: Registry) -> AsyncIterator[Notified]:
    async with notified_service(ROUTERS, registry) as service:
        yield service


def targets(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(event["action"], event["target"]) for event in events]


def blob_target(digest: str, size: int, name: str = NAME, **extra: str) -> dict[str, Any]:
    fields = {"mediaType": "application/octet-stream", "size": size, "digest": digest, "length": size}
    return fields | {"repository": name} | extra | {"url": f"http://registry/v2/{name}/blobs/{digest}"}


async def push_blob(notified: Notified, data: bytes, name: str = NAME) -> str:
    digest = str(Digest.from_bytes(data))
    response = await notified.client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    return digest


async def push_manifest(notified: Notified, reference: str, **params: Any) -> tuple[str, bytes]:
    config = await push_blob(notified, b"{}")
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {"mediaType": "c", "digest": config, "size": 2}}
    payload = json.dumps(doc).encode()
    response = await notified.client.put(
        f"/v2/{NAME}/manifests/{reference}", content=payload, headers={"Content-Type": mt.OCI_MANIFEST}, params=params
    )
    assert response.status_code == 201, response.text
    return str(Digest.from_bytes(payload)), payload


async def test_monolithic_and_chunked_uploads_record_pushes(notified: Notified) -> None:
    first = await push_blob(notified, b"one")
    started = await notified.client.post(f"/v2/{NAME}/blobs/uploads/")
    second = str(Digest.from_bytes(b"two"))
    await notified.client.patch(started.headers["location"], content=b"two")
    finished = await notified.client.put(started.headers["location"], params={"digest": second})
    assert finished.status_code == 201
    events = await notified.events()
    assert targets(events) == [("push", blob_target(first, 3)), ("push", blob_target(second, 3))]
    assert [e["request"]["method"] for e in events] == ["POST", "PUT"]


async def test_a_mount_records_its_source_repository(notified: Notified) -> None:
    digest = await push_blob(notified, b"shared", name="base")
    await notified.events()
    response = await notified.client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "base"})
    assert response.status_code == 201
    assert targets(await notified.events()) == [("mount", blob_target(digest, 6, fromRepository="base"))]


async def test_manifest_pushes_one_per_tag(notified: Notified) -> None:
    digest, payload = await push_manifest(notified, "v1")
    await push_manifest(notified, digest, tag=["a", "b"])
    await push_manifest(notified, digest)
    pushes = [t for action, t in targets(await notified.events()) if t["mediaType"] == mt.OCI_MANIFEST]
    assert [t.get("tag") for t in pushes] == ["v1", "a", "b", None]
    assert pushes[0] == {
        "mediaType": mt.OCI_MANIFEST,
        "size": len(payload),
        "digest": digest,
        "length": len(payload),
        "repository": NAME,
        "url": f"http://registry/v2/{NAME}/manifests/{digest}",
        "tag": "v1",
    }


async def test_deletes_as_go_records_them(notified: Notified) -> None:
    digest, _ = await push_manifest(notified, "v1", tag=["v2"])
    await push_manifest(notified, "keep")
    blob = await push_blob(notified, b"gone")
    await notified.events()
    assert (await notified.client.delete(f"/v2/{NAME}/manifests/keep")).status_code == 202
    assert (await notified.client.delete(f"/v2/{NAME}/manifests/{digest}")).status_code == 202
    assert (await notified.client.delete(f"/v2/{NAME}/blobs/{blob}")).status_code == 202
    assert (await notified.client.delete(f"/v2/{NAME}/blobs/{blob}")).status_code == 404
    deletes = targets(await notified.events())
    assert deletes[0] == ("delete", {"repository": NAME, "tag": "keep"})
    assert deletes[1] == ("delete", {"repository": NAME, "digest": digest})
    assert sorted(t["tag"] for _, t in deletes[2:4]) == ["v1", "v2"]  # the tags the manifest's delete removed
    assert deletes[4:] == [("delete", {"repository": NAME, "digest": blob})]


async def test_refused_requests_record_nothing(notified: Notified) -> None:
    wrong = str(Digest.from_bytes(b"other"))
    assert (await notified.client.post(f"/v2/{NAME}/blobs/uploads/", params={"digest": wrong}, content=b"x")).is_error
    assert (await notified.client.put(f"/v2/{NAME}/manifests/v1", content=b"{}")).is_error
    assert await notified.events() == []
