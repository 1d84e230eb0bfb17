"""The compose stack's gateway on this host: /usr/sbin/nginx running deploy/nginx/gateway.conf (rendered by
deploy/nginx/gateway.sh with 127.0.0.1 ports instead of the stack's DNS names) in front of two blob-read and two
blob-write processes on one filesystem root and one Redis descriptor cache.

Checks the routing (reads to readers, writes and uploads to writers), skopeo round trips with identical digests,
that every request of an upload reaches one writer, and that an upload survives the loss of its writer: between
two chunks (the next one goes to the other writer) and in the middle of one (resumed from the Range it reports).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from images import OCI_INDEX, OCI_MANIFEST, OciLayout, Platform, build_image, build_index, sha256

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, RedisServer, free_port, start_registry, stop, wait_for_port

NGINX = "/usr/sbin/nginx"
REPO = Path(__file__).resolve().parents[2]
GATEWAY_SH = REPO / "deploy" / "nginx" / "gateway.sh"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.redis,
    pytest.mark.needs(NGINX),
]
needs_skopeo = pytest.mark.needs("skopeo")


# The gateway's log_format: ... "$request" $status ... upstream=$upstream_addr upstream_status=...
LOG_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[\d.]+" (?P<status>\d+) .* upstream=(?P<upstream>.*?) upstream_status='
)


@dataclass(frozen=True)
class Logged:
    method: str
    uri: str
    status: int
    upstreams: list[str]
    """Every server nginx tried, in order (more than one after a failure)."""


@dataclass
class Gateway:
    url: str
    readers: list[Process]
    writers: list[Process]
    nginx: subprocess.Popen[bytes]
    prefix: Path
    stopped: list[Process] = field(default_factory=list)

    def log(self) -> list[Logged]:
        lines = (self.prefix / "access.log").read_text().splitlines()
        return [
            Logged(m["method"], m["uri"], int(m["status"]), m["upstream"].split(", "))
            for m in map(LOG_LINE.search, lines)
            if m
        ]

    def served(self, fragment: str, count: int = 1) -> list[Logged]:
        """The logged requests whose URI contains ``fragment``, once there are at least ``count`` of them (nginx
        logs a request after its response is sent, so the client may see the response first)."""
        deadline = time.monotonic() + 10
        while True:
            entries = [entry for entry in self.log() if fragment in entry.uri]
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)

    def writer_at(self, address: str) -> Process:
        return next(w for w in self.writers if f"127.0.0.1:{w.port}" == address)

    def kill(self, process: Process) -> None:
        process.proc.kill()
        process.proc.wait(10)
        self.stopped.append(process)


def start_gateway(directory: Path, redis: RedisServer, readers: int = 2, writers: int = 2) -> Gateway:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yml"
    config.write_text(filesystem_config(directory / "root", redis.addr))
    started: list[Process] = []
    try:
        for _ in range(readers):
            started.append(start_registry("blob-read", config, directory))
        for _ in range(writers):
            started.append(start_registry("blob-write", config, directory))
        port = free_port()
        addresses = {
            "blob-read": ",".join(f"127.0.0.1:{p.port}" for p in started[:readers]),
            "blob-write": ",".join(f"127.0.0.1:{p.port}" for p in started[readers:]),
        }
        env = {
            **os.environ,
            "GATEWAY_SERVERS": " ".join(f"{name}={value}" for name, value in addresses.items()),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        }
        rendered = subprocess.run(
            ["sh", str(GATEWAY_SH), "render"], env=env, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        prefix = directory / "nginx"
        prefix.mkdir()
        (prefix / "gateway.conf").write_text(rendered)
        with open(prefix / "nginx.log", "wb") as out:
            nginx = subprocess.Popen(
                [NGINX, "-p", f"{prefix}/", "-c", str(prefix / "gateway.conf"), "-e", "stderr", "-g", "daemon off;"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, nginx, "nginx")
        except RuntimeError as exc:
            stop(nginx)
            raise RuntimeError(f"{exc}\n{(prefix / 'nginx.log').read_text()}") from None
    except BaseException:
        for process in started:
            stop(process.proc)
        raise
    return Gateway(f"http://127.0.0.1:{port}", started[:readers], started[readers:], nginx, prefix)


def stop_gateway(gateway: Gateway) -> None:
    stop(gateway.nginx)
    for process in [*gateway.readers, *gateway.writers]:
        stop(process.proc)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Gateway]:
    running = start_gateway(tmp_path_factory.mktemp("gateway"), redis_server)
    yield running
    stop_gateway(running)


@pytest.fixture
def own_gateway(tmp_path: Path, redis_server: RedisServer) -> Iterator[Gateway]:
    """A gateway and processes of the test's own, for tests that kill a writer."""
    running = start_gateway(tmp_path / "gateway", redis_server)
    yield running
    stop_gateway(running)


