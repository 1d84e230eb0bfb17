"""The manifest store over the real blob layer: storage layout, verification, tags, referrers, deletes, order."""

from __future__ import annotations

import hashlib
import json

import pytest
from manifest_helpers import Content, CrashingDriver, descriptor_of, encode

from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.store import ManifestStore
from registry_core.registry import Registry
from registry_core.storage.driver import PathNotFoundError, StorageDriver

REPO = "library/app"


async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFoundError:
        return False
    return True


def code_of(info: pytest.ExceptionInfo[RegistryError]) -> ErrorCode:
    return info.value.code


# -- put and get -----------------------------------------------------------------------------------------------------
async def test_put_by_tag_stores_the_go_layout(content: Content, driver: StorageDriver) -> None:
    payload = await content.image(REPO)
    digest = await content.put(REPO, payload, "latest")
    assert digest == Digest.from_bytes(payload)
    assert await driver.get_content(paths.blob_data(digest)) == payload
    assert await driver.get_content(paths.manifest_revision_link(REPO, digest)) == str(digest).encode()
    assert await driver.get_content(paths.tag_current_link(REPO, "latest")) == str(digest).encode()
    assert await driver.get_content(paths.tag_index_link(REPO, "latest", digest)) == str(digest).encode()


async def test_get_serves_the_exact_bytes_by_tag_and_digest(content: Content) -> None:
    payload = await content.image(REPO) + b"\n\n"  # whitespace is part of the manifest
    digest = await content.put(REPO, payload, "v1")
    store = content.manifests(REPO)
    for reference in ("v1", digest):
        stored = await store.get(reference)
        assert (stored.payload, stored.digest, stored.media_type) == (payload, digest, mt.OCI_MANIFEST)


async def test_media_type_without_a_body_field_is_recovered(content: Content) -> None:
    doc = json.loads(await content.image(REPO))
    del doc["mediaType"]
    payload = encode(doc)
    result = await content.manifests(REPO).put(payload, mt.OCI_MANIFEST, "t")
    assert (await content.manifests(REPO).get("t")).media_type == mt.OCI_MANIFEST
    index = encode({"schemaVersion": 2, "manifests": [descriptor_of(payload)]})
    await content.manifests(REPO).put(index, mt.OCI_INDEX, "i")
    assert (await content.manifests(REPO).get("i")).media_type == mt.OCI_INDEX
    assert result.manifest.media_type == mt.OCI_MANIFEST


async def test_put_by_digest_must_match(content: Content, driver: StorageDriver) -> None:
    payload = await content.image(REPO)
    wrong = Digest.from_bytes(payload + b" ")
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(payload, mt.OCI_MANIFEST, wrong)
    assert code_of(info) is ErrorCode.DIGEST_INVALID
    assert not await exists(driver, paths.manifest_revision_link(REPO, Digest.from_bytes(payload)))
    assert not await exists(driver, paths.manifest_revision_link(REPO, wrong))


async def test_put_by_sha512_digest(content: Content, driver: StorageDriver) -> None:
    payload = await content.image(REPO)
    digest = Digest("sha512", hashlib.sha512(payload).hexdigest())
    result = await content.manifests(REPO).put(payload, mt.OCI_MANIFEST, digest, tags=["five-twelve"])
    assert result.digest == digest
    assert await driver.get_content(paths.blob_data(digest)) == payload
    assert (await content.manifests(REPO).get(digest)).payload == payload
    assert await content.manifests(REPO).resolve("five-twelve") == digest


async def test_put_with_tags(content: Content) -> None:
    payload = await content.image(REPO)
    result = await content.manifests(REPO).put(payload, None, "a", tags=["b", "a", "c"])
    assert result.tags == ("a", "b", "c")
    assert await content.manifests(REPO).tags.all() == ["a", "b", "c"]


