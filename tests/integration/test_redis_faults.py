"""Redis failing under a split deployment (two blob-write, three blob-read processes, the descriptor-cache service):
frozen (SIGSTOP) or killed, every reader still answers HEAD and GET correctly and without hanging, pushes and
deletes still succeed; the descriptor-cache service reports itself unhealthy; when Redis is back, caching
resumes. Redis holds only what can be rebuilt: losing it makes requests slower, never failed or wrong."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from registry_core.testing.cluster import SPLIT, Cluster, metric, start_cluster
from registry_core.testing.servers import Process

pytestmark = pytest.mark.integration

BOUND = 2.0
"""Seconds any one request may take while Redis is down: generous, only to tell "slower" from "hangs"."""
NAME = "faults/app"
HITS = "registry_descriptor_cache_hits_total"
PENDING = "registry_descriptor_cache_pending_clears"
ERRORS = "registry_descriptor_cache_errors_total"


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(tmp_path_factory.mktemp("faults"), SPLIT)
    try:
        yield running
    finally:
        if running.redis.proc.poll() is None:
            os.kill(running.redis.proc.pid, signal.SIGCONT)
        running.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def sha256(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def timed(http: httpx.Client, method: str, url: str, **options: object) -> httpx.Response:
    start = time.monotonic()
    response = http.request(method, url, **options)  # type: ignore[arg-type]
    elapsed = time.monotonic() - start
    assert elapsed < BOUND, f"{method} {url} took {elapsed:.2f}s"
    return response


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)


def push_monolithic(http: httpx.Client, writer: Process, content: bytes) -> str:
    digest = sha256(content)
    url = f"{writer.url}/v2/{NAME}/blobs/uploads/"
    response = timed(http, "POST", url, params={"digest": digest}, content=content)
    assert response.status_code == 201, response.text
    return digest


def push_chunked(http: httpx.Client, writer: Process, content: bytes) -> str:
    digest = sha256(content)
    location = timed(http, "POST", f"{writer.url}/v2/{NAME}/blobs/uploads/").headers["Location"]
    headers = {"Content-Range": f"0-{len(content) - 1}", "Content-Type": "application/octet-stream"}
    assert timed(http, "PATCH", f"{writer.url}{location}", content=content, headers=headers).status_code == 202
    assert timed(http, "PUT", f"{writer.url}{location}", params={"digest": digest}).status_code == 201
    return digest


def push_through_every_writer(http: httpx.Client, cluster: Cluster) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    for writer in cluster.writers:
        for push in (push_monolithic, push_chunked):
            content = os.urandom(50_000)
            blobs[push(http, writer, content)] = content
    return blobs


def assert_served(http: httpx.Client, cluster: Cluster, blobs: dict[str, bytes]) -> None:
    for reader in cluster.readers:
        for digest, content in blobs.items():
            url = f"{reader.url}/v2/{NAME}/blobs/{digest}"
            head = timed(http, "HEAD", url)
            assert head.status_code == 200 and head.headers["Content-Length"] == str(len(content))
            got = timed(http, "GET", url)
            assert got.status_code == 200 and got.content == content


def assert_unknown(http: httpx.Client, cluster: Cluster, digest: str) -> None:
    for reader in cluster.readers:
        assert timed(http, "HEAD", f"{reader.url}/v2/{NAME}/blobs/{digest}").status_code == 404
        assert timed(http, "GET", f"{reader.url}/v2/{NAME}/blobs/{digest}").status_code == 404


def warm(http: httpx.Client, cluster: Cluster) -> dict[str, bytes]:
    """Blobs every reader has cached (served twice everywhere)."""
    blobs = push_through_every_writer(http, cluster)
    assert_served(http, cluster, blobs)
    assert_served(http, cluster, blobs)
    return blobs


def delete(http: httpx.Client, writer: Process, digest: str) -> None:
    assert timed(http, "DELETE", f"{writer.url}/v2/{NAME}/blobs/{digest}").status_code == 202


def assert_everything_still_works(http: httpx.Client, cluster: Cluster, cached: dict[str, bytes]) -> list[str]:
    """With Redis out: serve what was cached, push and serve more, delete; return the deleted digests."""
    assert_served(http, cluster, cached)
    assert_unknown(http, cluster, sha256(b"never pushed"))
    pushed = push_through_every_writer(http, cluster)
    assert_served(http, cluster, pushed)
    deleted = [next(iter(cached)), next(iter(pushed))]
    for writer, digest in zip(cluster.writers, deleted, strict=True):
        delete(http, writer, digest)
    for digest in deleted:
        assert_unknown(http, cluster, digest)
    for process in (*cluster.readers, *cluster.writers):
        assert metric(process, ERRORS) > 0, f"{process.url} should have met the cache failing"
        logged = process.output().count("answering from storage")
        assert 1 <= logged <= 2, f"{process.url} logged {logged} cache failures: rate-limited to one a minute"
    return deleted


def assert_caching_resumes(http: httpx.Client, cluster: Cluster, deleted: list[str]) -> None:
    """Once Redis is back: the clears missed meanwhile are made, deletes stay deleted, and readers hit again."""
    wait_until(lambda: all(metric(w, PENDING) == 0 for w in cluster.writers), "writers flushing their missed clears")
    for digest in deleted:
        assert_unknown(http, cluster, digest)
    blobs = {push_monolithic(http, cluster.writers[0], content := os.urandom(1_000)): content}
    for reader in cluster.readers:
        hits = metric(reader, HITS)

        def hit_again(reader: Process = reader, hits: float = hits) -> bool:
            assert_served(http, cluster, blobs)
            return metric(reader, HITS) > hits

        wait_until(hit_again, f"{reader.url} answering from the cache again")


def test_a_frozen_redis_slows_requests_down_but_fails_none(cluster: Cluster, http: httpx.Client) -> None:
    cached = warm(http, cluster)
    os.kill(cluster.redis.proc.pid, signal.SIGSTOP)
    try:
        deleted = assert_everything_still_works(http, cluster, cached)
    finally:
        os.kill(cluster.redis.proc.pid, signal.SIGCONT)
    assert_caching_resumes(http, cluster, deleted)


def test_a_killed_redis_fails_no_request_and_the_descriptor_cache_reports_it(
    cluster: Cluster, http: httpx.Client
) -> None:
    cached = warm(http, cluster)
    healthz = f"{cluster.descriptor_cache.url}/healthz"
    assert http.get(healthz).status_code == 200
    readers = [f"{reader.url}/healthz" for reader in cluster.readers]  # with the remote and the redis cache
    assert [http.get(r).json()["status"] for r in readers] == ["ok"] * len(readers)
    cluster.redis.proc.kill()
    cluster.redis.proc.wait()

    deleted = assert_everything_still_works(http, cluster, cached)
    unhealthy = http.get(healthz)
    assert unhealthy.status_code == 503
    assert unhealthy.json()["status"] == "unhealthy" and unhealthy.json()["checks"]["redis"] != "ok"
    for reader in readers:  # still serving (from storage), so still in the pool: degraded, not unhealthy
        degraded = http.get(reader)
        assert degraded.status_code == 200, degraded.text
        assert degraded.json()["status"] == "degraded" and degraded.json()["checks"]["descriptorcache"] != "ok"
        assert degraded.json()["checks"]["storage"] == "ok"

    cluster.restart_redis()
    wait_until(lambda: http.get(healthz).status_code == 200, "descriptor-cache healthy again")
    wait_until(lambda: all(http.get(r).json()["status"] == "ok" for r in readers), "readers no longer degraded")
    assert_caching_resumes(http, cluster, deleted)
