"""The writer's side of online garbage collection (docs/online-gc.md, "A writer") over real drivers: manifest
puts, upload commits and mounts leave claims and act on tombstones; the race between a put and a sweep, in both
interleavings, made deterministic by the guard's pause hook; nothing of it with the guard off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import test_gc

from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.config import (
    GarbageCollectSettings,
    InMemorySettings,
    MaintenanceSettings,
    Settings,
    StorageSettings,
)
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.gc_guard import GcGuard, GuardedWrite
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.store import ManifestStore, PutResult
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageDriver
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.web.app import build_registry

REPO = "library/app"
OTHER = "team/other"
GRACE = 3600.0
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


driver, exists = test_gc.driver, test_gc.exists  # every driver, checked; a path's presence


@pytest.fixture
def registry(driver: CheckedDriver) -> Registry:
    registry = Registry(driver, InMemoryDescriptorCache(), delete_enabled=True, gc_grace=GRACE)
    assert registry.gc_guard is not None
    registry.gc_guard.poll_interval = 0.01
    return registry


def guard_of(registry: Registry) -> GcGuard:
    assert registry.gc_guard is not None
    return registry.gc_guard


# -- content and storage helpers -----------------------------------------------------------------------------------
async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(registry: Registry, name: str, data: bytes) -> Descriptor:
    session = await registry.repository(name).uploads.create()
    return await session.commit(Digest.from_bytes(data), _once(data))


@dataclass(frozen=True)
class Image:
    payload: bytes
    config: Digest
    layer: Digest

    @property
    def digest(self) -> Digest:
        return Digest.from_bytes(self.payload)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": mt.OCI_MANIFEST, "digest": str(self.digest), "size": len(self.payload)}


async def image(registry: Registry, name: str, seed: str = "x") -> Image:
    """An image manifest (not put) whose config and one layer are uploaded to ``name``."""
    config = await upload(registry, name, json.dumps({"seed": seed}).encode())
    layer = await upload(registry, name, f"{seed}-layer".encode())
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": str(config.digest), "size": config.size},
        "layers": [{"mediaType": LAYER_TYPE, "digest": str(layer.digest), "size": layer.size}],
    }
    return Image(json.dumps(doc).encode(), config.digest, layer.digest)


def index_of(*children: Image) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [c.descriptor() for c in children]}
    ).encode()


async def put(registry: Registry, payload: bytes, tag: str = "v1", media_type: str = mt.OCI_MANIFEST) -> PutResult:
    return await ManifestStore.of(registry.repository(REPO)).put(payload, media_type, tag)


async def nothing_linked(driver: StorageDriver, digest: Digest, tag: str = "v1") -> bool:
    return not (
        await exists(driver, paths.manifest_revision_link(REPO, digest))
        or await exists(driver, paths.tag_current_link(REPO, tag))
        or await exists(driver, paths.blob_data(digest))
    )


async def claims_of(driver: StorageDriver, repository: str = REPO) -> list[gp.Claim]:
    return [c for c in (await gp.read_claims(driver)).claims if c.repository == repository]


def code_of(info: pytest.ExceptionInfo[RegistryError]) -> ErrorCode:
    return info.value.code


async def later(delay: float, action: Callable[[], Awaitable[object]]) -> None:
    await asyncio.sleep(delay)
    await action()


# -- manifest puts -----------------------------------------------------------------------------------------------------
async def test_a_put_claims_its_digest_references_and_tags(registry: Registry, driver: CheckedDriver) -> None:
    img = await image(registry, REPO)
    result = await ManifestStore.of(registry.repository(REPO)).put(img.payload, mt.OCI_MANIFEST, "v1", tags=["v2"])
    assert result.tags == ("v1", "v2")
    assert [(c.digests, c.tags) for c in await claims_of(driver) if img.digest in c.digests] == [
        (frozenset({img.digest, img.config, img.layer}), frozenset({"v1", "v2"}))
    ]


async def test_a_referrer_claims_its_subject_which_never_blocks_it(registry: Registry, driver: CheckedDriver) -> None:
    subject = await image(registry, REPO, "subject")
    await put(registry, subject.payload, tag="app")
    signature = await image(registry, REPO, "signature")
    doc = {**json.loads(signature.payload), "subject": subject.descriptor()}
    payload = json.dumps(doc).encode()
    await gp.write_tombstones(driver, gp.new_run_id(), [subject.digest])  # a sweep is removing the subject

    await put(registry, payload, tag="sig")

    referrer = Digest.from_bytes(payload)
    assert [c.digests for c in await claims_of(driver) if referrer in c.digests] == [
        frozenset({referrer, signature.config, signature.layer, subject.digest})
    ]


async def test_an_index_put_claims_its_children(registry: Registry, driver: CheckedDriver) -> None:
    child = await image(registry, REPO)
    await put(registry, child.payload, "child")
    index = index_of(child)
    await put(registry, index, "multi", mt.OCI_INDEX)
    claim = [c for c in await claims_of(driver) if "multi" in c.tags]
    assert [c.digests for c in claim] == [frozenset({Digest.from_bytes(index), child.digest})]


@pytest.mark.parametrize("which", ["layer", "config"])
async def test_a_put_referencing_a_tombstoned_blob_fails_and_writes_nothing(
    registry: Registry, driver: CheckedDriver, which: str
) -> None:
    img = await image(registry, REPO)
    gone = img.layer if which == "layer" else img.config
    await gp.write_tombstones(driver, gp.new_run_id(), [gone])
    before = {c.name for c in await claims_of(driver)}

    with pytest.raises(RegistryError) as info:
        await put(registry, img.payload)

    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert info.value.detail == {"digest": str(gone)}
    assert await nothing_linked(driver, img.digest)
    assert {c.name for c in await claims_of(driver)} == before  # the refused put's claim is gone


async def test_an_index_referencing_a_tombstoned_child_fails(registry: Registry, driver: CheckedDriver) -> None:
    child = await image(registry, REPO)
    await put(registry, child.payload, "child")
    await gp.write_tombstones(driver, gp.new_run_id(), [child.digest])
    index = index_of(child)
    with pytest.raises(RegistryError) as info:
        await put(registry, index, "multi", mt.OCI_INDEX)
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert await nothing_linked(driver, Digest.from_bytes(index), "multi")


@pytest.mark.parametrize("what", ["digest", "tag"])
async def test_a_put_whose_own_digest_or_tag_is_tombstoned_waits_then_succeeds(
    registry: Registry, driver: CheckedDriver, what: str
) -> None:
    img = await image(registry, REPO)
    run = gp.new_run_id()
    if what == "digest":
        written = await gp.write_tombstones(driver, run, [img.digest])
    else:
        written = await gp.write_tombstones(driver, run, tags=[(REPO, "v1")])
    task = asyncio.create_task(put(registry, img.payload))

    await asyncio.sleep(0.2)
    assert not task.done()  # waiting for the tombstone
    assert await nothing_linked(driver, img.digest)
    await gp.remove_tombstones(driver, written)

    result = await asyncio.wait_for(task, 5)
    assert result.digest == img.digest
    assert await driver.get_content(paths.manifest_revision_link(REPO, img.digest)) == str(img.digest).encode()
    assert await driver.get_content(paths.tag_current_link(REPO, "v1")) == str(img.digest).encode()


async def test_a_tombstoned_tag_of_another_repository_does_not_block(registry: Registry, driver: CheckedDriver) -> None:
    img = await image(registry, REPO)
    await gp.write_tombstones(driver, gp.new_run_id(), tags=[(OTHER, "v1")])
    guard_of(registry).wait_limit = 0.0  # any wait would fail
    assert (await put(registry, img.payload)).digest == img.digest


async def test_waiting_is_bounded(registry: Registry, driver: CheckedDriver) -> None:
    img = await image(registry, REPO)
    await gp.write_tombstones(driver, gp.new_run_id(), [img.digest])
    guard_of(registry).wait_limit = 0.1
    with pytest.raises(RegistryError) as info:
        await put(registry, img.payload)
    assert code_of(info) is ErrorCode.UNAVAILABLE and info.value.status == 503
    assert await nothing_linked(driver, img.digest)


async def test_a_put_past_half_the_grace_fails_before_linking(registry: Registry, driver: CheckedDriver) -> None:
    img = await image(registry, REPO)
    guard = guard_of(registry)
    now = [0.0]
    guard.clock = lambda: now[0]

    async def slow(stage: str, write: GuardedWrite) -> None:
        if stage == "checked":
            now[0] += GRACE / 2 + 1  # the put stalls between its tombstone check and its links

    guard.hook = slow
    with pytest.raises(RegistryError) as info:
        await put(registry, img.payload)
    assert code_of(info) is ErrorCode.UNAVAILABLE
    assert not await exists(driver, paths.manifest_revision_link(REPO, img.digest))
    assert not await exists(driver, paths.tag_current_link(REPO, "v1"))


async def test_a_put_verifies_in_storage_not_in_the_cache(registry: Registry, driver: CheckedDriver) -> None:
    img = await image(registry, REPO)
    assert (await registry.repository(REPO).blobs.stat(img.layer)).digest == img.layer  # cached
    await driver.delete(paths.blob_dir(img.layer))  # a sweep deleted it; this process's cache does not know
    with pytest.raises(RegistryError) as info:
        await put(registry, img.payload)
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert await nothing_linked(driver, img.digest)


# -- the race between a put and a sweep, both interleavings ---------------------------------------------------------
class Pause:
    """Holds the guarded write at ``stage`` until released, and says when it got there."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, stage: str, write: GuardedWrite) -> None:
        if stage == self.stage:
            self.reached.set()
            await self.release.wait()


