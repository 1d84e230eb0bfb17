"""Repository-scoped blobs: links, access checks, mounts, and the cache in front of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobDescriptorService, BlobUnknownError
from registry_core.blobs.linked import LinkedBlobStore, LinkPath
from registry_core.blobs.store import BlobStore
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver

if TYPE_CHECKING:
    from conftest import Files

CONTENT = b"layer bytes"
DIGEST = Digest.from_bytes(CONTENT)
DESCRIPTOR = Descriptor(DIGEST, len(CONTENT))


@pytest.fixture
def store(driver: CheckedDriver) -> BlobStore:
    return BlobStore(driver)


def linked(
    store: BlobStore,
    name: str = "a/b",
    *,
    link_path: LinkPath = paths.layer_link,
    cache: BlobDescriptorService | None = None,
) -> LinkedBlobStore:
    return LinkedBlobStore(name, store, link_path=link_path, cache=cache)


async def test_a_global_blob_is_invisible_until_linked(store: BlobStore) -> None:
    await store.put(CONTENT)
    repo = linked(store)
    with pytest.raises(BlobUnknownError):
        await repo.stat(DIGEST)

    await repo.link(DESCRIPTOR)

    assert await repo.stat(DIGEST) == DESCRIPTOR
    assert await repo.get(DIGEST) == CONTENT


async def test_the_link_file_holds_the_digest_string_without_newline(
    store: BlobStore, driver: CheckedDriver, files: Files
) -> None:
    await store.put(CONTENT)
    await linked(store, "library/ubuntu").link(DESCRIPTOR)

    path = f"/docker/registry/v2/repositories/library/ubuntu/_layers/sha256/{DIGEST.hex}/link"
    assert await files.under(paths.REPOSITORIES) == [path]
    assert await driver.get_content(path) == f"sha256:{DIGEST.hex}".encode()


async def test_linking_a_missing_blob_is_refused_and_writes_nothing(store: BlobStore, files: Files) -> None:
    with pytest.raises(BlobUnknownError):
        await linked(store).link(DESCRIPTOR)
    assert await files.under("/") == []


@pytest.mark.parametrize("content", [b"", b"sha256:" + b"0" * 64, f"{DIGEST}\n".encode(), b"garbage"])
async def test_a_link_not_holding_exactly_the_digest_is_unknown(
    store: BlobStore, driver: CheckedDriver, content: bytes
) -> None:
    await store.put(CONTENT)
    await driver.put_content(paths.layer_link("a/b", DIGEST), content)
    with pytest.raises(BlobUnknownError):
        await linked(store).stat(DIGEST)


async def test_a_link_to_a_missing_blob_is_unknown(store: BlobStore, driver: CheckedDriver) -> None:
    await driver.put_content(paths.layer_link("a/b", DIGEST), str(DIGEST).encode())
    with pytest.raises(BlobUnknownError):
        await linked(store).stat(DIGEST)


async def test_put_stores_and_links(store: BlobStore) -> None:
    repo = linked(store)
    descriptor = await repo.put(b"{}", "application/vnd.oci.image.config.v1+json")
    assert descriptor.media_type == "application/vnd.oci.image.config.v1+json"
    assert (await repo.stat(descriptor.digest)).size == 2
    assert await store.get(descriptor.digest) == b"{}"


async def test_unlink_removes_the_link_and_keeps_the_bytes(store: BlobStore, files: Files) -> None:
    repo = linked(store)
    await repo.put(CONTENT)

    await repo.unlink(DIGEST)

    with pytest.raises(BlobUnknownError):
        await repo.stat(DIGEST)
    assert not await files.exists(paths.layer_link("a/b", DIGEST))
    assert await store.get(DIGEST) == CONTENT
    with pytest.raises(BlobUnknownError):
        await repo.unlink(DIGEST)


async def test_mount_links_without_copying(store: BlobStore, driver: CheckedDriver, files: Files) -> None:
    await linked(store, "source").put(CONTENT)
    before = await files.under(paths.BLOBS)

    descriptor = await linked(store, "target/repo").mount(DIGEST, "source")

    assert descriptor == DESCRIPTOR
    assert await linked(store, "target/repo").stat(DIGEST) == DESCRIPTOR
    assert await files.under(paths.BLOBS) == before
    assert await driver.get_content(paths.layer_link("target/repo", DIGEST)) == str(DIGEST).encode()


async def test_mount_needs_the_blob_linked_in_the_source(store: BlobStore, files: Files) -> None:
    await linked(store, "other").put(CONTENT)  # the bytes exist, but "source" may not see them
    with pytest.raises(BlobUnknownError):
        await linked(store, "target").mount(DIGEST, "source")
    assert not await files.exists(paths.repository("target"))


async def test_link_kinds_are_separate(store: BlobStore, files: Files) -> None:
    manifests = linked(store, link_path=paths.manifest_revision_link)
    await manifests.put(b'{"manifest": true}')
    digest = Digest.from_bytes(b'{"manifest": true}')

    assert await files.exists(paths.manifest_revision_link("a/b", digest))
    assert (await manifests.stat(digest)).digest == digest
    with pytest.raises(BlobUnknownError):
        await linked(store).stat(digest)


async def test_a_warm_cache_answers_without_storage(store: BlobStore, driver: CheckedDriver) -> None:
    cache = InMemoryDescriptorCache()
    repo = linked(store, cache=cache.repository("a/b"))
    await repo.put(CONTENT)
    await driver.delete(paths.repository("a/b"))  # behind the store's back: only the cache still knows

    assert await repo.stat(DIGEST) == DESCRIPTOR


async def test_a_cold_cache_is_filled_from_storage(store: BlobStore) -> None:
    await linked(store).put(CONTENT)
    cache = InMemoryDescriptorCache()
    repo = linked(store, cache=cache.repository("a/b"))

    assert await repo.stat(DIGEST) == DESCRIPTOR
    assert await cache.repository("a/b").stat(DIGEST) == DESCRIPTOR
    assert await cache.stat(DIGEST) == DESCRIPTOR


async def test_unlink_clears_the_cache(store: BlobStore) -> None:
    cache = InMemoryDescriptorCache()
    repo = linked(store, cache=cache.repository("a/b"))
    await repo.put(CONTENT)
    await repo.stat(DIGEST)

    await repo.unlink(DIGEST)

    with pytest.raises(BlobUnknownError):
        await repo.stat(DIGEST)


async def test_unlinking_a_missing_link_still_clears_a_stale_entry(store: BlobStore, driver: CheckedDriver) -> None:
    cache = InMemoryDescriptorCache()
    repo = linked(store, cache=cache.repository("a/b"))
    await repo.put(CONTENT)
    await driver.delete(paths.layer_link("a/b", DIGEST))  # gone behind the cache's back

    with pytest.raises(BlobUnknownError):
        await repo.unlink(DIGEST)
    with pytest.raises(BlobUnknownError):
        await cache.repository("a/b").stat(DIGEST)


async def test_a_link_written_while_an_unlink_clears_is_not_cached(store: BlobStore, driver: CheckedDriver) -> None:
    """Link: read the generation, write the link; a delete then removes it and clears; the late fill is dropped."""
    cache = InMemoryDescriptorCache()
    repo = linked(store, cache=cache.repository("a/b"))
    await store.put(CONTENT)
    put_content = driver.put_content

    async def then_deleted(path: str, content: bytes) -> None:
        await put_content(path, content)
        await linked(store, cache=cache.repository("a/b")).unlink(DIGEST)

    driver.put_content = then_deleted  # type: ignore[method-assign]
    await repo.link(DESCRIPTOR)
    driver.put_content = put_content  # type: ignore[method-assign]

    with pytest.raises(BlobUnknownError):
        await cache.repository("a/b").stat(DIGEST)
    with pytest.raises(BlobUnknownError):
        await repo.stat(DIGEST)


async def test_the_cache_does_not_leak_between_repositories(store: BlobStore) -> None:
    cache = InMemoryDescriptorCache()
    await linked(store, "a", cache=cache.repository("a")).put(CONTENT)
    with pytest.raises(BlobUnknownError):
        await linked(store, "b", cache=cache.repository("b")).stat(DIGEST)


async def test_registry_repository_wires_layers_with_the_cache(registry: Registry) -> None:
    repo = registry.repository("library/ubuntu")
    await repo.blobs.put(CONTENT)
    assert await registry.descriptors.repository("library/ubuntu").stat(DIGEST) == DESCRIPTOR
    assert repo.uploads.name == "library/ubuntu"


@pytest.mark.parametrize("name", ["", "UPPER", "a//b", "../etc", "a/", "x" * 256])
def test_registry_refuses_invalid_names(registry: Registry, name: str) -> None:
    with pytest.raises(RegistryError) as info:
        registry.repository(name)
    assert info.value.code.name == "NAME_INVALID"
