"""The gateway of the auth variant (deploy/compose.auth.yml) on this host: deploy/auth/setup.sh makes the TLS key and
certificate, deploy/nginx/gateway.sh renders `listen ... ssl` with them and proxies /token to a token service (here
a stand-in that echoes what it was sent), and its healthcheck uses the plain loopback listener. The registry's own
routes are test_gateway.py's."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from registry_core.testing.servers import free_port, wait_for_port

NGINX = "/usr/sbin/nginx"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GATEWAY_SH = DEPLOY / "nginx" / "gateway.sh"
SETUP_SH = DEPLOY / "auth" / "setup.sh"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs(NGINX),
    pytest.mark.needs("openssl"),
]


class Echo(BaseHTTPRequestHandler):
    """The token service's stand-in: answers what it received, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("authorization"),
                "body": self.rfile.read(length).decode(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class TlsGateway:
    port: int
    check_port: int
    auth_dir: Path
    env: dict[str, str]

    @property
    def certificate(self) -> Path:
        return self.auth_dir / "gateway" / "tls.crt"

    def client(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.certificate)), timeout=10)


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("auth") / "secrets"
    subprocess.run(
        ["bash", str(SETUP_SH), "registry.example.com"],
        env={**os.environ, "AUTH_DIR": str(directory)},
        capture_output=True,
        timeout=60,
        check=True,
    )
    return directory


@pytest.fixture(scope="module")
def token_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, auth_dir: Path, token_service: str) -> Iterator[TlsGateway]:
    directory = tmp_path_factory.mktemp("gateway")
    port, check_port = free_port(), free_port()
    env = {
        **os.environ,
        # Nothing listens there: these tests never reach the registry's pools.
        "GATEWAY_SERVERS": "blob-read=127.0.0.1:9 blob-write=127.0.0.1:9",
        "GATEWAY_PREFIX": str(directory / "nginx"),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "GATEWAY_TLS_CERTIFICATE": str(auth_dir / "gateway" / "tls.crt"),
        "GATEWAY_TLS_KEY": str(auth_dir / "gateway" / "tls.key"),
        "GATEWAY_CHECK_PORT": str(check_port),
        "GATEWAY_TOKEN_SERVICE": token_service,
    }
    output = directory / "gateway.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen(["sh", str(GATEWAY_SH)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, "gateway.sh")
        yield TlsGateway(port, check_port, auth_dir, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def test_tls_with_the_generated_certificate_for_each_name(gateway: TlsGateway) -> None:
    context = ssl.create_default_context(cafile=str(gateway.certificate))
    for name in ("127.0.0.1", "localhost"):
        with httpx.Client(verify=context, timeout=10) as client:
            response = client.get(f"https://{name}:{gateway.port}/healthz")
        assert response.status_code == 200
    san = subprocess.run(
        ["openssl", "x509", "-in", str(gateway.certificate), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:registry.example.com" in san and "IP Address:127.0.0.1" in san
    with pytest.raises(httpx.ConnectError):  # a client that trusts nothing refuses the self-signed certificate
        httpx.get(f"https://127.0.0.1:{gateway.port}/healthz", timeout=10)
    plain = httpx.get(f"http://127.0.0.1:{gateway.port}/healthz", timeout=10)
    assert plain.status_code == 400, "the published port speaks TLS only"


def test_token_requests_reach_the_token_service_as_sent(gateway: TlsGateway) -> None:
    with gateway.client() as client:
        got = client.get(
            f"https://127.0.0.1:{gateway.port}/token",
            params={"service": "registry", "scope": "repository:alice/app:pull,push"},
            auth=("alice", "secret"),
        )
        posted = client.post(
            f"https://127.0.0.1:{gateway.port}/token",
            data={"grant_type": "password", "username": "alice", "password": "secret", "service": "registry"},
        )
        other = client.get(f"https://127.0.0.1:{gateway.port}/token/other")
    assert got.status_code == 200
    echo = got.json()
    assert echo["method"] == "GET"
    assert echo["path"] == "/token?service=registry&scope=repository%3Aalice%2Fapp%3Apull%2Cpush"
    assert echo["authorization"] == httpx.BasicAuth("alice", "secret")._auth_header
    assert posted.json()["method"] == "POST" and "grant_type=password" in posted.json()["body"]
    assert other.status_code == 404


def test_healthcheck_uses_the_plain_loopback_listener(gateway: TlsGateway) -> None:
    check = subprocess.run(["sh", str(GATEWAY_SH), "check"], env=gateway.env, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stderr
    # The plain listener is on loopback only, and GATEWAY_PORT does not matter with TLS.
    check = subprocess.run(
        ["sh", str(GATEWAY_SH), "check"], env={**gateway.env, "GATEWAY_PORT": "1"}, capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stderr


def test_without_a_token_service_or_tls_nothing_changes(auth_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_SERVERS"] = "blob-read=127.0.0.1:9 blob-write=127.0.0.1:9"
    rendered = subprocess.run(
        ["sh", str(GATEWAY_SH), "render"], env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert 'default ""; # GATEWAY_TOKEN_SERVICE' in rendered, "no token service: /token answers 404"
    assert re.findall(r"^\s*listen\s+([^;]*);", rendered, re.MULTILINE) == ["8080"]
    assert not re.search(r"^\s*ssl_", rendered, re.MULTILINE)

    half = {**env, "GATEWAY_TLS_CERTIFICATE": str(auth_dir / "gateway" / "tls.crt")}
    result = subprocess.run(["sh", str(GATEWAY_SH), "render"], env=half, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "needs both" in result.stderr
