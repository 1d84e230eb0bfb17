"""``http.tls``: ``registry serve all`` over HTTPS with certificates made by ``openssl`` for the session.

Blob bodies bypass uvicorn's transport when they can (``registry_server.zerocopy``); under TLS they must not,
so the blob pulls below are checked byte for byte, large enough for the file-sending path, whole and by Range.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from images import OciLayout, build_image

from registry_core.testing.certs import KeyPair, self_signed, signed_by
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, registry_command, start_registry, stop

pytestmark = [pytest.mark.integration, pytest.mark.needs("openssl")]

READY_TIMEOUT = 30.0
BIG = 8 * 1024 * 1024 + 123  # several sendfile pieces and an odd tail


@dataclass(frozen=True)
class Certs:
    directory: Path
    server: KeyPair
    client_ca: KeyPair
    other_ca: KeyPair
    second_ca: KeyPair
    client: KeyPair
    second_client: KeyPair
    stranger: KeyPair


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory = tmp_path_factory.mktemp("certs")
    client_ca = self_signed(directory, "client-ca", ca=True)
    second_ca = self_signed(directory, "second-ca", ca=True)
    other_ca = self_signed(directory, "other-ca", ca=True)
    return Certs(
        directory=directory,
        server=self_signed(directory, "server"),
        client_ca=client_ca,
        second_ca=second_ca,
        other_ca=other_ca,
        client=signed_by(client_ca, directory, "client"),
        second_client=signed_by(second_ca, directory, "second-client"),
        stranger=signed_by(other_ca, directory, "stranger"),
    )


@dataclass(frozen=True)
class TlsRegistry:
    url: str
    process: Process

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]


def client_context(certs: Certs, cert: KeyPair | None = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.server.cert))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    if maximum is not None:
        context.maximum_version = maximum
    return context


@pytest.fixture
def https_registry(tmp_path: Path, certs: Certs) -> Iterator[Any]:
    """A factory: ``registry serve all`` with ``http.tls`` = the server certificate plus ``tls`` options."""
    started: list[Process] = []

    def start(ready_context: ssl.SSLContext | None = None, **tls: Any) -> TlsRegistry:
        port = free_port()
        directory = tmp_path / f"registry-{port}"
        directory.mkdir()
        http = {
            "addr": f"127.0.0.1:{port}",
            "tls": {"certificate": str(certs.server.cert), "key": str(certs.server.key), **tls},
        }
        config = directory / "config.yml"
        config.write_text(filesystem_config(directory / "data", log_level="info", http=http))
        process = start_registry("all", config, directory, port=port)
        started.append(process)
        url = f"https://127.0.0.1:{port}"
        wait_ready(url, ready_context or client_context(certs), process)
        return TlsRegistry(url, process)

    yield start
    for process in started:
        stop(process.proc)


def wait_ready(url: str, context: ssl.SSLContext, process: Process) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and process.proc.poll() is None:
        try:
            if httpx.get(f"{url}/v2/", verify=context, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer GET /v2/\n{process.output()[-4000:]}")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- HTTPS: the API, blobs byte for byte, skopeo ------------------------------------------------------------------


def test_https_serves_the_api_and_refuses_plain_http(https_registry: Any, certs: Certs) -> None:
    registry = https_registry()
    response = httpx.get(f"{registry.url}/v2/", verify=client_context(certs))
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    with pytest.raises(httpx.ConnectError):  # not trusted without the CA
        httpx.get(f"{registry.url}/v2/", verify=ssl.create_default_context())
    with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
        httpx.get(f"http://{registry.host}/v2/", timeout=5)


def test_blobs_round_trip_byte_for_byte_over_https(https_registry: Any, certs: Certs) -> None:
    registry = https_registry()
    big = os.urandom(BIG)
    chunked = os.urandom(3 * 1024 * 1024 + 7)
    with httpx.Client(base_url=registry.url, verify=client_context(certs), timeout=60) as client:
        # monolithic: POST ?digest=
        response = client.post(f"/v2/tls/big/blobs/uploads/?digest={digest_of(big)}", content=big)
        assert response.status_code == 201, response.text
        # chunked: POST, two PATCHes with Content-Range, PUT ?digest=
        location = client.post("/v2/tls/chunked/blobs/uploads/").headers["location"]
        half = len(chunked) // 2
        for start, piece in ((0, chunked[:half]), (half, chunked[half:])):
            headers = {"Content-Range": f"{start}-{start + len(piece) - 1}", "Content-Type": "application/octet-stream"}
            response = client.patch(location, content=piece, headers=headers)
            assert response.status_code == 202, response.text
            location = response.headers["location"]
        separator = "&" if "?" in location else "?"
        assert client.put(f"{location}{separator}digest={digest_of(chunked)}").status_code == 201

        for name, data in (("big", big), ("chunked", chunked)):
            for _ in range(2):  # a cold and a warm descriptor cache
                response = client.get(f"/v2/tls/{name}/blobs/{digest_of(data)}")
                assert response.status_code == 200
                assert int(response.headers["content-length"]) == len(data)
                assert response.content == data
        start, end = 1_000_001, BIG - 17
        response = client.get(f"/v2/tls/big/blobs/{digest_of(big)}", headers={"Range": f"bytes={start}-{end}"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {start}-{end}/{BIG}"
        assert response.content == big[start : end + 1]
        # the connection is still in step after the file bodies (keep-alive)
        assert client.get("/v2/").status_code == 200


@pytest.mark.needs("skopeo")
def test_skopeo_copies_to_and_from_https_with_a_cert_dir(https_registry: Any, certs: Certs, tmp_path: Path) -> None:
    registry = https_registry()
    cert_dir = tmp_path / "certs.d"
    cert_dir.mkdir()
    shutil.copy(certs.server.cert, cert_dir / "ca.crt")  # skopeo trusts *.crt of the directory as CAs
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=2, layer_size=2 * 1024 * 1024)
    remote = f"docker://{registry.host}/tls/skopeo:v1"
    skopeo("copy", "--dest-cert-dir", str(cert_dir), f"oci:{source.root}:v1", remote)
    skopeo("copy", "--src-cert-dir", str(cert_dir), remote, f"oci:{tmp_path / 'back'}:v1")
    back = OciLayout(tmp_path / "back")
    index = json.loads((back.root / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image["digest"]
    manifest = json.loads(source.blob(image["digest"]))
    for layer in manifest["layers"]:
        assert back.blob(layer["digest"]) == source.blob(layer["digest"])


def skopeo(*args: str) -> None:
    result = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]


# -- mutual TLS ---------------------------------------------------------------------------------------------------


def test_client_certificates_from_listed_cas_only(https_registry: Any, certs: Certs) -> None:
    registry = https_registry(
        ready_context=client_context(certs, certs.client),
        clientcas=[str(certs.client_ca.cert), str(certs.second_ca.cert)],
    )
    for pair in (certs.client, certs.second_client):  # either listed CA will do
        assert httpx.get(f"{registry.url}/v2/", verify=client_context(certs, pair)).status_code == 200
    for pair in (None, certs.stranger):  # none, or one from a CA not listed
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{registry.url}/v2/", verify=client_context(certs, pair)).raise_for_status()


# -- protocol versions --------------------------------------------------------------------------------------------


def test_minimum_tls_version(https_registry: Any, certs: Certs) -> None:
    default = https_registry()  # tls1.2, as the Go registry 2.8
    tls12 = client_context(certs, maximum=ssl.TLSVersion.TLSv1_2)
    assert httpx.get(f"{default.url}/v2/", verify=tls12).status_code == 200

    strict = https_registry(minimumtls="tls1.3")
    assert httpx.get(f"{strict.url}/v2/", verify=client_context(certs)).status_code == 200  # negotiates 1.3
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{strict.url}/v2/", verify=tls12)


# -- start-up failures --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"key": "{dir}/missing.key"}, "http.tls.key: cannot read"),
        ({"key": "{dir}/client.key"}, "http.tls.key:"),  # another certificate's key
        ({"certificate": "{dir}/server.key"}, "http.tls.certificate:"),
        ({"letsencrypt": {"email": "a@b.c"}}, "http.tls.letsencrypt: is not implemented"),
        ({"minimumtls": "tls1.4"}, "http.tls.minimumtls:"),
    ],
    ids=["unreadable-key", "mismatching-key", "not-a-certificate", "letsencrypt", "bad-version"],
)
def test_bad_tls_settings_stop_start_up_naming_the_key(
    tls: dict[str, Any], message: str, certs: Certs, tmp_path: Path
) -> None:
    settings = {"certificate": str(certs.server.cert), "key": str(certs.server.key)}
    settings |= {k: v.format(dir=certs.directory) if isinstance(v, str) else v for k, v in tls.items()}
    config = tmp_path / "config.yml"
    config.write_text(filesystem_config(tmp_path / "data", http={"addr": "127.0.0.1:1", "tls": settings}))
    result = subprocess.run(
        [registry_command(), "serve", "all", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "PRIVATE KEY" not in result.stderr and "BEGIN" not in result.stderr  # names files, never contents
