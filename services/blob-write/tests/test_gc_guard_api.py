"""Online garbage collection seen by a client of blob-write (docs/online-gc.md, "A writer"): a blob being swept is
not mounted (202, an upload session), a manifest referencing it is refused (400 ``MANIFEST_BLOB_UNKNOWN``), a
push waits out its tombstone; a service configured with ``garbagecollect.enabled`` leaves claims, one without it
nothing under ``_gc/``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from blob_write.app import ROUTERS, create_app
from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.config import Settings
from registry_core.digest import Digest
from registry_core.manifests import mediatypes as mt
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.testing.service_app import running_app
from registry_core.web.app import create_service_app

NAME = "library/app"
SOURCE = "source/repo"
LAYER = b"layer bytes" * 100
LAYER_DIGEST = Digest.from_bytes(LAYER)
CONFIG = b'{"seed": "gc"}'
CONFIG_DIGEST = Digest.from_bytes(CONFIG)


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    registry = Registry(CheckedDriver(driver), InMemoryDescriptorCache(), delete_enabled=True, gc_grace=3600.0)
    assert registry.gc_guard is not None
    registry.gc_guard.poll_interval = 0.01
    return registry


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_service_app("blob-write", Settings(), routers=ROUTERS, with_registry=False)
    app.state.registry = registry
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


async def push(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    """A monolithic upload (``POST ?digest=``)."""
    return await client.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": str(Digest.from_bytes(data))}, content=data
    )


def manifest() -> bytes:
    def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": str(Digest.from_bytes(data)), "size": len(data)}

    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", CONFIG),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", LAYER)],
    }
    return json.dumps(doc).encode()


async def put_manifest(client: httpx.AsyncClient, tag: str = "v1") -> httpx.Response:
    return await client.put(
        f"/v2/{NAME}/manifests/{tag}", content=manifest(), headers={"Content-Type": mt.OCI_MANIFEST}
    )


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["errors"][0]["code"])


async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFoundError:
        return False
    return True


async def test_mount_of_a_tombstoned_blob_answers_with_an_upload_session(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    assert (await push(client, SOURCE, LAYER)).status_code == 201
    await gp.write_tombstones(registry.driver, gp.new_run_id(), [LAYER_DIGEST])

    response = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": str(LAYER_DIGEST), "from": SOURCE})

    assert response.status_code == 202
    assert response.headers["Range"] == "0-0"
    assert (await client.get(response.headers["Location"])).status_code == 204
    assert not await exists(registry.driver, paths.layer_link(NAME, LAYER_DIGEST))


async def test_mount_of_a_live_blob_still_mounts(client: httpx.AsyncClient, registry: Registry) -> None:
    assert (await push(client, SOURCE, LAYER)).status_code == 201
    response = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": str(LAYER_DIGEST), "from": SOURCE})
    assert response.status_code == 201
    assert LAYER_DIGEST in {
        d for c in (await gp.read_claims(registry.driver)).claims if c.repository == NAME for d in c.digests
    }


async def test_manifest_referencing_a_tombstoned_blob_is_refused(client: httpx.AsyncClient, registry: Registry) -> None:
    for data in (CONFIG, LAYER):
        assert (await push(client, NAME, data)).status_code == 201
    await gp.write_tombstones(registry.driver, gp.new_run_id(), [LAYER_DIGEST])

    response = await put_manifest(client)

    assert error(response) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert response.json()["errors"][0]["detail"] == {"digest": str(LAYER_DIGEST)}
    assert not await exists(registry.driver, paths.tag_current_link(NAME, "v1"))


async def test_manifest_put_leaves_a_claim(client: httpx.AsyncClient, registry: Registry) -> None:
    for data in (CONFIG, LAYER):
        assert (await push(client, NAME, data)).status_code == 201
    response = await put_manifest(client, "v7")
    assert response.status_code == 201, response.text
    digest = Digest.parse(response.headers["Docker-Content-Digest"])
    claims = [c for c in (await gp.read_claims(registry.driver)).claims if "v7" in c.tags]
    assert [c.digests for c in claims] == [frozenset({digest, CONFIG_DIGEST, LAYER_DIGEST})]


async def test_push_of_a_tombstoned_blob_waits_then_creates_it(client: httpx.AsyncClient, registry: Registry) -> None:
    assert (await push(client, SOURCE, LAYER)).status_code == 201
    written = await gp.write_tombstones(registry.driver, gp.new_run_id(), [LAYER_DIGEST])
    task = asyncio.create_task(push(client, NAME, LAYER))

    await asyncio.sleep(0.2)
    assert not task.done()
    await registry.driver.delete(paths.layer_link(SOURCE, LAYER_DIGEST))  # the sweep: links, bytes, tombstones
    await registry.driver.delete(paths.blob_dir(LAYER_DIGEST))
    await gp.remove_tombstones(registry.driver, written)

    response = await asyncio.wait_for(task, 5)
    assert response.status_code == 201
    assert await registry.repository(NAME).blobs.get(LAYER_DIGEST) == LAYER


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_configured_service(tmp_path: Path, enabled: bool) -> None:
    gc = {"maintenance": {"garbagecollect": {"enabled": enabled}}}
    async with running_app(tmp_path, create_app, storage=gc) as client:
        for data in (CONFIG, LAYER):
            assert (await push(client, NAME, data)).status_code == 201
        assert (await put_manifest(client)).status_code == 201
    driver = FilesystemDriver(tmp_path / "root")
    claims = (await gp.read_claims(driver)).claims
    if enabled:
        assert {d for c in claims for d in c.digests} >= {CONFIG_DIGEST, LAYER_DIGEST}
    else:
        assert claims == []
        with pytest.raises(PathNotFoundError):
            await driver.list(paths.GC)