def skopeo(*args: str) -> str:
    result = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"skopeo {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result.stdout


@needs_skopeo
def test_skopeo_round_trips_through_the_gateway(gateway: Gateway, tmp_path: Path) -> None:
    host = gateway.url.removeprefix("http://")
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=4, layer_size=300 * 1024)
    index = build_index(source, tag="multi", platforms=[Platform("linux", "amd64"), Platform("linux", "arm64")])
    remote = f"docker://{host}/gw/skopeo"
    digest_file = tmp_path / "digest"
    skopeo("copy", "--dest-tls-verify=false", "--digestfile", str(digest_file), f"oci:{source.root}:v1", f"{remote}:v1")
    assert digest_file.read_text().strip() == image["digest"]
    skopeo("copy", "--all", "--dest-tls-verify=false", "--digestfile", str(digest_file), f"oci:{source.root}:multi",
           f"{remote}:multi")  # fmt: skip
    assert digest_file.read_text().strip() == index["digest"]

    out = OciLayout(tmp_path / "out")
    skopeo("copy", "--src-tls-verify=false", f"{remote}:v1", f"oci:{out.root}:v1")
    skopeo("copy", "--all", "--src-tls-verify=false", f"{remote}:multi", f"oci:{out.root}:multi")
    assert out.tagged("v1")["digest"] == image["digest"]
    assert out.tagged("multi")["digest"] == index["digest"]
    manifests = [image, *json.loads(source.blob(index["digest"]))["manifests"]]
    for manifest in manifests:
        assert out.blob(manifest["digest"]) == source.blob(manifest["digest"])
        for layer in json.loads(out.blob(manifest["digest"]))["layers"]:
            assert sha256(out.blob(layer["digest"])) == layer["digest"]
    response = httpx.get(f"{gateway.url}/v2/gw/skopeo/manifests/multi", headers={"Accept": OCI_INDEX})
    assert response.headers["docker-content-digest"] == index["digest"]

    # The routing: reads to the readers, writes and uploads to the writers.
    readers = {f"127.0.0.1:{p.port}" for p in gateway.readers}
    writers = {f"127.0.0.1:{p.port}" for p in gateway.writers}
    logged = gateway.served("/v2/gw/skopeo/", 20)
    assert {e.method for e in logged} >= {"HEAD", "GET", "POST", "PATCH", "PUT"}
    for entry in logged:
        upload = "/blobs/uploads/" in entry.uri
        pool = writers if upload or entry.method not in ("GET", "HEAD") else readers
        assert set(entry.upstreams) <= pool, entry


