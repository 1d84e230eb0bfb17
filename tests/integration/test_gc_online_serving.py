"""Online garbage collection while the registry keeps serving: for 40 s, images that share a base layer are pushed
one after another, each push followed by the delete of the previous image, while pulls of the latest tag run, and
the purger's collector runs every second with a two-second grace. Once as ``registry serve all`` (one process), once
as two blob-write processes (pushes alternate between them), a blob-read process (the pulls) and two purgers, on one
Redis. No request fails, every pull is intact, and afterwards the deleted images' own layers are gone from the
storage while the base layer stays (the storage check passes: every blob hashes to its name, every link
resolves)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from storage_check import check_storage

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, start_registry, stop

pytestmark = pytest.mark.integration

REPOSITORY = "gc/online"
DURATION = 40.0
LAYER_SIZE = 64 * 1024
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Image:
    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def own_layer(self) -> str:
        return json.loads(self.manifest)["layers"][1]["digest"]


def make_image(base: bytes, number: int) -> Image:
    unique = os.urandom(LAYER_SIZE)
    config = json.dumps({"architecture": "amd64", "os": "linux", "number": number}).encode()
    blobs = {digest_of(b): b for b in (base, unique, config)}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(b), "size": len(b)}
            for b in (base, unique)
        ],
    }
    return Image(json.dumps(manifest).encode(), blobs)


def push(client: httpx.Client, image: Image, tag: str) -> None:
    for digest, data in image.blobs.items():
        if client.head(f"/v2/{REPOSITORY}/blobs/{digest}").status_code == 200:
            continue
        answer = client.post(f"/v2/{REPOSITORY}/blobs/uploads/", params={"digest": digest}, content=data)
        assert answer.status_code == 201, answer.text
    answer = client.put(
        f"/v2/{REPOSITORY}/manifests/{tag}", content=image.manifest, headers={"Content-Type": MANIFEST_TYPE}
    )
    assert answer.status_code == 201, answer.text


class BlobMissing(Exception):
    """A blob of a manifest just read could not be fetched: a failure only if ``latest`` still names it."""

    def __init__(self, digest: str, status: int) -> None:
        super().__init__(f"{digest}: status {status}")
        self.digest = digest


def latest_blobs(client: httpx.Client) -> tuple[str, list[str]]:
    answer = client.get(f"/v2/{REPOSITORY}/manifests/latest", headers={"Accept": MANIFEST_TYPE})
    assert answer.status_code == 200, answer.text
    manifest = json.loads(answer.content)
    return digest_of(answer.content), [d["digest"] for d in [manifest["config"], *manifest["layers"]]]


def pull_latest(client: httpx.Client) -> str:
    """The manifest ``latest`` names and every blob it references, each checked against its digest."""
    digest, blobs = latest_blobs(client)
    for blob_digest in blobs:
        blob = client.get(f"/v2/{REPOSITORY}/blobs/{blob_digest}", follow_redirects=True)
        if blob.status_code != 200:
            raise BlobMissing(blob_digest, blob.status_code)
        assert digest_of(blob.content) == blob_digest, f"{blob_digest}: wrong content"
    return digest


@dataclass
class Workload:
    failures: list[str] = field(default_factory=list)
    pushed: list[Image] = field(default_factory=list)
    pulls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    first_pushed: threading.Event = field(default_factory=threading.Event)


def pusher(urls: list[str], base: bytes, work: Workload) -> None:
    clients = [httpx.Client(base_url=url, timeout=30) for url in urls]
    try:
        number = 0
        while not work.stop.is_set():
            client = clients[number % len(clients)]
            image = make_image(base, number)
            try:
                push(client, image, "latest")
                if work.pushed:
                    previous = work.pushed[-1]
                    answer = client.delete(f"/v2/{REPOSITORY}/manifests/{previous.digest}")
                    assert answer.status_code == 202, answer.text
            except AssertionError as exc:
                work.failures.append(f"push {number}: {exc}")
            work.pushed.append(image)
            work.first_pushed.set()
            number += 1
            time.sleep(0.2)
    finally:
        for client in clients:
            client.close()


def puller(url: str, work: Workload) -> None:
    work.first_pushed.wait(30)
    with httpx.Client(base_url=url, timeout=30) as client:
        while not work.stop.is_set():
            try:
                pull_latest(client)
                work.pulls += 1
            except BlobMissing as exc:
                # The tag may move, and the image it named be deleted and collected, between reading the
                # manifest and fetching its blobs: a failure only if the image latest names now lacks the blob.
                if exc.digest in latest_blobs(client)[1]:
                    work.failures.append(f"pull: {exc}")
            except AssertionError as exc:
                work.failures.append(f"pull: {exc}")


@dataclass
class Topology:
    root: Path
    writers: list[Process]
    reader: Process
    collectors: list[Process]
    processes: list[Process]


def write_config(directory: Path, redis: str | None) -> Path:
    config = yaml.safe_load(filesystem_config(directory / "data", redis, log_level="info"))
    config["storage"]["maintenance"] = {
        "garbagecollect": {"enabled": True, "interval": "1s", "grace": "2s", "jitter": "0s"}
    }
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(params=["all-in-one", "split"])
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    if request.param == "all-in-one":
        server = start_registry("all", write_config(tmp_path, None), tmp_path)
        processes = [server]
        shape = Topology(tmp_path / "data", [server], server, [server], processes)
    else:
        redis = request.getfixturevalue("redis_server")
        config = write_config(tmp_path, redis.addr)
        writers = [start_registry("blob-write", config, tmp_path) for _ in range(2)]
        reader = start_registry("blob-read", config, tmp_path)
        collectors = [start_registry("purger", config, tmp_path) for _ in range(2)]
        processes = [*writers, reader, *collectors]
        shape = Topology(tmp_path / "data", writers, reader, collectors, processes)
    try:
        yield shape
    finally:
        for process in processes:
            stop(process.proc)


def blob_file(root: Path, digest: str) -> Path:
    algorithm, encoded = digest.split(":", 1)
    return root / "docker/registry/v2/blobs" / algorithm / encoded[:2] / encoded / "data"


def passes(collectors: list[Process]) -> float:
    total = 0.0
    for collector in collectors:
        for line in httpx.get(f"{collector.url}/metrics").text.splitlines():
            if line.startswith("registry_gc_passes_total "):
                total += float(line.split()[-1])
    return total


def test_pushes_deletes_and_pulls_never_fail_while_the_collector_runs(topology: Topology) -> None:
    base = os.urandom(LAYER_SIZE)
    work = Workload()
    threads = [
        threading.Thread(target=pusher, args=([w.url for w in topology.writers], base, work)),
        threading.Thread(target=puller, args=(topology.reader.url, work)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(DURATION)
    work.stop.set()
    for thread in threads:
        thread.join(60)

    assert work.failures == [], f"{len(work.failures)} failures, the first ones: {work.failures[:5]}"
    assert len(work.pushed) > 20 and work.pulls > 20
    assert passes(topology.collectors) > 5, "the collector should have run about every second"
    root = topology.root
    deadline = time.monotonic() + 30  # grace, then one more pass
    deleted = work.pushed[:-1]
    while time.monotonic() < deadline and any(blob_file(root, i.own_layer).exists() for i in deleted):
        time.sleep(0.5)
    assert [i.own_layer for i in deleted if blob_file(root, i.own_layer).exists()] == []
    assert blob_file(root, digest_of(base)).exists()
    with httpx.Client(base_url=topology.reader.url, timeout=30) as client:
        assert pull_latest(client) == work.pushed[-1].digest
    for process in topology.processes:
        stop(process.proc)
    check_storage(root)


GARBAGE = 4000


def plant_garbage(root: Path, count: int) -> list[Path]:
    """``count`` unreferenced blobs written straight into the storage, an hour old: all candidates at once."""
    old = time.time() - 3600
    planted = []
    for number in range(count):
        data = f"garbage {number}".encode()
        path = blob_file(root, digest_of(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (old, old))
        planted.append(path)
    return planted


def test_a_collector_killed_mid_sweep_is_finished_by_the_next_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)
    root = tmp_path / "data"
    writer = start_registry("blob-write", config, tmp_path)
    try:
        with httpx.Client(base_url=writer.url, timeout=30) as client:
            image = make_image(os.urandom(LAYER_SIZE), 0)
            push(client, image, "latest")
    finally:
        stop(writer.proc)
    planted = plant_garbage(root, GARBAGE)
    tombstones = root / "docker/registry/v2/_gc/deleting"

    collector = start_registry("purger", config, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(p.exists() for p in planted):
            time.sleep(0.005)
        collector.proc.kill()  # SIGKILL: no clean-up of any kind
        collector.proc.wait()
    finally:
        stop(collector.proc)
    left = [p for p in planted if p.exists()]
    assert 0 < len(left) < GARBAGE, "the kill should land in the middle of the sweep"
    check_storage(root)  # links before bytes: nothing dangling even now
    records = list((root / "docker/registry/v2/_gc/runs").rglob("*"))
    assert [r.name for r in records if r.is_file()], "the killed pass left its run record"
    old = time.time() - 3600  # later: its heartbeat has gone stale (10 minutes), another pass takes it for dead
    for record in records:
        os.utime(record, (old, old))

    collector = start_registry("purger", config, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            any(p.exists() for p in planted) or (tombstones.exists() and any(tombstones.rglob("*-*")))
        ):
            time.sleep(0.2)
    finally:
        stop(collector.proc)
    assert [p for p in planted if p.exists()] == []
    assert not tombstones.exists() or not any(tombstones.rglob("*-*")), "the next run removes what it finished"
    for digest in [image.digest, *image.blobs]:
        assert blob_file(root, digest).exists(), f"{digest} is referenced and must stay"
    check_storage(root)