async def test_unknown_manifests(content: Content) -> None:
    store = content.manifests(REPO)
    for reference in ("nope", Digest.from_bytes(b"nope")):
        with pytest.raises(RegistryError) as info:
            await store.get(reference)
        assert code_of(info) is ErrorCode.MANIFEST_UNKNOWN


async def test_a_manifest_is_scoped_to_its_repository(content: Content) -> None:
    digest = await content.put(REPO, await content.image(REPO), "v1")
    with pytest.raises(RegistryError) as info:
        await content.manifests("other/repo").get(digest)
    assert code_of(info) is ErrorCode.MANIFEST_UNKNOWN


async def test_retag_moves_the_tag_and_keeps_history(content: Content, driver: StorageDriver) -> None:
    first = await content.put(REPO, await content.image(REPO, "one"), "latest")
    second = await content.put(REPO, await content.image(REPO, "two"), "latest")
    assert await content.manifests(REPO).resolve("latest") == second
    assert await exists(driver, paths.tag_index_link(REPO, "latest", first))
    assert await exists(driver, paths.tag_index_link(REPO, "latest", second))


# -- verification ----------------------------------------------------------------------------------------------------
async def test_missing_blob_is_manifest_blob_unknown(content: Content, driver: StorageDriver) -> None:
    doc = json.loads(await content.image(REPO))
    missing = str(Digest.from_bytes(b"never pushed"))
    doc["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": missing, "size": 12})
    payload = encode(doc)
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(payload, mt.OCI_MANIFEST, "t")
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert info.value.detail == {"digest": missing}
    assert not await exists(driver, paths.manifest_revision_link(REPO, Digest.from_bytes(payload)))
    assert not await exists(driver, paths.tag_current_link(REPO, "t"))


async def test_blob_of_another_repository_is_not_enough(content: Content) -> None:
    payload = await content.image("other/repo")  # blobs linked in other/repo only
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(payload, mt.OCI_MANIFEST, "t")
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN


async def test_missing_config_is_manifest_blob_unknown(content: Content) -> None:
    doc = json.loads(await content.image(REPO))
    doc["config"]["digest"] = str(Digest.from_bytes(b"no config"))
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(encode(doc), mt.OCI_MANIFEST, "t")
    assert info.value.detail == {"digest": doc["config"]["digest"]}


async def test_foreign_layers_with_urls_need_not_be_pushed(content: Content) -> None:
    doc = json.loads(await content.image(REPO))
    doc["layers"].append(
        {
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": str(Digest.from_bytes(b"elsewhere")),
            "size": 123456,
            "urls": ["https://store.example.com/blobs/sha256/x"],
        }
    )
    await content.manifests(REPO).put(encode(doc), mt.OCI_MANIFEST, "foreign")


async def test_index_children_must_be_present(content: Content) -> None:
    child = await content.image(REPO)
    index = encode({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [descriptor_of(child)]})
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(index, mt.OCI_INDEX, "multi")
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN
    assert info.value.detail == {"digest": str(Digest.from_bytes(child))}
    await content.put(REPO, child)  # by digest, untagged
    await content.manifests(REPO).put(index, mt.OCI_INDEX, "multi")
    assert (await content.manifests(REPO).get("multi")).payload == index


async def test_a_child_blob_is_not_a_child_manifest(content: Content) -> None:
    """A digest linked as a layer is not a manifest revision."""
    layer = await content.blob(REPO, b"a layer, not a manifest")
    index = encode(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [{**layer, "mediaType": mt.OCI_MANIFEST}]}
    )
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(index, mt.OCI_INDEX, "multi")
    assert code_of(info) is ErrorCode.MANIFEST_BLOB_UNKNOWN


async def test_invalid_manifest_writes_nothing(content: Content, driver: StorageDriver) -> None:
    with pytest.raises(RegistryError) as info:
        await content.manifests(REPO).put(b"{not json", mt.OCI_MANIFEST, "t")
    assert code_of(info) is ErrorCode.MANIFEST_INVALID
    assert not await exists(driver, paths.repository(REPO))


