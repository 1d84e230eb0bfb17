"""OnlineCollector over real drivers: the offline results where nothing writes, plus grace, claims (rescues),
tombstones of dead runs (recovery), a lease lost midway (``still_allowed``), dry runs and old claims."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import test_gc

from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.gc import Kind
from registry_core.online_gc import OnlineCollector, OnlineGcReport
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver, StorageError

driver, cache, registry, push = test_gc.driver, test_gc.cache, test_gc.registry, test_gc.push  # the fixtures
REPO, Pusher, blobs_present, deleted = test_gc.REPO, test_gc.Pusher, test_gc.blobs_present, test_gc.deleted
exists, files = test_gc.exists, test_gc.files

NOW = timedelta(0)
"""A grace of nothing: everything written before the pass is old enough."""


def collector(driver: StorageDriver, **options: object) -> OnlineCollector:
    return OnlineCollector(driver, **{"grace": NOW, **options})  # type: ignore[arg-type]


async def tombstones(driver: StorageDriver) -> set[str]:
    return set((await gp.read_tombstones(driver)).paths)


async def test_an_old_orphan_goes_a_young_one_and_everything_referenced_stay(
    driver: CheckedDriver, push: Pusher
) -> None:
    image = await push.image(REPO, "a", tag="v1")
    old = await push.blob(REPO, b"old orphan")
    await asyncio.sleep(1.1)
    young = await push.blob(REPO, b"young orphan")

    report = await collector(driver, grace=timedelta(seconds=1)).run()

    assert (report.errors, report.aborted, report.stopped) == ([], False, False)
    assert deleted(report, Kind.BLOB) == deleted(report, Kind.LAYER_LINK) == {old}
    assert report.bytes_freed == len(b"old orphan")
    assert await blobs_present(driver, image.blobs | {old, young}) == image.blobs | {young}
    assert await exists(driver, paths.layer_link(REPO, young))
    assert await tombstones(driver) == set()


async def test_delete_untagged_removes_the_manifest_then_its_own_layers(driver: CheckedDriver, push: Pusher) -> None:
    shared = b"shared layer"
    tagged = await push.image(REPO, "tagged", tag="v1", layers=[shared])
    untagged = await push.image(REPO, "untagged", layers=[shared, b"untagged's own"])

    assert (await collector(driver).run()).deleted == []
    report = await collector(driver, delete_untagged=True, batch=2).run()

    assert deleted(report, Kind.MANIFEST) == {untagged.digest}
    assert deleted(report, Kind.BLOB) == untagged.blobs - tagged.blobs
    assert await blobs_present(driver, tagged.blobs | untagged.blobs) == tagged.blobs
    assert not await exists(driver, paths.manifest_revision_link(REPO, untagged.digest))


async def test_a_young_untagged_manifest_stays_with_its_layers(driver: CheckedDriver, push: Pusher) -> None:
    untagged = await push.image(REPO, "just pushed, its index comes next")
    report = await collector(driver, grace=timedelta(hours=1), delete_untagged=True).run()
    assert report.deleted == []
    assert await blobs_present(driver, untagged.blobs) == untagged.blobs


async def test_a_claim_rescues_what_it_names(driver: CheckedDriver, push: Pusher) -> None:
    claimed, unclaimed = await push.blob(REPO, b"claimed"), await push.blob(REPO, b"unclaimed")
    await gp.write_claim(driver, REPO, [claimed])

    report = await collector(driver).run()

    assert deleted(report, Kind.BLOB) == {unclaimed} and report.rescued == 1
    assert await blobs_present(driver, {claimed, unclaimed}) == {claimed}
    assert await exists(driver, paths.layer_link(REPO, claimed))
    assert await tombstones(driver) == set()


async def test_a_claim_on_an_untagged_manifest_keeps_it_and_what_it_references(
    driver: CheckedDriver, push: Pusher
) -> None:
    untagged = await push.image(REPO, "being tagged again")
    await gp.write_claim(driver, REPO, [untagged.digest], ["v2"])

    report = await collector(driver, delete_untagged=True).run()

    assert report.deleted == [] and report.rescued == 1
    assert await blobs_present(driver, untagged.blobs) == untagged.blobs


async def test_an_unreadable_claim_rescues_the_whole_batch(driver: CheckedDriver, push: Pusher) -> None:
    orphans = {await push.blob(REPO, f"orphan {i}".encode()) for i in range(3)}
    await driver.put_content(paths.gc_claim("1-broken"), b"{not json")

    report = await collector(driver).run()

    assert report.deleted == [] and report.rescued == 3  # the three layer links; their blobs are then marked
    assert await blobs_present(driver, orphans) == orphans


async def test_a_dead_runs_tombstones_are_finished(driver: CheckedDriver, push: Pusher) -> None:
    image = await push.image(REPO, "kept", tag="v1")
    garbage = await push.blob(REPO, b"confirmed garbage")
    claimed = await push.blob(REPO, b"claimed since")
    config = next(d for d in image.blobs if d != image.digest)
    await gp.write_tombstones(driver, "deadrun", [garbage, claimed, config])
    await gp.write_claim(driver, REPO, [claimed])

    report = await collector(driver).run()

    assert report.recovered == 3 and report.rescued == 1
    assert deleted(report, Kind.BLOB) == {garbage}
    assert await blobs_present(driver, image.blobs | {garbage, claimed}) == image.blobs | {claimed}
    assert await tombstones(driver) == set()


async def test_a_lost_lease_stops_the_pass_and_the_next_one_finishes(driver: CheckedDriver, push: Pusher) -> None:
    orphans = {await push.blob(REPO, f"orphan {i}".encode()) for i in range(5)}
    answers = iter([True, True, False])  # the first batch (before it, before its deletions), then no more

    async def still_allowed() -> bool:
        return next(answers, False)

    first = await collector(driver, batch=2).run(still_allowed)

    assert first.stopped and first.count(Kind.LAYER_LINK) == 2 and first.count(Kind.BLOB) == 0
    assert await blobs_present(driver, orphans) == orphans
    assert await tombstones(driver) == set()  # stopped before the second batch: nothing tombstoned

    answers = iter([True, False])  # allowed to tombstone, no longer allowed to delete
    second = await collector(driver, batch=2).run(still_allowed)
    assert second.stopped and second.deleted == []
    assert await tombstones(driver) == set(), "nothing of the batch was deleted: no writer may wait on its tombstones"

    third = await collector(driver, batch=2).run()
    assert not third.stopped and third.recovered == 0
    assert deleted(third, Kind.BLOB) == orphans and await blobs_present(driver, orphans) == set()
    assert await tombstones(driver) == set()


async def test_a_dry_run_writes_nothing(driver: CheckedDriver, push: Pusher) -> None:
    await push.image(REPO, "kept", tag="v1")
    await push.image(REPO, "untagged")
    await push.blob(REPO, b"orphan")
    await gp.write_claim(driver, REPO, [])  # old enough to be removed by a real pass
    before = await files(driver)

    dry = await collector(driver, delete_untagged=True, dry_run=True).run()

    assert await files(driver) == before
    assert dry.count(Kind.MANIFEST) == 1 and dry.count(Kind.BLOB) == 5 and dry.claims_removed == 0
    real = await collector(driver, delete_untagged=True).run()
    assert sorted(map(str, real.deleted)) == sorted(map(str, dry.deleted))


async def test_old_claims_are_removed_young_ones_stay(driver: CheckedDriver) -> None:
    old = await gp.write_claim(driver, REPO, [Digest.from_bytes(b"x")])
    await asyncio.sleep(2.1)  # S3 dates files to the second
    young = await gp.write_claim(driver, REPO, [Digest.from_bytes(b"y")])

    report = await collector(driver, grace=timedelta(seconds=2)).run()  # no deadline recorded: grace / 2 = 1 s

    assert report.claims_removed == 1
    assert [c.name for c in (await gp.read_claims(driver)).claims] == [young.name]
    assert old.name != young.name


async def test_the_descriptor_cache_forgets_and_manifests_are_parsed_once(
    driver: CheckedDriver, push: Pusher, cache: InMemoryDescriptorCache
) -> None:
    image = await push.image(REPO, "kept", tag="v1")
    orphan = await push.blob(REPO, b"orphan")
    gc = OnlineCollector(driver, cache, grace=NOW)

    first: OnlineGcReport = await gc.run()

    assert deleted(first, Kind.BLOB) == {orphan} and set(gc.parsed) == {image.digest}
    with pytest.raises(BlobUnknownError):
        await cache.stat(orphan)
    parsed = gc.parsed[image.digest]
    await gc.run()
    assert gc.parsed[image.digest] is parsed


class FailingTombstones(CheckedDriver):
    """The first tombstone write fails (a ``StorageError``, as a throttled S3 PUT); the rest is the driver."""

    def __init__(self, driver: StorageDriver) -> None:
        super().__init__(driver)
        self.failed = False

    async def put_content(self, path: str, content: bytes) -> None:
        if path.startswith(paths.GC_DELETING) and not self.failed:
            self.failed = True
            raise StorageError(path, "simulated failure", self.name)
        await super().put_content(path, content)


async def test_a_storage_error_while_tombstoning_keeps_the_batch_and_what_it_references(
    driver: CheckedDriver, push: Pusher
) -> None:
    untagged = await push.image(REPO, "untagged")
    failing = FailingTombstones(driver)

    report = await collector(failing, delete_untagged=True).run()

    assert failing.failed and report.errors and report.deleted == []
    assert await blobs_present(driver, untagged.blobs) == untagged.blobs
    assert await exists(driver, paths.manifest_revision_link(REPO, untagged.digest))
    assert await tombstones(driver) == set()


async def test_a_live_runs_tombstones_are_its_own_a_dead_runs_are_recovered(
    driver: CheckedDriver, push: Pusher
) -> None:
    mine, theirs = await push.blob(REPO, b"a live run is deleting this"), await push.blob(REPO, b"a dead run was")
    await gp.start_run(driver, "live")
    await gp.write_tombstones(driver, "live", [mine])
    await gp.write_tombstones(driver, "dead", [theirs])  # a run with no record: dead

    report = await collector(driver).run()

    assert report.recovered == 1 and theirs in deleted(report, Kind.BLOB) and mine not in deleted(report, Kind.BLOB)
    assert set((await gp.read_tombstones(driver)).digests) == {mine}, "the live run's tombstone is its own"
    assert set(await gp.read_runs(driver)) == {"live"}, "a pass removes its own record when it ends"


async def test_a_run_whose_record_is_removed_stops_before_it_deletes(driver: CheckedDriver, push: Pusher) -> None:
    orphans = {await push.blob(REPO, f"orphan {i}".encode()) for i in range(4)}
    fenced = collector(driver, batch=2)
    calls = 0

    async def fenced_after_the_first_batch() -> bool:
        nonlocal calls
        calls += 1
        if calls == 4:  # second batch, tombstoned: another pass took this one for dead and removed its record
            for run in await gp.read_runs(driver):
                await gp.end_run(driver, run)
        return True

    report = await fenced.run(fenced_after_the_first_batch)

    assert report.stopped and report.count(Kind.LAYER_LINK) == 2 and report.count(Kind.BLOB) == 0
    assert len(await tombstones(driver)) == 2, "left to the pass that fenced it"
    assert await blobs_present(driver, orphans) == orphans


async def test_claims_stay_while_a_pass_that_started_before_their_writer_finished_runs(
    driver: CheckedDriver, push: Pusher
) -> None:
    await gp.start_run(driver, "older")  # a pass that marked before the claim's writer linked anything
    await asyncio.sleep(0.01)
    await gp.write_claim(driver, REPO, [Digest.from_bytes(b"x")], deadline=0.001)
    await asyncio.sleep(0.05)

    assert (await collector(driver).run()).claims_removed == 0
    await gp.end_run(driver, "older")
    await asyncio.sleep(1.1)  # S3 dates files to the second
    assert (await collector(driver).run()).claims_removed == 1


class CountingReads(CheckedDriver):
    """Counts the reads of tags' ``current`` links."""

    def __init__(self, driver: StorageDriver) -> None:
        super().__init__(driver)
        self.tag_reads = 0

    async def get_content(self, path: str) -> bytes:
        if path.endswith("/current/link"):
            self.tag_reads += 1
        return await super().get_content(path)


