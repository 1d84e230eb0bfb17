"""collect_garbage over real drivers, with content pushed through the real stores: what no manifest (or, with
``delete_untagged``, no tag) reaches goes with its links; everything else stays readable; dry runs change nothing;
a failing delete is reported and the rest swept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.gc import GcReport, Kind, collect_garbage
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.reference import Reference
from registry_core.manifests.store import ManifestStore
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageDriver, StorageError

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
SBOM_TYPE = "application/spdx+json"
REPO = "library/app"


@pytest.fixture(params=["inmemory", "filesystem", pytest.param("s3", marks=pytest.mark.s3)])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[CheckedDriver]:
    checked = CheckedDriver(request.getfixturevalue(f"{request.param}_driver"))
    yield checked
    await checked.aclose()


@pytest.fixture
def cache() -> InMemoryDescriptorCache:
    return InMemoryDescriptorCache()


@pytest.fixture
def registry(driver: CheckedDriver, cache: InMemoryDescriptorCache) -> Registry:
    return Registry(driver, cache, delete_enabled=True)


@pytest.fixture
def push(registry: Registry) -> Pusher:
    return Pusher(registry)


# -- building content through the stores ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Pushed:
    """A pushed manifest: its digest, and the size of every blob it brought (itself, config, layers)."""

    digest: Digest
    sizes: dict[Digest, int]

    @property
    def blobs(self) -> set[Digest]:
        return set(self.sizes)

    def descriptor(self, media_type: str = mt.OCI_MANIFEST) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": str(self.digest), "size": self.sizes[self.digest]}


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Pusher:
    """Pushes blobs (upload sessions) and manifests (the manifest store) as a client would."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def manifests(self, name: str) -> ManifestStore:
        return ManifestStore.of(self.registry.repository(name))

    async def blob(self, name: str, data: bytes) -> Digest:
        upload = await self.registry.repository(name).uploads.create()
        return (await upload.commit(Digest.from_bytes(data), _once(data))).digest

    async def image(
        self,
        name: str,
        seed: str,
        *,
        tag: str | None = None,
        layers: Sequence[bytes] | None = None,
        subject: Pushed | None = None,
    ) -> Pushed:
        """An image manifest with a config and ``layers`` (default: two of its own)."""
        config = json.dumps({"seed": seed}).encode()
        contents = [config, *(layers if layers is not None else [f"{seed}-layer-{i}".encode() for i in range(2)])]
        sizes = {await self.blob(name, data): len(data) for data in contents}
        descriptors = [{"mediaType": LAYER_TYPE, "digest": str(d), "size": s} for d, s in sizes.items()]
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {**descriptors[0], "mediaType": SBOM_TYPE if subject else CONFIG_TYPE},
            "layers": descriptors[1:],
        }
        if subject is not None:
            doc["subject"] = subject.descriptor()
        return await self.manifest(name, doc, tag, sizes)

    async def index(self, name: str, children: Sequence[Pushed], *, tag: str | None = None) -> Pushed:
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [c.descriptor() for c in children]}
        return await self.manifest(name, doc, tag, {})

    async def manifest(self, name: str, doc: dict[str, Any], tag: str | None, sizes: dict[Digest, int]) -> Pushed:
        payload = json.dumps(doc, indent=2).encode()
        reference: Reference = tag if tag is not None else Digest.from_bytes(payload)
        digest = (await self.manifests(name).put(payload, doc["mediaType"], reference)).digest
        return Pushed(digest, {digest: len(payload), **sizes})


# -- looking at storage ----------------------------------------------------------------------------------------------
async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFoundError:
        return False
    return True


async def blobs_present(driver: StorageDriver, digests: set[Digest]) -> set[Digest]:
    return {d for d in digests if await exists(driver, paths.blob_data(d))}


async def files(driver: StorageDriver) -> dict[str, int]:
    """Every file in storage with its size."""
    try:
        return {info.path: info.size async for info in driver.walk(paths.ROOT) if not info.is_dir}
    except PathNotFoundError:
        return {}


def deleted(report: GcReport, kind: Kind) -> set[Digest]:
    return {d.digest for d in report.deleted if d.kind is kind}