# -- referrers -------------------------------------------------------------------------------------------------------
async def test_referrers_are_indexed_on_put(content: Content, driver: StorageDriver) -> None:
    subject_payload = await content.image(REPO, "subject")
    subject = await content.put(REPO, subject_payload, "app")
    sbom = await content.image(
        REPO,
        "sbom",
        layers=1,
        artifactType="application/vnd.example.sbom.v1",
        subject=descriptor_of(subject_payload),
        annotations={"org.example.format": "json"},
    )
    sbom_digest = await content.put(REPO, sbom)
    signature_doc = json.loads(await content.image(REPO, "sig", layers=1, subject=descriptor_of(subject_payload)))
    signature_doc["config"]["mediaType"] = "application/vnd.example.signature.config.v1+json"
    signature = encode(signature_doc)
    signature_digest = await content.put(REPO, signature)

    listed = await content.manifests(REPO).referrers.list(subject)
    assert sorted(listed, key=lambda e: e["digest"]) == sorted(
        [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(sbom_digest),
                "size": len(sbom),
                "artifactType": "application/vnd.example.sbom.v1",
                "annotations": {"org.example.format": "json"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(signature_digest),
                "size": len(signature),
                "artifactType": "application/vnd.example.signature.config.v1+json",
            },
        ],
        key=lambda e: e["digest"],
    )
    only_sboms = await content.manifests(REPO).referrers.list(subject, "application/vnd.example.sbom.v1")
    assert [e["digest"] for e in only_sboms] == [str(sbom_digest)]
    assert await content.manifests(REPO).referrers.list(subject, "application/none") == []
    assert await exists(driver, paths.referrer_link(REPO, subject, sbom_digest))


async def test_subject_may_be_missing_and_index_referrers_have_no_artifact_type(content: Content) -> None:
    absent = descriptor_of(b"a subject pushed later")
    child = await content.image(REPO)
    await content.put(REPO, child)
    index = encode(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [descriptor_of(child)], "subject": absent}
    )
    digest = await content.put(REPO, index)
    listed = await content.manifests(REPO).referrers.list(Digest.parse(absent["digest"]))
    assert listed == [{"mediaType": mt.OCI_INDEX, "digest": str(digest), "size": len(index)}]


async def test_no_referrers(content: Content) -> None:
    assert await content.manifests(REPO).referrers.list(Digest.from_bytes(b"lonely")) == []


# -- deletes ---------------------------------------------------------------------------------------------------------
async def test_delete_tag_keeps_the_manifest(content: Content) -> None:
    digest = await content.put(REPO, await content.image(REPO), "a", tags=["b"])
    store = content.manifests(REPO)
    await store.delete("a")
    assert await store.tags.all() == ["b"]
    assert (await store.get(digest)).digest == digest
    with pytest.raises(RegistryError) as info:
        await store.get("a")
    assert code_of(info) is ErrorCode.MANIFEST_UNKNOWN


async def test_delete_digest_removes_revision_tags_and_referrer_entry(content: Content, driver: StorageDriver) -> None:
    subject_payload = await content.image(REPO, "subject")
    subject = await content.put(REPO, subject_payload, "keep")
    payload = await content.image(REPO, "doomed", subject=descriptor_of(subject_payload))
    digest = await content.put(REPO, payload, "a", tags=["b"])
    store = content.manifests(REPO)
    await store.delete(digest)
    assert await store.tags.all() == ["keep"]
    assert await store.referrers.list(subject) == []
    assert not await exists(driver, paths.manifest_revision_link(REPO, digest))
    assert await driver.get_content(paths.blob_data(digest)) == payload  # bytes go only through GC
    with pytest.raises(RegistryError) as info:
        await store.get(digest)
    assert code_of(info) is ErrorCode.MANIFEST_UNKNOWN


