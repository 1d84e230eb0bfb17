"""Losing parts of the stack: a writer killed in the middle of a large push, Redis stopped and started again,
the readers restarted one at a time under a pull loop."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_stack import run
from images import OciLayout, build_image, sha256

if TYPE_CHECKING:
    from e2e_stack import Stack

pytestmark = pytest.mark.e2e

BIG_LAYER_MIB = 220
PUSH_TIMEOUT = 900.0


def rx_bytes(container: str) -> int:
    """Bytes the container has received on its network interface."""
    return int(run(["docker", "exec", container, "cat", "/sys/class/net/eth0/statistics/rx_bytes"]).strip())


def test_writer_killed_during_a_large_push(stack: Stack, tmp_path: Path, docker_images: list[str]) -> None:
    """docker push of a 220 MiB layer; the writer receiving it is killed midway. docker retries the layer, the
    gateway sends the retry to the other writer, the push completes and the image pulls back intact."""
    tag = f"{stack.host}/e2e/big:1"
    docker_images.append(tag)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {stack.base_image}\n"
        f"RUN head -c {BIG_LAYER_MIB}M /dev/urandom > /big && sha256sum /big > /big.sha256\n"
        'CMD ["sha256sum", "-c", "/big.sha256"]\n'
    )
    run(["docker", "build", "-q", "--force-rm", "-t", tag, str(tmp_path)], timeout=600)
    writers = stack.wait_healthy("blob-write", 2)
    before = {w: rx_bytes(w) for w in writers}

    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    log = tmp_path / "push.log"
    with open(log, "w") as out:
        push = subprocess.Popen(["docker", "push", tag], stdout=out, stderr=subprocess.STDOUT, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None and push.poll() is None and time.monotonic() < deadline:
            for writer in writers:  # the writer that has received 40 MB of this push holds the big layer
                if rx_bytes(writer) - before[writer] > 40 * 1024 * 1024:
                    run(["docker", "kill", writer])
                    killed = writer
                    break
            time.sleep(0.2)
        assert killed is not None, f"no writer received the layer (push exited {push.poll()}):\n{log.read_text()}"
        assert push.wait(PUSH_TIMEOUT) == 0, f"the push failed:\n{log.read_text()}"
    finally:
        if push.poll() is None:
            push.kill()
        if killed is not None:  # back to two writers for the other tests
            run(["docker", "start", killed])
    pushed = log.read_text()
    gateway = stack.gateway_log(since)
    assert "Retrying" in pushed or " 502 " in gateway, f"the kill interrupted nothing:\n{pushed}"

    run(["docker", "rmi", tag])
    run(["docker", "pull", tag], timeout=PUSH_TIMEOUT)
    assert run(["docker", "run", "--rm", "--network", "none", tag], timeout=120).strip() == "/big: OK"
    stack.wait_healthy("blob-write", 2)


def pushed_image(stack: Stack, tmp_path: Path, repository: str) -> tuple[OciLayout, dict[str, str]]:
    layout = OciLayout(tmp_path / repository.replace("/", "-"))
    image = build_image(layout, tag="v1", layers=3, layer_size=256 * 1024)
    run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            f"oci:{layout.root}:v1",
            f"docker://{stack.host}/{repository}:v1",
        ],
        timeout=300,
    )
    return layout, image


def pull(stack: Stack, repository: str, destination: Path) -> None:
    run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            f"docker://{stack.host}/{repository}:v1",
            f"oci:{destination}:v1",
        ],
        timeout=300,
    )


def layer_digests(layout: OciLayout, image: dict[str, str]) -> list[str]:
    manifest = json.loads(layout.blob(image["digest"]))
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def redis_keys(stack: Stack) -> int:
    (redis,) = stack.containers("redis")
    return int(run(["docker", "exec", redis, "redis-cli", "dbsize"]).strip())


def test_redis_stopped_then_started(stack: Stack, tmp_path: Path) -> None:
    """Without Redis, pulls (and stats) answer from storage; with Redis back, the cache fills again."""
    layout, image = pushed_image(stack, tmp_path, "e2e/redis")
    digests = layer_digests(layout, image)
    stack.compose("stop", "redis", timeout=120)
    try:
        for attempt in range(3):
            pull(stack, "e2e/redis", tmp_path / f"pull-without-redis-{attempt}")
            for digest in digests:
                head = httpx.head(f"{stack.gateway}/v2/e2e/redis/blobs/{digest}", timeout=30)
                assert head.status_code == 200 and head.headers["docker-content-digest"] == digest
        assert OciLayout(tmp_path / "pull-without-redis-0").tagged("v1")["digest"] == image["digest"]
    finally:
        stack.compose("start", "redis", timeout=120)
    stack.wait_healthy("redis", 1)
    assert redis_keys(stack) == 0, "a restarted Redis starts empty (no persistence)"

    deadline = time.monotonic() + 60
    while redis_keys(stack) == 0:  # the descriptor cache reconnects and fills again
        assert time.monotonic() < deadline, "caching did not resume within 60 s of Redis coming back"
        for digest in digests:
            assert httpx.head(f"{stack.gateway}/v2/e2e/redis/blobs/{digest}", timeout=30).status_code == 200
        time.sleep(1)
    pull(stack, "e2e/redis", tmp_path / "pull-with-redis")
    stack.wait_healthy("descriptor-cache", 1)


class ReplayingTransport(httpx.HTTPTransport):
    """Sends a GET again, once, when the server closed a kept-alive connection without answering it, as Go's
    net/http does for a request without a body on a reused connection (docker, containerd and skopeo pull through
    it; RFC 9112 §9.3.1 allows it): a gateway that reloads closes its idle client connections, and a request
    already on its way meets the close. httpx does not replay."""

    def __init__(self) -> None:
        super().__init__()
        self.replayed: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.RemoteProtocolError as exc:
            if request.method != "GET" or "without sending a response" not in str(exc):
                raise
            self.replayed.append(request.url.path)
            return super().handle_request(request)


def addresses(containers: list[str]) -> set[str]:
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    return {address for c in containers for address in run(["docker", "inspect", "-f", template, c]).split()}


def gateway_reloads(log: str) -> list[dict[str, set[str]]]:
    """The upstreams of each reload in the gateway's log ("gateway: upstreams changed, reloading: name=a,b ...")."""
    marker = "upstreams changed, reloading: "
    return [
        {name: set(filter(None, listed.split(","))) for name, _, listed in (e.partition("=") for e in line.split())}
        for line in (line.split(marker, 1)[1] for line in log.splitlines() if marker in line)
    ]