async def test_race_tombstone_after_the_writers_check_the_sweep_sees_the_claim(
    registry: Registry, driver: CheckedDriver
) -> None:
    img = await image(registry, REPO)
    pause = Pause("checked")
    guard_of(registry).hook = pause
    task = asyncio.create_task(put(registry, img.payload))
    await pause.reached.wait()  # the writer listed the tombstones (none) and has linked nothing yet

    # The collector's sweep of the layer (its mark saw no manifest reference it): tombstone, then list the claims.
    written = await gp.write_tombstones(driver, gp.new_run_id(), [img.layer])
    claims = await gp.read_claims(driver)
    assert img.layer in claims.digests  # rescued: the sweep must not delete it
    await gp.remove_tombstones(driver, written)

    pause.release.set()
    result = await asyncio.wait_for(task, 5)
    assert result.digest == img.digest
    assert await exists(driver, paths.blob_data(img.layer))
    assert await exists(driver, paths.manifest_revision_link(REPO, img.digest))


async def test_race_tombstone_before_the_writers_check_the_writer_fails(
    registry: Registry, driver: CheckedDriver
) -> None:
    img = await image(registry, REPO)
    pause = Pause("claimed")
    guard_of(registry).hook = pause
    task = asyncio.create_task(put(registry, img.payload))
    await pause.reached.wait()  # the writer's claim is written, its listing not yet done

    await gp.write_tombstones(driver, gp.new_run_id(), [img.layer])
    # Here both happen: the sweep sees the claim (and would keep the layer), and the writer fails. Safe either way.
    assert img.layer in (await gp.read_claims(driver)).digests
    pause.release.set()
    with pytest.raises(RegistryError) as info:
        await asyncio.wait_for(task, 5)
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert info.value.detail == {"digest": str(img.layer)}
    assert await nothing_linked(driver, img.digest)
    # Had the sweep deleted the layer, no link of this put would reference it: nothing dangles.
    assert not await exists(driver, paths.tag_current_link(REPO, "v1"))