async def assert_pulls(push: Pusher, name: str, image: Pushed, reference: Reference | None = None) -> None:
    """The manifest resolves and reads back, and every blob it brought is linked and readable in full."""
    stored = await push.manifests(name).get(reference or image.digest)
    assert stored.digest == image.digest
    for digest, size in image.sizes.items():
        if digest != image.digest:
            descriptor = await push.registry.repository(name).blobs.stat(digest)
            assert descriptor.size == size
            assert len(await push.registry.repository(name).blobs.get(digest)) == size


# -- tests -------------------------------------------------------------------------------------------------------------
async def test_an_orphan_blob_and_its_link_are_removed(driver: CheckedDriver, push: Pusher) -> None:
    image = await push.image(REPO, "a", tag="v1")
    orphan = await push.blob(REPO, b"uploaded, never referenced")

    report = await collect_garbage(driver)

    assert (report.errors, report.aborted) == ([], False)
    assert deleted(report, Kind.BLOB) == deleted(report, Kind.LAYER_LINK) == {orphan}
    assert report.bytes_freed == len(b"uploaded, never referenced")
    assert not await exists(driver, paths.blob_dir(orphan))
    assert not await exists(driver, paths.layer_link(REPO, orphan))
    assert await blobs_present(driver, image.blobs) == image.blobs
    await assert_pulls(push, REPO, image, "v1")
    assert (report.repositories, report.manifests, report.marked) == (1, 1, len(image.blobs))


async def test_nested_repositories_and_ones_with_layers_only_are_swept(driver: CheckedDriver, push: Pusher) -> None:
    names = ["a", "a/b", "a/b/c", "z-last"]
    orphans = {name: await push.blob(name, f"orphan of {name}".encode()) for name in names}
    kept = await push.image("a/b", "kept", tag="v1")

    report = await collect_garbage(driver)

    assert report.repositories == len(names)
    assert {(d.repository, d.digest) for d in report.deleted if d.kind is Kind.LAYER_LINK} == set(orphans.items())
    assert await blobs_present(driver, set(orphans.values()) | kept.blobs) == kept.blobs


async def test_the_layers_of_a_deleted_manifest_go_shared_ones_stay(driver: CheckedDriver, push: Pusher) -> None:
    shared = b"base layer"
    kept = await push.image(REPO, "kept", tag="v1", layers=[shared, b"kept's own"])
    gone = await push.image("other/repo", "gone", tag="v1", layers=[shared, b"gone's own 1", b"gone's own 2"])
    await push.manifests("other/repo").delete(gone.digest)

    report = await collect_garbage(driver)

    exclusive = gone.blobs - kept.blobs
    assert deleted(report, Kind.BLOB) == exclusive and len(exclusive) == 4  # manifest, config, two layers
    assert report.bytes_freed == sum(gone.sizes[d] for d in exclusive)
    assert deleted(report, Kind.LAYER_LINK) == exclusive - {gone.digest}  # manifests are not linked as layers
    assert deleted(report, Kind.MANIFEST) == set()
    assert await blobs_present(driver, gone.blobs) == {Digest.from_bytes(shared)}
    assert await exists(driver, paths.layer_link("other/repo", Digest.from_bytes(shared)))  # still referenced
    await assert_pulls(push, REPO, kept, "v1")


@pytest.mark.parametrize("delete_untagged", [False, True])
async def test_everything_a_tag_reaches_is_kept(driver: CheckedDriver, push: Pusher, delete_untagged: bool) -> None:
    amd64, arm64 = await push.image(REPO, "amd64"), await push.image(REPO, "arm64")
    index = await push.index(REPO, [amd64, arm64], tag="multi")
    signature = await push.image(REPO, "signature", subject=index)  # an untagged referrer of a tagged index
    child_sbom = await push.image(REPO, "child-sbom", subject=arm64)  # of an untagged child of a tagged index
    untagged_subject = await push.image(REPO, "subject")
    tagged_referrer = await push.image(REPO, "tagged-sbom", subject=untagged_subject, tag="sbom")
    its_sibling = await push.image(REPO, "sibling", subject=untagged_subject)  # the kept subject keeps it
    everything = [amd64, arm64, index, signature, child_sbom, untagged_subject, tagged_referrer, its_sibling]

    report = await collect_garbage(driver, delete_untagged=delete_untagged)

    assert (report.deleted, report.errors, report.warnings) == ([], [], [])
    for image in everything:
        await assert_pulls(push, REPO, image)
    assert {r["digest"] for r in await push.manifests(REPO).referrers.list(untagged_subject.digest)} == {
        str(tagged_referrer.digest),
        str(its_sibling.digest),
    }
    assert report.marked == len(set().union(*(i.blobs for i in everything)))