def test_readers_restarted_one_at_a_time_under_a_pull_loop(stack: Stack, tmp_path: Path, report: list[str]) -> None:
    """Every pull succeeds while each reader is restarted in turn; and a reader back with its address costs the
    gateway no reload (deploy/nginx/gateway.sh holds an address that leaves the DNS for a while)."""
    layout, image = pushed_image(stack, tmp_path, "e2e/rolling")
    blobs = {digest: layout.blob(digest) for digest in layer_digests(layout, image)}
    readers = stack.wait_healthy("blob-read", 2)
    addresses_before = addresses(readers)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    stop = threading.Event()
    pulls: list[str] = []
    failures: list[str] = []
    transport = ReplayingTransport()

    def pull_loop() -> None:
        with httpx.Client(base_url=stack.gateway, timeout=30, follow_redirects=True, transport=transport) as client:
            while not stop.is_set():
                try:
                    manifest = client.get("/v2/e2e/rolling/manifests/v1", headers={"Accept": "*/*"})
                    if manifest.status_code != 200 or sha256(manifest.content) != image["digest"]:
                        failures.append(f"manifest: {manifest.status_code}")
                    for digest, content in blobs.items():
                        blob = client.get(f"/v2/e2e/rolling/blobs/{digest}")
                        if blob.status_code != 200 or blob.content != content:
                            failures.append(f"{digest}: {blob.status_code} {len(blob.content)} bytes")
                    pulls.append("ok")
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

    loop = threading.Thread(target=pull_loop, daemon=True)
    loop.start()
    try:
        time.sleep(2)
        for reader in readers:
            before = len(pulls)
            run(["docker", "restart", "-t", "10", reader], timeout=120)
            stack.wait_healthy("blob-read", 2)
            time.sleep(6)  # the gateway notices a changed address within 5 s
            assert len(pulls) > before, "the pull loop made no progress while a reader restarted"
    finally:
        stop.set()
        loop.join(60)
    assert not failures, f"{len(failures)} failed pulls of {len(pulls) + len(failures)}: {failures[:10]}"
    assert len(pulls) >= 10
    reloads = gateway_reloads(stack.gateway_log(since))
    if addresses(stack.wait_healthy("blob-read", 2)) == addresses_before:
        # Other reloads may fall in this window (a writer restarted by an earlier test with a new address).
        dropping = [upstreams for upstreams in reloads if upstreams.get("blob-read") != addresses_before]
        assert not dropping, f"the gateway reloaded without readers that kept their addresses: {dropping}"
    replayed = transport.replayed
    report.append(f"rolling restart: {len(pulls)} pulls, {len(reloads)} gateway reloads, GETs replayed: {replayed}")