def test_requests_of_an_upload_reach_one_writer(gateway: Gateway) -> None:
    """20 chunked uploads: each one's requests on a single writer, and both writers used (the hash spreads)."""
    chunks = [os.urandom(100_000) for _ in range(3)]
    content = b"".join(chunks)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    ids = []
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for _ in range(20):
            start = client.post("/v2/gw/hash/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = start.headers["location"]
            assert location.startswith("/v2/gw/hash/blobs/uploads/"), "Locations are relative: the gateway's"
            ids.append(location.rsplit("/", 1)[1])
            offset = 0
            for chunk in chunks:
                headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
                patched = client.patch(location, content=chunk, headers=headers)
                assert patched.status_code == 202, patched.text
                offset += len(chunk)
            assert client.get(location).headers["range"] == f"0-{offset - 1}"
            assert client.put(location, params={"digest": digest}).status_code == 201
        assert client.get(f"/v2/gw/hash/blobs/{digest}").content == content

    used = set()
    for upload_id in ids:
        requests = gateway.served(upload_id, 5)
        assert [e.method for e in requests] == ["PATCH", "PATCH", "PATCH", "GET", "PUT"]
        writers = {address for e in requests for address in e.upstreams}
        assert len(writers) == 1, f"upload {upload_id} was served by {writers}"
        used |= writers
    assert used == {f"127.0.0.1:{w.port}" for w in gateway.writers}, "the hash sent every upload to one writer"


def start_upload(client: httpx.Client, repository: str) -> str:
    response = client.post(f"/v2/{repository}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


def patch(client: httpx.Client, location: str, chunk: bytes, offset: int) -> httpx.Response:
    return client.patch(location, content=chunk, headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"})


def test_upload_continues_on_the_other_writer_when_its_writer_dies(own_gateway: Gateway) -> None:
    gateway = own_gateway
    chunks = [os.urandom(1_000_000) for _ in range(4)]
    content = b"".join(chunks)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        location = start_upload(client, "gw/failover")
        upload_id = location.rsplit("/", 1)[1]
        for i in range(2):
            assert patch(client, location, chunks[i], i * len(chunks[0])).status_code == 202
        (first,) = {address for e in gateway.served(upload_id, 2) for address in e.upstreams}
        gateway.kill(gateway.writer_at(first))

        for i in range(2, 4):
            response = patch(client, location, chunks[i], i * len(chunks[0]))
            assert response.status_code == 202, response.text
            assert response.headers["range"] == f"0-{(i + 1) * len(chunks[0]) - 1}"
        assert client.put(location, params={"digest": digest}).status_code == 201  # the hasher is rebuilt
        assert client.get(f"/v2/gw/failover/blobs/{digest}").content == content

    after = gateway.served(upload_id, 5)[2:]
    assert [e.method for e in after] == ["PATCH", "PATCH", "PUT"]
    assert all(e.upstreams[-1] != first for e in after), "requests after the kill went to the dead writer"
    assert first in after[0].upstreams, "the first request after the kill tried the dead writer, then the other"


def test_upload_resumes_after_its_writer_dies_mid_chunk(own_gateway: Gateway) -> None:
    """The writer dies while a chunk streams in: the client sees the failure, asks the upload's progress (served
    by the other writer from shared storage), sends the rest from there, and the blob is intact."""
    gateway = own_gateway
    piece = 256 * 1024
    content = os.urandom(40 * piece)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        location = start_upload(client, "gw/midchunk")
        upload_id = location.rsplit("/", 1)[1]
        assert patch(client, location, content[: 4 * piece], 0).status_code == 202
        (first,) = {address for e in gateway.served(upload_id) for address in e.upstreams}
        writer = gateway.writer_at(first)

        def body() -> Iterator[bytes]:
            for i in range(4, 40):
                if i == 20:
                    time.sleep(0.5)  # let the first pieces reach the writer, then kill it
                    gateway.kill(writer)
                yield content[i * piece : (i + 1) * piece]
                time.sleep(0.01)

        try:
            failed = client.patch(location, content=body(), headers={"Content-Type": "application/octet-stream"})
            assert failed.status_code >= 500, "a chunk whose writer died cannot have succeeded"
        except httpx.TransportError:
            pass  # the gateway may close the connection instead of answering
        assert writer.proc.poll() is not None

        status = client.get(location)
        assert status.status_code == 204, status.text
        received = int(status.headers["range"].split("-")[1]) + 1
        assert 4 * piece <= received < len(content)
        response = patch(client, location, content[received:], received)
        assert response.status_code == 202, response.text
        assert client.put(location, params={"digest": digest}).status_code == 201
        blob = client.get(f"/v2/gw/midchunk/blobs/{digest}")
        assert blob.status_code == 200 and blob.content == content
    assert all(first not in e.upstreams for e in gateway.served(upload_id, 5)[-3:])


def test_manifest_and_blob_routes(gateway: Gateway) -> None:
    """Writes outside uploads (a manifest put, deletes) go to writers; an unknown path is the gateway's 404."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = sha256(config)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        assert (
            client.post("/v2/gw/routes/blobs/uploads/", params={"digest": config_digest}, content=config).status_code
            == 201
        )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        put = client.put("/v2/gw/routes/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST})
        assert put.status_code == 201, put.text
        assert client.get("/v2/gw/routes/manifests/v1", headers={"Accept": OCI_MANIFEST}).content == manifest
        assert client.delete(f"/v2/gw/routes/manifests/{sha256(manifest)}").status_code == 202
        assert client.get("/v2/gw/routes/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 404
        assert client.get("/elsewhere").status_code == 404
        assert client.get("/healthz").text == "ok\n"
    writers = {f"127.0.0.1:{w.port}" for w in gateway.writers}
    for entry in gateway.served("/v2/gw/routes/", 5):
        if entry.method in ("POST", "PUT", "DELETE"):
            assert set(entry.upstreams) <= writers, entry


def test_the_gateways_request_id_reaches_the_services(gateway: Gateway) -> None:
    """nginx's ``$request_id`` replaces the client's X-Request-Id: the service answers it, the access log has it."""
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        ids = [
            client.get("/v2/gw/ids/tags/list", headers={"X-Request-Id": "chosen-by-the-client"}).headers["x-request-id"]
            for _ in range(2)
        ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1], ids
    gateway.served("/v2/gw/ids/", 2)
    log = (gateway.prefix / "access.log").read_text()
    assert all(f"request_id={i}" in log for i in ids)