# -- upload commits ----------------------------------------------------------------------------------------------------
async def test_a_commit_claims_its_blob(registry: Registry, driver: CheckedDriver) -> None:
    descriptor = await upload(registry, REPO, b"some bytes")
    assert [c.digests for c in await claims_of(driver)] == [frozenset({descriptor.digest})]


async def test_a_commit_of_a_tombstoned_existing_blob_waits_then_commits_it_anew(
    registry: Registry, driver: CheckedDriver
) -> None:
    data = b"an old layer"
    old = await upload(registry, OTHER, data)
    written = await gp.write_tombstones(driver, gp.new_run_id(), [old.digest])
    task = asyncio.create_task(upload(registry, REPO, data))

    await asyncio.sleep(0.2)
    assert not task.done()
    assert not await exists(driver, paths.layer_link(REPO, old.digest))
    # The collector finishes: link then bytes, then its tombstone.
    await driver.delete(paths.layer_link(OTHER, old.digest))
    await driver.delete(paths.blob_dir(old.digest))
    await gp.remove_tombstones(driver, written)

    assert await asyncio.wait_for(task, 5) == Descriptor(old.digest, len(data))
    assert await driver.get_content(paths.blob_data(old.digest)) == data
    assert await registry.repository(REPO).blobs.get(old.digest) == data
    assert old.digest in {d for c in await claims_of(driver) for d in c.digests}