async def test_a_settled_tag_is_read_once_a_moved_one_again(driver: CheckedDriver, push: Pusher) -> None:
    first = await push.image(REPO, "first", tag="v1")
    second = await push.image(REPO, "second")
    counting = CountingReads(driver)
    gc = collector(counting, delete_untagged=True)
    await asyncio.sleep(3.1)  # the tag link settles: SETTLED, plus S3's dating of files to the second

    assert (await gc.run()).deleted and counting.tag_reads == 1  # the untagged second image goes
    assert (await gc.run()).deleted == [] and counting.tag_reads == 1, "a settled tag link is not read again"

    third = await push.image(REPO, "third", tag="v1")  # the tag moves
    report = await gc.run()
    assert counting.tag_reads == 2
    assert deleted(report, Kind.MANIFEST) == {first.digest}, "the mark follows the tag to its new target"
    assert await blobs_present(driver, third.blobs) == third.blobs
    assert second.digest not in await blobs_present(driver, {second.digest})


def image_doc(config: Digest, layer: Digest) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(config), "size": 6},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": str(layer), "size": 5}],
    }


async def test_a_put_within_grace_succeeds_and_stays_one_after_the_collection_is_refused(
    driver: CheckedDriver, cache: InMemoryDescriptorCache
) -> None:
    guarded = Pusher(Registry(driver, cache, delete_enabled=True, gc_grace=0.2))  # claims done in 0.1 s
    config, layer = await guarded.blob(REPO, b"config"), await guarded.blob(REPO, b"layer")

    assert (await collector(driver, grace=timedelta(hours=1)).run()).deleted == []  # within grace: kept
    kept = await guarded.manifest(REPO, image_doc(config, layer), "v1", {})
    assert (await collector(driver).run()).deleted == []  # referenced now
    assert await blobs_present(driver, {kept.digest, config, layer}) == {kept.digest, config, layer}

    late_config, late_layer = await guarded.blob(REPO, b"late c"), await guarded.blob(REPO, b"late l")
    await asyncio.sleep(1.1)  # the commits' claims are done (S3 dates files to the second)
    rescued = await collector(driver).run()  # their claims still name them: kept, and the claims then removed
    assert rescued.rescued and rescued.claims_removed
    gone = await collector(driver).run()  # no grace: collected before their manifest comes
    assert {late_config, late_layer} <= deleted(gone, Kind.BLOB)
    with pytest.raises(RegistryError) as refused:
        await guarded.manifest(REPO, image_doc(late_config, late_layer), "v2", {})
    assert refused.value.code is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert not await exists(driver, paths.tag_current_link(REPO, "v2")), "never a tag naming what is gone"