async def test_delete_untagged_removes_untagged_manifests_and_their_exclusive_blobs(
    driver: CheckedDriver, push: Pusher
) -> None:
    shared = b"shared layer"
    tagged = await push.image(REPO, "tagged", layers=[shared])
    untagged = await push.image(REPO, "untagged", tag="latest", layers=[shared, b"untagged's own"])
    await push.manifests(REPO).tags.tag("latest", tagged.digest)  # the tag moves on; its history keeps both
    referrer = await push.image(REPO, "its-signature", subject=untagged)
    child = await push.image(REPO, "child")
    untagged_index = await push.index(REPO, [child])
    doomed = [untagged, referrer, child, untagged_index]

    assert (await collect_garbage(driver)).deleted == []  # without the flag every manifest stays
    report = await collect_garbage(driver, delete_untagged=True)

    assert report.errors == []
    assert deleted(report, Kind.MANIFEST) == {m.digest for m in doomed}
    garbage = set().union(*(m.blobs for m in doomed)) - tagged.blobs
    assert deleted(report, Kind.BLOB) == garbage
    assert report.bytes_freed == sum(size for m in doomed for d, size in m.sizes.items() if d in garbage)
    assert await blobs_present(driver, garbage | tagged.blobs) == tagged.blobs
    for manifest in doomed:
        assert not await exists(driver, paths.manifest_revision_link(REPO, manifest.digest))
    assert not await exists(driver, paths.tag_index_link(REPO, "latest", untagged.digest))
    assert await exists(driver, paths.tag_index_link(REPO, "latest", tagged.digest))
    assert await push.manifests(REPO).referrers.list(untagged.digest) == []
    await assert_pulls(push, REPO, tagged, "latest")


async def test_a_dry_run_removes_nothing_and_reports_what_a_run_removes(driver: CheckedDriver, push: Pusher) -> None:
    await push.image(REPO, "kept", tag="v1")
    await push.image(REPO, "untagged")
    await push.blob(REPO, b"orphan")
    deleted_by_api = await push.image(REPO, "deleted", tag="v2")
    await push.manifests(REPO).delete(deleted_by_api.digest)
    before = await files(driver)
    seen = []

    dry = await collect_garbage(driver, delete_untagged=True, dry_run=True, on_delete=seen.append)

    assert await files(driver) == before
    assert dry.dry_run and seen == dry.deleted and dry.count(Kind.BLOB) == 9 and dry.count(Kind.MANIFEST) == 1
    real = await collect_garbage(driver, delete_untagged=True)
    assert sorted(map(str, real.deleted)) == sorted(map(str, dry.deleted))
    assert real.bytes_freed == dry.bytes_freed == sum(before[paths.blob_data(d)] for d in deleted(dry, Kind.BLOB))


async def test_the_descriptor_cache_forgets_what_is_deleted(
    driver: CheckedDriver, push: Pusher, cache: InMemoryDescriptorCache
) -> None:
    image = await push.image(REPO, "kept", tag="v1")
    orphan = await push.blob(REPO, b"orphan")  # uploading cached it, globally and in the repository
    untagged = await push.image(REPO, "untagged")
    await cache.repository(REPO).set_descriptor(untagged.digest, Descriptor(untagged.digest, 1))
    assert await cache.repository(REPO).stat(orphan) == await cache.stat(orphan)

    await collect_garbage(driver, delete_untagged=True, descriptors=cache)

    for digest in untagged.blobs | {orphan}:
        with pytest.raises(BlobUnknownError):
            await cache.stat(digest)
        with pytest.raises(BlobUnknownError):
            await cache.repository(REPO).stat(digest)
    layer = next(d for d in image.blobs if d != image.digest)
    assert (await cache.repository(REPO).stat(layer)).size == image.sizes[layer]