async def test_a_commit_of_an_existing_blob_rewrites_its_link(
    registry: Registry, driver: CheckedDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"pushed twice"
    first = await upload(registry, REPO, data)
    link = paths.layer_link(REPO, first.digest)
    written: list[str] = []
    put_content = driver.put_content

    async def spy(path: str, content: bytes) -> None:
        written.append(path)
        await put_content(path, content)

    monkeypatch.setattr(driver, "put_content", spy)
    await upload(registry, REPO, data)
    assert link in written  # a fresh modification time: the collector sees a young link


# -- mounts ------------------------------------------------------------------------------------------------------------
async def test_a_mount_claims_and_links(registry: Registry, driver: CheckedDriver) -> None:
    source = await upload(registry, OTHER, b"mount me")
    assert await registry.repository(REPO).blobs.mount(source.digest, OTHER) == Descriptor(source.digest, 8)
    assert [c.digests for c in await claims_of(driver)] == [frozenset({source.digest})]
    assert await exists(driver, paths.layer_link(REPO, source.digest))


async def test_a_mount_of_a_tombstoned_blob_does_not_happen(registry: Registry, driver: CheckedDriver) -> None:
    source = await upload(registry, OTHER, b"mount me")
    await gp.write_tombstones(driver, gp.new_run_id(), [source.digest])
    with pytest.raises(BlobUnknownError):
        await registry.repository(REPO).blobs.mount(source.digest, OTHER)
    assert not await exists(driver, paths.layer_link(REPO, source.digest))
    assert await claims_of(driver) == []  # the refused mount removed its claim


async def test_a_mount_of_an_unlinked_blob_removes_its_claim(registry: Registry, driver: CheckedDriver) -> None:
    await registry.blob_store.put(b"bytes, no link")
    with pytest.raises(BlobUnknownError):
        await registry.repository(REPO).blobs.mount(Digest.from_bytes(b"bytes, no link"), OTHER)
    assert await claims_of(driver) == []


# -- off -------------------------------------------------------------------------------------------------------------
async def test_with_the_guard_off_nothing_is_written_under_gc(driver: CheckedDriver) -> None:
    registry = Registry(driver, InMemoryDescriptorCache(), delete_enabled=True)
    assert registry.gc_guard is None
    await gp.write_tombstones(driver, "run", [Digest.from_bytes(b"unrelated")])
    before = await driver.list(paths.GC_DELETING_DIGESTS)
    img = await image(registry, REPO)
    await put(registry, img.payload)
    await registry.repository(OTHER).blobs.mount(img.layer, REPO)
    with pytest.raises(PathNotFoundError):
        await driver.list(paths.GC_CLAIMS)
    assert await driver.list(paths.GC_DELETING_DIGESTS) == before


async def test_with_the_guard_off_tombstones_are_ignored(driver: CheckedDriver) -> None:
    registry = Registry(driver, InMemoryDescriptorCache(), delete_enabled=True)
    img = await image(registry, REPO)
    await gp.write_tombstones(driver, "run", [img.layer, img.digest])
    assert (await put(registry, img.payload)).digest == img.digest


def test_the_registry_carries_a_guard_only_when_enabled() -> None:
    def built(gc: GarbageCollectSettings) -> Registry:
        storage = StorageSettings(inmemory=InMemorySettings(), maintenance=MaintenanceSettings(garbagecollect=gc))
        return build_registry(Settings(storage=storage), CheckedDriver(InMemoryDriver()), InMemoryDescriptorCache())

    assert built(GarbageCollectSettings()).gc_guard is None
    guard = built(GarbageCollectSettings(enabled=True, grace=timedelta(minutes=10))).gc_guard
    assert guard is not None and guard.grace == 600.0
