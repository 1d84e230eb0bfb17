"""The descriptor cache across processes: redis-server, the descriptor-cache service, two blob-write and three
blob-read processes (two caching through the descriptor-cache service, one in Redis directly) on one filesystem
root. Whatever a writer changes, every reader answers accordingly at once: a cache may make a reader slower,
never wrong."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from registry_core import paths
from registry_core.blobs.redis_cache import RedisDescriptorCache
from registry_core.blobs.remote_cache import RemoteDescriptorCache
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.testing.cluster import SPLIT, Cluster, metric, start_cluster
from registry_core.testing.servers import Process

pytestmark = pytest.mark.integration

HITS = "registry_descriptor_cache_hits_total"
OCTET_STREAM = "application/octet-stream"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(tmp_path_factory.mktemp("coherence"), SPLIT)
    try:
        yield running
    finally:
        running.stop()


def sha256(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One keep-alive client for the module (building a client per request costs more than the request)."""
    with httpx.Client(timeout=30) as client:
        yield client


def push(http: httpx.Client, writer: Process, name: str, content: bytes) -> str:
    digest = sha256(content)
    response = http.post(f"{writer.url}/v2/{name}/blobs/uploads/", params={"digest": digest}, content=content)
    assert response.status_code == 201, response.text
    return digest


def statuses(http: httpx.Client, processes: list[Process], name: str, digest: str) -> list[int]:
    return [http.head(f"{p.url}/v2/{name}/blobs/{digest}").status_code for p in processes]


def test_a_push_through_one_writer_is_served_warm_by_every_reader(cluster: Cluster, http: httpx.Client) -> None:
    content = os.urandom(100_000)
    digest = push(http, cluster.writers[0], "coherence/visible", content)
    for reader in cluster.readers:
        hits = metric(reader, HITS)
        for _ in range(2):
            got = http.get(f"{reader.url}/v2/coherence/visible/blobs/{digest}")
            assert got.status_code == 200 and got.content == content
            assert got.headers["Docker-Content-Digest"] == digest
        assert metric(reader, HITS) >= hits + 2, f"{reader.url} should answer from the cache"


def test_a_delete_through_a_writer_makes_every_reader_answer_404(cluster: Cluster, http: httpx.Client) -> None:
    name = "coherence/deleted"
    first, second = cluster.writers
    for writer, deleter in ((first, second), (second, first)):
        digest = push(http, writer, name, os.urandom(5_000))
        assert statuses(http, cluster.readers, name, digest) == [200] * 3
        assert statuses(http, cluster.readers, name, digest) == [200] * 3  # warm everywhere
        assert http.delete(f"{deleter.url}/v2/{name}/blobs/{digest}").status_code == 202
        assert statuses(http, cluster.readers, name, digest) == [404] * 3
        for reader in cluster.readers:
            assert http.get(f"{reader.url}/v2/{name}/blobs/{digest}").status_code == 404


def test_a_blob_deleted_and_pushed_again_is_served_again(cluster: Cluster, http: httpx.Client) -> None:
    name, content = "coherence/again", os.urandom(3_000)
    digest = push(http, cluster.writers[0], name, content)
    statuses(http, cluster.readers, name, digest)
    assert http.delete(f"{cluster.writers[1].url}/v2/{name}/blobs/{digest}").status_code == 202
    assert statuses(http, cluster.readers, name, digest) == [404] * 3
    push(http, cluster.writers[1], name, content)
    assert statuses(http, cluster.readers, name, digest) == [200] * 3


def slow_reader(cluster: Cluster, kind: str) -> RedisDescriptorCache | RemoteDescriptorCache:
    """The cache as a reader process sees it, directly in Redis or through the descriptor-cache service."""
    if kind == "redis":
        return RedisDescriptorCache.from_url(cluster.redis.url, socket_timeout=2)
    return RemoteDescriptorCache(cluster.descriptor_cache.url, timeout=2)


