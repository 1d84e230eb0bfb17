"""The global blob store: stat, read, put, and ingest (the only way upload bytes become a blob)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from registry_core import paths
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.blobs.store import BlobStore
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageError, UnsupportedMethodError

if TYPE_CHECKING:
    from conftest import Files

CONTENT = bytes(range(256)) * 9000  # > 2 MiB: several driver chunks
DIGEST = Digest.from_bytes(CONTENT)


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.fixture
def store(driver: CheckedDriver) -> BlobStore:
    return BlobStore(driver)


async def test_unknown_blob(store: BlobStore) -> None:
    with pytest.raises(BlobUnknownError) as info:
        await store.stat(DIGEST)
    assert info.value.digest == DIGEST
    assert info.value.body()["errors"][0]["code"] == "BLOB_UNKNOWN"
    with pytest.raises(BlobUnknownError):
        await store.get(DIGEST)
    assert not await store.exists(DIGEST)


async def test_put_stores_content_at_its_blob_path(store: BlobStore, files: Files) -> None:
    descriptor = await store.put(b'{"schemaVersion": 2}', "application/vnd.oci.image.manifest.v1+json")

    digest = Digest.from_bytes(b'{"schemaVersion": 2}')
    assert descriptor == Descriptor(digest, 20, "application/vnd.oci.image.manifest.v1+json")
    assert await files.under(paths.BLOBS) == [f"/docker/registry/v2/blobs/sha256/{digest.hex[:2]}/{digest.hex}/data"]
    assert await store.get(digest) == b'{"schemaVersion": 2}'
    assert await store.stat(digest) == Descriptor(digest, 20)


async def test_put_is_idempotent(store: BlobStore, files: Files) -> None:
    first = await store.put(b"same")
    second = await store.put(b"same")
    assert first == second
    assert len(await files.under(paths.BLOBS)) == 1


async def test_a_directory_at_the_blob_path_is_no_blob(store: BlobStore, driver: CheckedDriver) -> None:
    await driver.put_content(paths.blob_data(DIGEST) + "/stray", b"x")
    with pytest.raises(BlobUnknownError):
        await store.stat(DIGEST)


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (1, None), (0, 10), (1 << 20, 3), (len(CONTENT) - 1, 1), (len(CONTENT), None), (5, 0)],
)
async def test_reader_serves_the_asked_range(store: BlobStore, offset: int, length: int | None) -> None:
    descriptor = await store.put(CONTENT)
    data = await read_all(await store.reader(descriptor, offset, length))
    end = len(CONTENT) if length is None else offset + length
    assert data == CONTENT[offset:end]


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (0, len(CONTENT) + 1), (len(CONTENT) + 1, None)])
async def test_reader_refuses_a_range_outside_the_blob(store: BlobStore, offset: int, length: int | None) -> None:
    descriptor = await store.put(CONTENT)
    with pytest.raises(ValueError):
        await store.reader(descriptor, offset, length)


async def test_reader_of_a_vanished_blob_fails_before_streaming(store: BlobStore, driver: CheckedDriver) -> None:
    descriptor = await store.put(CONTENT)
    await driver.delete(paths.blob_dir(descriptor.digest))
    with pytest.raises(BlobUnknownError):
        await store.reader(descriptor)


async def test_reader_of_an_empty_blob(store: BlobStore) -> None:
    descriptor = await store.put(b"")
    assert await read_all(await store.reader(descriptor)) == b""


async def test_reader_fails_when_the_bytes_are_shorter_than_the_descriptor(store: BlobStore) -> None:
    real = await store.put(b"short")
    with pytest.raises(StorageError, match="short of its descriptor"):
        await read_all(await store.reader(Descriptor(real.digest, 10)))


async def test_url_for_is_the_drivers_direct_url_or_none(store: BlobStore, driver: CheckedDriver) -> None:
    descriptor = await store.put(b"x")
    url = await store.url_for(descriptor)
    try:
        await driver.url_for(paths.blob_data(descriptor.digest))
    except UnsupportedMethodError:
        assert url is None
    else:
        assert url is not None
        assert paths.blob_data(descriptor.digest) in url


async def test_ingest_moves_the_upload_data(store: BlobStore, driver: CheckedDriver, files: Files) -> None:
    source = paths.upload_data("a/b", "7d6e3f4c-0000-4000-8000-000000000001")
    await driver.put_content(source, CONTENT)

    await store.ingest(source, Descriptor(DIGEST, len(CONTENT)))

    assert not await files.exists(source)
    assert await driver.get_content(paths.blob_data(DIGEST)) == CONTENT


async def test_ingest_keeps_an_existing_blob_and_drops_the_upload_data(
    store: BlobStore, driver: CheckedDriver, files: Files
) -> None:
    await store.put(CONTENT)
    before = await driver.stat(paths.blob_data(DIGEST))
    source = paths.upload_data("a/b", "7d6e3f4c-0000-4000-8000-000000000002")
    await driver.put_content(source, CONTENT)

    await store.ingest(source, Descriptor(DIGEST, len(CONTENT)))

    assert not await files.exists(source)
    assert await driver.get_content(paths.blob_data(DIGEST)) == CONTENT
    assert (await driver.stat(paths.blob_data(DIGEST))).modified == before.modified  # not rewritten


async def test_ingest_of_an_empty_upload_without_data_file(store: BlobStore) -> None:
    empty = Descriptor(Digest.from_bytes(b""), 0)
    await store.ingest(paths.upload_data("a", "7d6e3f4c-0000-4000-8000-000000000003"), empty)
    assert await store.get(empty.digest) == b""


async def test_ingest_of_missing_data_fails_for_a_non_empty_blob(store: BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        await store.ingest(paths.upload_data("a", "7d6e3f4c-0000-4000-8000-000000000004"), Descriptor(DIGEST, 3))
    assert not await store.exists(DIGEST)