class FailingDeletes(CheckedDriver):
    """Deletes fail (a ``StorageError``) where ``fails(path)``; everything else is the wrapped driver."""

    def __init__(self, driver: StorageDriver, fails: Callable[[str], bool]) -> None:
        super().__init__(driver)
        self.fails = fails

    async def delete(self, path: str) -> None:
        if self.fails(path):
            raise StorageError(path, "simulated failure", self.name)
        await super().delete(path)


async def test_a_storage_error_on_one_blob_is_reported_and_the_rest_swept(driver: CheckedDriver, push: Pusher) -> None:
    orphans = [await push.blob(REPO, f"orphan {i}".encode()) for i in range(3)]
    stuck = orphans[1]

    report = await collect_garbage(FailingDeletes(driver, lambda p: p == paths.blob_dir(stuck)))

    assert len(report.errors) == 1 and str(stuck) in report.errors[0] and "simulated failure" in report.errors[0]
    assert deleted(report, Kind.BLOB) == {orphans[0], orphans[2]}
    assert await blobs_present(driver, set(orphans)) == {stuck}
    assert deleted(report, Kind.LAYER_LINK) == set(orphans)  # links go first: no link is left to a missing blob


async def test_a_layer_link_that_cannot_be_removed_keeps_its_blob(driver: CheckedDriver, push: Pusher) -> None:
    orphan = await push.blob(REPO, b"orphan")

    report = await collect_garbage(FailingDeletes(driver, lambda p: p.startswith(paths.layers(REPO))))

    assert len(report.errors) == 1 and deleted(report, Kind.BLOB) == set()
    assert await exists(driver, paths.layer_link(REPO, orphan)) and await blobs_present(driver, {orphan}) == {orphan}


async def test_a_manifest_that_cannot_be_removed_keeps_what_it_names(driver: CheckedDriver, push: Pusher) -> None:
    child = await push.image(REPO, "child")
    index = await push.index(REPO, [child])
    stuck = paths.manifest_revision_link(REPO, index.digest).rsplit("/", 1)[0]

    report = await collect_garbage(FailingDeletes(driver, lambda p: p == stuck), delete_untagged=True)

    assert len(report.errors) == 1 and report.deleted == []
    await assert_pulls(push, REPO, index)
    await assert_pulls(push, REPO, child)


async def test_a_manifest_that_does_not_parse_aborts_before_anything_is_deleted(
    driver: CheckedDriver, push: Pusher
) -> None:
    orphan = await push.blob(REPO, b"orphan")
    schema1 = json.dumps({"schemaVersion": 1, "name": REPO, "fsLayers": []}).encode()
    digest = Digest.from_bytes(schema1)
    await driver.put_content(paths.blob_data(digest), schema1)  # as an old Go registry stored it
    await driver.put_content(paths.manifest_revision_link(REPO, digest), str(digest).encode())

    report = await collect_garbage(driver)

    assert report.aborted and report.deleted == []
    assert len(report.errors) == 1 and f"{REPO}@{digest}" in report.errors[0]
    assert await blobs_present(driver, {orphan}) == {orphan}


async def test_a_revision_without_its_blob_is_a_warning(driver: CheckedDriver, push: Pusher) -> None:
    image = await push.image(REPO, "a", tag="v1")
    missing = Digest.from_bytes(b"a manifest whose blob is gone")
    await driver.put_content(paths.manifest_revision_link(REPO, missing), str(missing).encode())

    report = await collect_garbage(driver)

    assert (report.errors, report.deleted) == ([], [])
    assert len(report.warnings) == 1 and str(missing) in report.warnings[0]
    await assert_pulls(push, REPO, image, "v1")


async def test_an_empty_registry_has_nothing_to_collect(driver: CheckedDriver) -> None:
    report = await collect_garbage(driver, delete_untagged=True)
    assert report == GcReport()
