"""Upload sessions: streaming appends, offsets, commit with verification, cancel, and the live hasher table."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import (
    BlobUnknownError,
    BlobUploadOffsetError,
    BlobUploadUnknownError,
    DigestMismatchError,
)
from registry_core.blobs.writer import UploadHashers
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.registry import Registry, Repository
from registry_core.storage.base import CheckedDriver

if TYPE_CHECKING:
    from conftest import Files

PART1 = b"a" * 300_000
PART2 = bytes(range(256)) * 1000
CONTENT = PART1 + PART2
DIGEST = Digest.from_bytes(CONTENT)


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    """A request body arriving in ``parts``."""
    for part in parts:
        yield part


def second_process(driver: CheckedDriver) -> Registry:
    """Another replica (or this one after a restart): same storage, its own process-local tables."""
    return Registry(driver, InMemoryDescriptorCache())


async def test_create_writes_startedat_and_nothing_visible(
    repo: Repository, driver: CheckedDriver, files: Files
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    upload = await repo.uploads.create()

    assert await files.under("/") == [paths.upload_started_at("library/ubuntu", upload.id)]
    text = (await driver.get_content(paths.upload_started_at("library/ubuntu", upload.id))).decode()
    assert text.endswith("Z") and "." not in text  # RFC 3339 as Go writes it: 2015-04-16T10:57:34Z
    started = datetime.fromisoformat(text)
    assert before <= started <= datetime.now(UTC)
    assert upload.started_at == started
    assert await upload.size() == 0


async def test_resume_finds_the_upload_of_its_repository_only(registry: Registry) -> None:
    upload = await registry.repository("a").uploads.create()
    assert (await registry.repository("a").uploads.resume(upload.id)).id == upload.id
    with pytest.raises(BlobUploadUnknownError):
        await registry.repository("b").uploads.resume(upload.id)


@pytest.mark.parametrize("upload_id", ["", "nope", "../../a", "7D6E3F4C-0000-4000-8000-000000000001", "a" * 36])
async def test_resume_of_a_malformed_or_unknown_id(repo: Repository, upload_id: str) -> None:
    with pytest.raises(BlobUploadUnknownError) as info:
        await repo.uploads.resume(upload_id)
    assert info.value.body()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


async def test_resume_of_a_well_formed_unknown_id(repo: Repository) -> None:
    with pytest.raises(BlobUploadUnknownError):
        await repo.uploads.resume("7d6e3f4c-0000-4000-8000-000000000001")


async def test_append_streams_into_the_upload_data_only(repo: Repository, driver: CheckedDriver, files: Files) -> None:
    upload = await repo.uploads.create()

    assert await upload.append(stream(PART1[:1000], PART1[1000:])) == len(PART1)
    assert await upload.append(stream(PART2), start=len(PART1)) == len(CONTENT)

    assert await upload.size() == len(CONTENT)
    assert await driver.get_content(paths.upload_data("library/ubuntu", upload.id)) == CONTENT
    assert await files.under(paths.BLOBS) == []  # no partial blob
    assert await files.under(paths.layers("library/ubuntu")) == []
    with pytest.raises(BlobUnknownError):
        await repo.blobs.stat(DIGEST)


async def test_a_chunk_not_at_the_end_is_refused(repo: Repository) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))

    for start in (0, len(PART1) - 1, len(PART1) + 1):
        with pytest.raises(BlobUploadOffsetError) as info:
            await upload.append(stream(PART2), start=start)
        assert info.value.status == 416
        assert info.value.offset == len(PART1)
        assert info.value.headers == {"Range": f"0-{len(PART1) - 1}"}
    assert await upload.size() == len(PART1)


async def test_an_empty_upload_reports_range_0_0(repo: Repository) -> None:
    upload = await repo.uploads.create()
    with pytest.raises(BlobUploadOffsetError) as info:
        await upload.append(stream(b"x"), start=1)
    assert info.value.headers == {"Range": "0-0"}


async def test_commit_publishes_links_caches_and_cleans_up(
    registry: Registry, repo: Repository, driver: CheckedDriver, files: Files
) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))

    descriptor = await upload.commit(DIGEST, stream(PART2), start=len(PART1))

    assert descriptor == Descriptor(DIGEST, len(CONTENT))
    assert await files.under("/") == [paths.blob_data(DIGEST), paths.layer_link("library/ubuntu", DIGEST)]
    assert await driver.get_content(paths.blob_data(DIGEST)) == CONTENT
    assert await driver.get_content(paths.layer_link("library/ubuntu", DIGEST)) == str(DIGEST).encode()
    assert await registry.descriptors.repository("library/ubuntu").stat(DIGEST) == descriptor
    assert await repo.blobs.stat(DIGEST) == descriptor
    with pytest.raises(BlobUploadUnknownError):
        await repo.uploads.resume(upload.id)
    assert len(registry.upload_hashers) == 0


async def test_monolithic_commit(repo: Repository) -> None:
    upload = await repo.uploads.create()
    assert (await upload.commit(DIGEST, stream(CONTENT))).size == len(CONTENT)
    assert await repo.blobs.get(DIGEST) == CONTENT


async def test_commit_of_an_empty_upload(repo: Repository) -> None:
    empty = Digest.from_bytes(b"")
    upload = await repo.uploads.create()
    assert await upload.commit(empty) == Descriptor(empty, 0)
    assert await repo.blobs.get(empty) == b""


async def test_commit_with_a_wrong_start_keeps_the_upload(repo: Repository) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))
    with pytest.raises(BlobUploadOffsetError):
        await upload.commit(DIGEST, stream(PART2), start=0)
    assert await (await repo.uploads.resume(upload.id)).size() == len(PART1)


async def test_digest_mismatch_leaves_no_blob_no_link_no_upload(
    registry: Registry, repo: Repository, files: Files
) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))
    wrong = Digest.from_bytes(b"something else")

    with pytest.raises(DigestMismatchError) as info:
        await upload.commit(wrong, stream(PART2))

    assert info.value.actual == DIGEST
    assert info.value.body()["errors"][0]["code"] == "DIGEST_INVALID"
    assert await files.under("/") == []
    with pytest.raises(BlobUploadUnknownError):
        await repo.uploads.resume(upload.id)
    assert len(registry.upload_hashers) == 0


async def test_sha512_digests_are_verified_and_addressed(repo: Repository, driver: CheckedDriver) -> None:
    sha512 = Digest("sha512", hashlib.sha512(CONTENT).hexdigest())
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))

    assert await upload.commit(sha512, stream(PART2)) == Descriptor(sha512, len(CONTENT))
    assert await driver.get_content(paths.blob_data(sha512)) == CONTENT
    assert (await repo.blobs.stat(sha512)).size == len(CONTENT)


async def test_concurrent_commits_of_the_same_content_all_succeed(
    registry: Registry, driver: CheckedDriver, files: Files
) -> None:
    uploads = []
    for name in ("a", "b", "a", "c"):
        upload = await registry.repository(name).uploads.create()
        await upload.append(stream(PART1))
        uploads.append(upload)

    results = await asyncio.gather(*(u.commit(DIGEST, stream(PART2[:1000], PART2[1000:])) for u in uploads))

    assert all(r == Descriptor(DIGEST, len(CONTENT)) for r in results)
    assert await files.under(paths.BLOBS) == [paths.blob_data(DIGEST)]
    assert await driver.get_content(paths.blob_data(DIGEST)) == CONTENT
    for name in ("a", "b", "c"):
        assert await registry.repository(name).blobs.get(DIGEST) == CONTENT
        assert await files.under(paths.uploads(name)) == []


async def test_commit_of_content_already_stored_keeps_the_blob(repo: Repository, files: Files) -> None:
    await repo.registry.blob_store.put(CONTENT)
    upload = await repo.uploads.create()
    assert await upload.commit(DIGEST, stream(CONTENT)) == Descriptor(DIGEST, len(CONTENT))
    assert await files.under("/") == [paths.blob_data(DIGEST), paths.layer_link("library/ubuntu", DIGEST)]


async def test_commit_uses_the_live_hasher_without_reading_back(repo: Repository, driver: CheckedDriver) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))
    data = paths.upload_data("library/ubuntu", upload.id)
    # Same size, other bytes: had commit read the data back, the digest below would not match.
    await driver.put_content(data, b"b" * len(PART1))

    assert (await upload.commit(Digest.from_bytes(PART1))).size == len(PART1)


async def test_a_second_process_rebuilds_the_digest_from_storage(driver: CheckedDriver) -> None:
    first, second = Registry(driver, InMemoryDescriptorCache()), second_process(driver)
    upload = await first.repository("a").uploads.create()
    await upload.append(stream(PART1))

    other = await second.repository("a").uploads.resume(upload.id)
    await other.append(stream(PART2[:5000]), start=len(PART1))  # a PATCH that reached another replica

    again = await first.repository("a").uploads.resume(upload.id)
    await again.append(stream(PART2[5000:]), start=len(PART1) + 5000)  # the first hasher is now stale
    assert await again.commit(DIGEST) == Descriptor(DIGEST, len(CONTENT))
    assert await first.repository("a").blobs.get(DIGEST) == CONTENT


async def test_a_restarted_process_commits_an_upload_it_never_saw(driver: CheckedDriver) -> None:
    upload = await Registry(driver, InMemoryDescriptorCache()).repository("a").uploads.create()
    await upload.append(stream(PART1))
    await upload.append(stream(PART2))

    resumed = await second_process(driver).repository("a").uploads.resume(upload.id)

    assert await resumed.commit(DIGEST) == Descriptor(DIGEST, len(CONTENT))


async def test_a_rebuilt_digest_is_checked_against_the_bytes(driver: CheckedDriver, files: Files) -> None:
    upload = await Registry(driver, InMemoryDescriptorCache()).repository("a").uploads.create()
    await upload.append(stream(CONTENT))

    resumed = await second_process(driver).repository("a").uploads.resume(upload.id)
    with pytest.raises(DigestMismatchError) as info:
        await resumed.commit(Digest.from_bytes(PART1))

    assert info.value.actual == DIGEST
    assert await files.under("/") == []


async def test_cancel_removes_the_upload(registry: Registry, repo: Repository, files: Files) -> None:
    upload = await repo.uploads.create()
    await upload.append(stream(PART1))

    await upload.cancel()

    assert await files.under("/") == []
    assert len(registry.upload_hashers) == 0
    with pytest.raises(BlobUploadUnknownError):
        await repo.uploads.resume(upload.id)


async def test_a_broken_stream_keeps_what_arrived(repo: Repository) -> None:
    async def disconnecting() -> AsyncIterator[bytes]:
        yield PART1
        raise ConnectionResetError("client went away")

    upload = await repo.uploads.create()
    with pytest.raises(ConnectionResetError):
        await upload.append(disconnecting())

    assert await upload.size() == len(PART1)
    assert (await upload.commit(DIGEST, stream(PART2), start=len(PART1))).size == len(CONTENT)


async def test_requests_of_one_upload_are_serialized(repo: Repository, driver: CheckedDriver) -> None:
    mib = 1 << 20  # the filesystem writer flushes every MiB: unserialized, the two bodies would interleave

    async def body(fill: bytes) -> AsyncIterator[bytes]:
        for _ in range(3):
            await asyncio.sleep(0)
            yield fill * mib

    upload = await repo.uploads.create()
    await asyncio.gather(upload.append(body(b"x")), upload.append(body(b"y")))

    data = await driver.get_content(paths.upload_data("library/ubuntu", upload.id))
    assert data in (b"x" * 3 * mib + b"y" * 3 * mib, b"y" * 3 * mib + b"x" * 3 * mib)
    assert (await upload.commit(Digest.from_bytes(data))).size == 6 * mib


async def test_a_request_waiting_on_a_cancelled_upload_finds_it_unknown(repo: Repository) -> None:
    gate = asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        await gate.wait()
        yield b"late"

    upload = await repo.uploads.create()
    writing = asyncio.create_task(upload.append(held()))
    await asyncio.sleep(0)
    cancelling = asyncio.create_task(upload.cancel())
    waiting = asyncio.create_task(upload.append(stream(b"more")))
    await asyncio.sleep(0)
    gate.set()

    await writing
    await cancelling
    with pytest.raises(BlobUploadUnknownError):
        await waiting


async def test_idle_hashers_are_evicted() -> None:
    now = 0.0
    table = UploadHashers(idle_timeout=100.0, clock=lambda: now)

    async def touch(upload_id: str) -> None:
        async with table.hold(("a", upload_id)):
            pass

    await touch("one")
    now = 60.0
    await touch("two")
    now = 130.0
    await touch("three")

    assert ("a", "one") not in table
    assert ("a", "two") in table
    assert ("a", "three") in table
    now = 1000.0
    await touch("four")
    assert len(table) == 1