async def test_delete_unknown(content: Content) -> None:
    await content.put(REPO, await content.image(REPO), "v1")
    for reference in ("nope", Digest.from_bytes(b"nope")):
        with pytest.raises(RegistryError) as info:
            await content.manifests(REPO).delete(reference)
        assert code_of(info) is ErrorCode.MANIFEST_UNKNOWN


@pytest.mark.parametrize(("delete_enabled", "readonly"), [(False, False), (True, True)])
async def test_policies(driver: StorageDriver, delete_enabled: bool, readonly: bool) -> None:
    writable = Content(Registry(driver, InMemoryDescriptorCache(), delete_enabled=True))
    digest = await writable.put(REPO, await writable.image(REPO), "v1")
    registry = Registry(driver, InMemoryDescriptorCache(), delete_enabled=delete_enabled, readonly=readonly)
    store = ManifestStore.of(registry.repository(REPO))
    for reference in ("v1", digest):
        with pytest.raises(RegistryError) as info:
            await store.delete(reference)
        assert code_of(info) is ErrorCode.UNSUPPORTED
    if readonly:
        with pytest.raises(RegistryError) as info:
            await store.put((await store.get(digest)).payload, None, "v2")
        assert code_of(info) is ErrorCode.UNSUPPORTED
    assert (await store.get("v1")).digest == digest


# -- crash safety: the write order leaves no dangling reference ------------------------------------------------------
async def check_no_dangling_references(driver: StorageDriver, digest: Digest, subject: Digest, tags: list[str]) -> None:
    revision = await exists(driver, paths.manifest_revision_link(REPO, digest))
    if revision:
        assert await exists(driver, paths.blob_data(digest))
    if await exists(driver, paths.referrer_link(REPO, subject, digest)):
        assert revision, "referrer entry without its manifest"
    for tag in tags:
        current = paths.tag_current_link(REPO, tag)
        if await exists(driver, current) and await driver.get_content(current) == str(digest).encode():
            assert revision, f"tag {tag} points at a missing manifest"


@pytest.mark.parametrize("crash_at", ["/blobs/", "/_manifests/revisions/", "/_referrers/", "/current/", "/index/"])
async def test_put_order(driver: StorageDriver, crash_at: str) -> None:
    content = Content(Registry(driver, InMemoryDescriptorCache(), delete_enabled=True))
    subject_payload = await content.image(REPO, "subject")
    subject = Digest.from_bytes(subject_payload)
    payload = await content.image(REPO, "referrer", subject=descriptor_of(subject_payload))
    digest = Digest.from_bytes(payload)
    crashing = CrashingDriver(driver, lambda op, path: op == "put_content" and crash_at in path)
    store = ManifestStore.of(Registry(crashing, InMemoryDescriptorCache()).repository(REPO))
    with pytest.raises(OSError, match="simulated crash"):
        await store.put(payload, mt.OCI_MANIFEST, "t1", tags=["t2"])
    await check_no_dangling_references(driver, digest, subject, ["t1", "t2"])


@pytest.mark.parametrize("crash_at", ["/_manifests/tags/", "/_referrers/", "/_manifests/revisions/"])
async def test_delete_order(driver: StorageDriver, crash_at: str) -> None:
    content = Content(Registry(driver, InMemoryDescriptorCache(), delete_enabled=True))
    subject_payload = await content.image(REPO, "subject")
    subject = Digest.from_bytes(subject_payload)
    payload = await content.image(REPO, "referrer", subject=descriptor_of(subject_payload))
    digest = await content.put(REPO, payload, "t1", tags=["t2"])
    crashing = CrashingDriver(driver, lambda op, path: op == "delete" and crash_at in path)
    store = ManifestStore.of(Registry(crashing, InMemoryDescriptorCache(), delete_enabled=True).repository(REPO))
    with pytest.raises(OSError, match="simulated crash"):
        await store.delete(digest)
    await check_no_dangling_references(driver, digest, subject, ["t1", "t2"])
