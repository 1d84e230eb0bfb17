"""``registry serve token`` as a real process: tokens over HTTP (Basic, anonymous, the OAuth2 grants), verified
against its certificate as a registry would, and a start-up refused when its key is missing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509

from registry_core.auth.tokens import TokenVerifier, VerifiedToken
from registry_core.testing.certs import KeyPair
from registry_core.testing.servers import Process, free_port, registry_command, start_registry, stop
from registry_core.testing.token_files import signing_pair, write_htpasswd

pytestmark = pytest.mark.integration

SERVICE = "registry.test"
ISSUER = "token.test"
RULES = [
    {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
    {"repository": "team/**", "users": ["puller"], "actions": ["pull"]},
    {"repository": "team/**", "users": ["pusher"], "actions": ["pull", "push"]},
]


@dataclass(frozen=True)
class TokenServer:
    process: Process
    pair: KeyPair

    @property
    def url(self) -> str:
        return f"{self.process.url}/token"

    def verify(self, token: str, audience: str = SERVICE) -> VerifiedToken:
        certificate = x509.load_pem_x509_certificate(self.pair.cert.read_bytes())
        return TokenVerifier(issuer=ISSUER, audience=audience, roots=[certificate]).verify(token)


def token_config(directory: Path, pair: KeyPair | None) -> Path:
    htpasswd = write_htpasswd(directory / "htpasswd", {"puller": "pull-pw", "pusher": "push-pw"})
    token = {"issuer": ISSUER, "service": SERVICE, "htpasswd": str(htpasswd), "access": RULES}
    if pair is not None:
        token |= {"key": str(pair.key), "certificate": str(pair.cert)}
    config = directory / "token.yml"
    config.write_text(yaml.safe_dump({"version": "0.1", "log": {"level": "info"}, "services": {"token": token}}))
    return config


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    directory = tmp_path_factory.mktemp("token")
    pair = signing_pair(directory, "token", kind="rsa")
    process = start_registry("token", token_config(directory, pair), directory, port=free_port())
    try:
        yield TokenServer(process, pair)
    finally:
        stop(process.proc)
        log = process.output()
        assert "push-pw" not in log and "pull-pw" not in log and "wrong-pw" not in log


def get_token(server: TokenServer, *scopes: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    params = [("service", SERVICE), *(("scope", scope) for scope in scopes)]
    return httpx.get(server.url, params=params, auth=auth, timeout=10)


def test_basic_credentials_get_the_intersection(token_server: TokenServer) -> None:
    response = get_token(token_server, "repository:team/app:pull,push", auth=("puller", "pull-pw"))
    assert response.status_code == 200, response.text
    verified = token_server.verify(response.json()["token"])
    assert verified.subject == "puller"
    assert verified.actions("repository", "team/app") == {"pull"}

    response = get_token(token_server, "repository:team/app:pull,push", auth=("pusher", "push-pw"))
    assert token_server.verify(response.json()["access_token"]).actions("repository", "team/app") == {"pull", "push"}


def test_anonymous_gets_only_the_anonymous_access(token_server: TokenServer) -> None:
    response = get_token(token_server, "repository:public/lib:pull,push", "repository:team/app:pull")
    assert response.status_code == 200, response.text
    verified = token_server.verify(response.json()["token"])
    assert verified.subject == ""
    assert verified.actions("repository", "public/lib") == {"pull"}
    assert verified.actions("repository", "team/app") == set()


def test_a_wrong_password_is_401(token_server: TokenServer) -> None:
    response = get_token(token_server, "repository:team/app:pull", auth=("puller", "wrong-pw"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Basic realm="{SERVICE}"'
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_password_then_refresh_grants(token_server: TokenServer) -> None:
    form = {"grant_type": "password", "username": "pusher", "password": "push-pw", "service": SERVICE}
    form |= {"client_id": "integration", "access_type": "offline", "scope": "repository:team/app:push,delete"}
    response = httpx.post(token_server.url, data=form, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "repository:team/app:push"
    assert token_server.verify(body["access_token"]).actions("repository", "team/app") == {"push"}
    assert token_server.verify(body["refresh_token"], f"{SERVICE}:refresh").subject == "pusher"

    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "service": SERVICE}
    refresh |= {"client_id": "integration", "scope": "repository:team/other:pull"}
    refreshed = httpx.post(token_server.url, data=refresh, timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    verified = token_server.verify(refreshed.json()["access_token"])
    assert verified.subject == "pusher" and verified.actions("repository", "team/other") == {"pull"}

    bad = httpx.post(token_server.url, data={**refresh, "refresh_token": body["access_token"]}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_grant"


def test_metrics_count_what_was_issued(token_server: TokenServer) -> None:
    get_token(token_server)
    text = httpx.get(f"{token_server.process.url}/metrics", timeout=10).text
    assert 'registry_token_issued_total{grant="anonymous"}' in text


def test_a_missing_key_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [registry_command(), "serve", "token", "--config", str(token_config(tmp_path, None)), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "services.token.key: is required to serve tokens" in result.stderr
