"""Retention rules applied by the online pass, over real drivers: the tags a rule removes go first (tombstoned,
checked against the claims), then the manifests only they kept and what only those referenced; a claim naming a
tag keeps it and everything of its repository; a repository no rule covers keeps to ``delete_untagged``; a dry run
changes nothing and lists the plan.

Push times are set by backdating the links (``os.utime`` on the filesystem, the file's time in memory): the tests
need no sleeps, and the S3 driver (whose times cannot be set) is skipped.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import test_gc

from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.config.storage import RetentionRule
from registry_core.digest import Digest
from registry_core.gc import Deletion, Kind
from registry_core.online_gc import OnlineCollector, OnlineGcReport
from registry_core.storage.base import CheckedDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.storage.inmemory import InMemoryDriver

driver, cache, registry, push = test_gc.driver, test_gc.cache, test_gc.registry, test_gc.push  # the fixtures
REPO, Pusher, Pushed, blobs_present, deleted = (
    test_gc.REPO,
    test_gc.Pusher,
    test_gc.Pushed,
    test_gc.blobs_present,
    test_gc.deleted,
)
exists, files, assert_pulls = test_gc.exists, test_gc.files, test_gc.assert_pulls

OTHER = "other/app"
HOUR = timedelta(hours=1)
RULE = RetentionRule(repositories=[REPO], keepnewest=1, untaggedolderthan=HOUR)


def backdate(driver: CheckedDriver, path: str, age: timedelta) -> None:
    """Make the file at ``path`` look written ``age`` ago (skips the test on a driver that cannot)."""
    inner = driver.driver
    if isinstance(inner, InMemoryDriver):
        inner._files[path].modified -= age
    elif not isinstance(inner, FilesystemDriver):
        pytest.skip("the test backdates links, which this driver cannot do")
    else:
        full = inner.root + path
        when = os.stat(full).st_mtime - age.total_seconds()
        os.utime(full, (when, when))


async def tagged(driver: CheckedDriver, push: Pusher, name: str, tag: str, hours: float, **kw: object) -> Pushed:
    """An image pushed as ``name:tag`` ``hours`` ago (its tag link and its revision link)."""
    image = await push.image(name, f"{name}:{tag}", tag=tag, **kw)  # type: ignore[arg-type]
    backdate(driver, paths.tag_current_link(name, tag), timedelta(hours=hours))
    backdate(driver, paths.manifest_revision_link(name, image.digest), timedelta(hours=hours))
    return image


def collector(driver: CheckedDriver, *rules: RetentionRule, **options: object) -> OnlineCollector:
    options = {"grace": timedelta(0), "retention": rules or [RULE], **options}
    return OnlineCollector(driver, **options)  # type: ignore[arg-type]


def tags_deleted(report: OnlineGcReport) -> set[tuple[str | None, str | None]]:
    return {(d.repository, d.tag) for d in report.deleted if d.kind is Kind.TAG}


async def tags_of(driver: CheckedDriver, name: str) -> set[str]:
    return {path.rsplit("/", 1)[1] for path in await driver.list(paths.tags(name))}


async def test_keepnewest_removes_the_older_tags_their_manifests_and_their_own_layers(
    driver: CheckedDriver, push: Pusher
) -> None:
    base = b"shared base layer"
    v1 = await tagged(driver, push, REPO, "v1", 3, layers=[base, b"v1's own"])
    v2 = await tagged(driver, push, REPO, "v2", 2, layers=[base, b"v2's own"])
    v3 = await tagged(driver, push, REPO, "v3", 1.5, layers=[base, b"v3's own"])
    other = await tagged(driver, push, OTHER, "old", 5)
    other_untagged = await push.image(OTHER, "untagged and old")
    backdate(driver, paths.manifest_revision_link(OTHER, other_untagged.digest), 5 * HOUR)

    report = await collector(driver).run()

    assert (report.errors, report.aborted, report.stopped) == ([], False, False)
    assert tags_deleted(report) == {(REPO, "v1"), (REPO, "v2")}
    assert await tags_of(driver, REPO) == {"v3"}
    assert deleted(report, Kind.MANIFEST) == {v1.digest, v2.digest}
    assert deleted(report, Kind.BLOB) == (v1.blobs | v2.blobs) - v3.blobs
    assert await blobs_present(driver, v1.blobs | v2.blobs | v3.blobs) == v3.blobs
    await assert_pulls(push, REPO, v3, "v3")
    # no rule covers OTHER, and without delete_untagged everything there stays
    assert {d.repository for d in report.deleted if d.kind is not Kind.BLOB} == {REPO}
    await assert_pulls(push, OTHER, other, "old")
    await assert_pulls(push, OTHER, other_untagged)
    assert (report.retention.tag_count, report.retention.manifest_count) == (2, 2)
    assert await gp.read_tombstones(driver) == gp.Tombstones()


async def test_keeptags_protect_an_old_tag_and_without_untaggedolderthan_manifests_stay(
    driver: CheckedDriver, push: Pusher
) -> None:
    release = await tagged(driver, push, REPO, "release-1", 9)
    old = await tagged(driver, push, REPO, "v1", 3)
    await tagged(driver, push, REPO, "v2", 2)
    rule = RetentionRule(repositories=["library/*"], keeptags=["release-*"], keepnewest=1)

    report = await collector(driver, rule).run()

    assert tags_deleted(report) == {(REPO, "v1")}
    assert await tags_of(driver, REPO) == {"release-1", "v2"}
    assert [d.kind for d in report.deleted] == [Kind.TAG]  # v1's manifest stays, untagged: no untaggedolderthan
    await assert_pulls(push, REPO, old)
    await assert_pulls(push, REPO, release, "release-1")


async def test_a_rule_replaces_delete_untagged_where_it_applies_only(driver: CheckedDriver, push: Pusher) -> None:
    kept = await push.image(REPO, "untagged, but the rule keeps untagged manifests")
    gone = await push.image(OTHER, "untagged, no rule here")
    rule = RetentionRule(repositories=[REPO], keepnewest=5)

    report = await collector(driver, rule, delete_untagged=True).run()

    assert deleted(report, Kind.MANIFEST) == {gone.digest}
    await assert_pulls(push, REPO, kept)


async def test_a_claim_naming_a_tag_rescues_it_and_everything_of_its_repository(
    driver: CheckedDriver, push: Pusher
) -> None:
    v1 = await tagged(driver, push, REPO, "v1", 3)
    v2 = await tagged(driver, push, REPO, "v2", 2)
    untagged = await push.image(REPO, "untagged and old")
    backdate(driver, paths.manifest_revision_link(REPO, untagged.digest), 5 * HOUR)
    orphan = await push.blob(OTHER, b"an orphan elsewhere")
    await gp.write_claim(driver, REPO, [], tags=["v1"])  # a writer about to push v1 again

    report = await collector(driver).run()

    assert report.rescued == 1 and report.retention.tag_count == 1
    assert {d.repository for d in report.deleted if d.kind is not Kind.BLOB} == {OTHER} and deleted(
        report, Kind.BLOB
    ) == {orphan}
    assert await tags_of(driver, REPO) == {"v1", "v2"}
    for image in (v1, v2, untagged):
        await assert_pulls(push, REPO, image)
    assert await gp.read_tombstones(driver) == gp.Tombstones()


async def test_a_claim_on_a_tag_of_another_repository_rescues_nothing(driver: CheckedDriver, push: Pusher) -> None:
    await tagged(driver, push, REPO, "v1", 3)
    await tagged(driver, push, REPO, "v2", 2)
    await gp.write_claim(driver, OTHER, [], tags=["v1"])

    report = await collector(driver).run()

    assert tags_deleted(report) == {(REPO, "v1")} and report.rescued == 0


async def test_a_signature_follows_its_subject(driver: CheckedDriver, push: Pusher) -> None:
    v1 = await tagged(driver, push, REPO, "v1", 3)
    v2 = await tagged(driver, push, REPO, "v2", 2)
    old_signature = await push.image(REPO, "signature of v1", subject=v1)
    new_signature = await push.image(REPO, "signature of v2", subject=v2)
    for signature in (old_signature, new_signature):  # both old: each lives by its subject
        backdate(driver, paths.manifest_revision_link(REPO, signature.digest), 4 * HOUR)

    report = await collector(driver).run()

    assert deleted(report, Kind.MANIFEST) == {v1.digest, old_signature.digest}
    await assert_pulls(push, REPO, new_signature)
    await assert_pulls(push, REPO, v2, "v2")
    assert not await exists(driver, paths.referrer_link(REPO, v1.digest, old_signature.digest))


async def test_grace_keeps_a_young_manifest_whose_tag_goes(driver: CheckedDriver, push: Pusher) -> None:
    await tagged(driver, push, REPO, "v1", 3)
    young = await push.image(REPO, "v1 again, just pushed", tag="v0")
    backdate(driver, paths.tag_current_link(REPO, "v0"), 5 * HOUR)  # an old tag on a young revision
    rule = RetentionRule(repositories=[REPO], keepnewest=1, untaggedolderthan=timedelta(0))

    report = await collector(driver, rule, grace=HOUR).run()

    assert tags_deleted(report) == {(REPO, "v0")}
    assert deleted(report, Kind.MANIFEST) == set()  # planned by the rule, kept by grace
    assert young.digest in {m.digest for plan in report.retention.repositories for m in plan.manifests}
    await assert_pulls(push, REPO, young)


async def test_a_dry_run_deletes_nothing_and_lists_the_plan(driver: CheckedDriver, push: Pusher) -> None:
    v1 = await tagged(driver, push, REPO, "v1", 3)
    await tagged(driver, push, REPO, "v2", 2)
    before = await files(driver)

    dry = await collector(driver, dry_run=True).run()

    assert await files(driver) == before
    assert tags_deleted(dry) == {(REPO, "v1")} and deleted(dry, Kind.MANIFEST) == {v1.digest}
    lines = dry.retention.lines()
    assert len(lines) == 2
    assert lines[0].startswith(f"would delete tag {REPO}:v1 (pushed ")
    assert lines[1].startswith(f"would delete manifest {REPO}@{v1.digest} (untagged, last pushed ")
    real = await collector(driver).run()
    assert sorted(map(str, real.deleted)) == sorted(map(str, dry.deleted))


async def test_a_dead_runs_tag_tombstones_are_removed_after_the_pass(driver: CheckedDriver, push: Pusher) -> None:
    image = await tagged(driver, push, REPO, "v1", 3)
    await gp.write_tombstones(driver, "deadrun", tags=[(REPO, "v1"), (OTHER, "gone")])

    report = await collector(driver).run()

    assert report.recovered == 2 and report.deleted == []
    assert await gp.read_tombstones(driver) == gp.Tombstones()
    await assert_pulls(push, REPO, image, "v1")


async def test_tags_are_tombstoned_in_batches(driver: CheckedDriver, push: Pusher) -> None:
    for i in range(5):
        await tagged(driver, push, REPO, f"v{i}", 10 - i, layers=[b"one layer"])
    seen: list[int] = []
    real_write = gp.write_tombstones

    async def counting(driver: object, run: str, digests: object = (), tags: list[tuple[str, str]] = ()) -> list[str]:
        seen.append(len(tags))
        return await real_write(driver, run, digests, tags)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gp, "write_tombstones", counting)
        report = await collector(driver, batch=2).run()

    assert tags_deleted(report) == {(REPO, f"v{i}") for i in range(4)}
    assert seen[:3] == [2, 2, 0]  # two batches of tags, then the manifests
    assert await tags_of(driver, REPO) == {"v4"}


def test_deletion_names_the_tag() -> None:
    digest = Digest.from_bytes(b"x")
    assert str(Deletion(Kind.TAG, digest, REPO, tag="v1")) == f"tag {REPO}:v1 ({digest})"