@pytest.mark.parametrize("kind", ["redis", "remote"])
async def test_a_fill_read_before_a_delete_never_lands(cluster: Cluster, http: httpx.Client, kind: str) -> None:
    """A reader that read storage before a delete fills its cache only after the delete's clear (the race of a
    slow reader, made deterministic): the fill is refused, and no reader serves the deleted blob."""
    name = f"coherence/race-{kind}"
    cache = slow_reader(cluster, kind)
    try:
        for writer in cluster.writers:
            content = os.urandom(64)
            digest = push(http, writer, name, content)
            seen = await cache.repository(name).generation()  # the reader's miss; it now reads storage: linked
            assert http.delete(f"{writer.url}/v2/{name}/blobs/{digest}").status_code == 202
            stale = Descriptor(Digest.parse(digest), len(content))
            assert await cache.repository(name).fill(stale.digest, stale, seen) is False
            assert statuses(http, cluster.readers, name, digest) == [404] * 3
    finally:
        await cache.aclose()


def test_membership_never_leaks_between_repositories(cluster: Cluster, http: httpx.Client) -> None:
    digest = push(http, cluster.writers[1], "coherence/owner", os.urandom(2_000))
    assert statuses(http, cluster.readers, "coherence/owner", digest) == [200] * 3
    assert statuses(http, cluster.readers, "coherence/owner", digest) == [200] * 3
    assert statuses(http, cluster.readers, "coherence/stranger", digest) == [404] * 3
    assert statuses(http, cluster.readers, "coherence/owner/sub", digest) == [404] * 3


def test_an_upload_alternating_between_writers_gets_the_right_digest(cluster: Cluster, http: httpx.Client) -> None:
    name, chunks = "coherence/chunked", [os.urandom(200_000) for _ in range(5)]
    writers = cluster.writers
    location = http.post(f"{writers[0].url}/v2/{name}/blobs/uploads/").headers["Location"]
    offset = 0
    for i, chunk in enumerate(chunks):
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": OCTET_STREAM}
        response = http.patch(f"{writers[i % 2].url}{location}", content=chunk, headers=headers)
        assert response.status_code == 202, response.text
        offset += len(chunk)
        assert response.headers["Range"] == f"0-{offset - 1}"
    digest = sha256(b"".join(chunks))
    done = http.put(f"{writers[len(chunks) % 2].url}{location}", params={"digest": digest})
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    for reader in cluster.readers:
        got = http.get(f"{reader.url}/v2/{name}/blobs/{digest}")
        assert got.status_code == 200 and got.content == b"".join(chunks)


def test_concurrent_pushes_of_one_blob_via_both_writers_leave_one_blob(cluster: Cluster, http: httpx.Client) -> None:
    name, content = "coherence/same", os.urandom(1_500_000)
    digest = sha256(content)

    def push_once(i: int) -> int:
        writer = cluster.writers[i % 2]
        with httpx.Client(base_url=writer.url, timeout=60) as client:
            return client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=content).status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(push_once, range(10))) == [201] * 10
    blob = cluster.root / paths.blob_data(Digest.parse(digest)).lstrip("/")
    assert sha256(blob.read_bytes()) == digest
    uploads = cluster.root / paths.uploads(name).lstrip("/")
    assert not uploads.exists() or not any(uploads.iterdir()), "no upload is left behind"
    for reader in cluster.readers:
        assert http.get(f"{reader.url}/v2/{name}/blobs/{digest}").content == content


def test_a_deleted_manifest_is_unknown_to_every_reader(cluster: Cluster, http: httpx.Client) -> None:
    name = "coherence/manifest"
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(1_000)
    descriptors = [
        {"mediaType": media_type, "digest": push(http, cluster.writers[0], name, content), "size": len(content)}
        for media_type, content in (
            ("application/vnd.oci.image.config.v1+json", config),
            ("application/vnd.oci.image.layer.v1.tar", layer),
        )
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptors[0],
            "layers": descriptors[1:],
        }
    ).encode()
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    put = http.put(f"{cluster.writers[1].url}/v2/{name}/manifests/v1", content=manifest, headers=headers)
    assert put.status_code == 201, put.text
    digest = put.headers["Docker-Content-Digest"]
    for reader in cluster.readers:
        for _ in range(2):
            assert http.get(f"{reader.url}/v2/{name}/manifests/{digest}").content == manifest

    assert http.delete(f"{cluster.writers[0].url}/v2/{name}/manifests/{digest}").status_code == 202
    for reader in cluster.readers:
        assert http.head(f"{reader.url}/v2/{name}/manifests/{digest}").status_code == 404
        assert http.head(f"{reader.url}/v2/{name}/manifests/v1").status_code == 404
