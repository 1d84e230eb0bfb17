"""Token authentication with real processes: ``registry serve all`` with ``auth.token``, our token server
(``registry serve token``), tokens minted here with other keys, and real clients (skopeo, oras) through the
Docker token flow."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import oras.client
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from images import OciLayout, build_image
from registry_process import RunningRegistry, serving_config

from registry_core.auth.jwt import sign
from registry_core.auth.libtrust import key_id
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, start_registry, stop
from registry_core.testing.token_files import Signer, certify, private_key, token_claims

pytestmark = pytest.mark.integration

ISSUER, SERVICE = "test-token-issuer", "test-registry"
USERS = {"alice": "alice-password", "bob": "bob-password"}
RULES = [
    {"repository": "alice/**", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "public/**", "users": ["alice"], "actions": ["push"]},
    {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
    {"repository": "**", "users": ["*"], "actions": ["pull"]},
]
JWKS_KID = "jwks-key-1"


@dataclass(frozen=True)
class Keys:
    service: Signer
    """The token server's key; its self-signed certificate is in the bundle."""
    chained: Signer
    """A leaf issued by an intermediate issued by a root in the bundle."""
    by_kid: Signer
    """An RSA key whose certificate is in the bundle: named by its libtrust key ID, no ``x5c``."""
    jwks: ec.EllipticCurvePrivateKey
    """A key published only in the JWKS file, under :data:`JWKS_KID`."""
    foreign: Signer
    """Self-signed, in no bundle."""


@dataclass(frozen=True)
class Setup:
    registry: RunningRegistry
    token_server: Process
    token_url: str
    keys: Keys


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y), "kid": JWKS_KID, "alg": "ES256"}


def _keys() -> Keys:
    root = certify("test root", ca=True)
    intermediate = certify("test intermediate", issuer=root, ca=True)
    return Keys(
        service=certify("token service", ca=True),
        chained=certify("chained signer", issuer=intermediate),
        by_kid=certify("kid signer", private_key("rsa"), ca=True),
        jwks=ec.generate_private_key(ec.SECP256R1()),
        foreign=certify("stranger", ca=True),
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("auth-token")
    keys = _keys()
    token_pair = keys.service.write(directory, "token")
    bundle = directory / "bundle.pem"
    root = keys.chained.chain[-1]
    bundle.write_bytes(
        b"".join(s.pem for s in (keys.service, keys.by_kid)) + root.public_bytes(serialization.Encoding.PEM)
    )
    jwks = directory / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(keys.jwks)]}))
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(
        "".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n" for u, p in USERS.items())
    )

    token_port = free_port()
    token_url = f"http://127.0.0.1:{token_port}"
    token_config = directory / "token.yml"
    token_config.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "log": {"level": "info"},
                "services": {
                    "token": {
                        "issuer": ISSUER,
                        "service": SERVICE,
                        "key": str(token_pair.key),
                        "certificate": str(token_pair.cert),
                        "htpasswd": str(htpasswd),
                        "access": RULES,
                    }
                },
            }
        )
    )
    token_server = start_registry("token", token_config, directory, port=token_port)
    port = free_port()
    config = filesystem_config(directory / "data", log_level="info", http={"addr": f"127.0.0.1:{port}"})
    auth = {
        "realm": f"{token_url}/token",
        "service": SERVICE,
        "issuer": ISSUER,
        "rootcertbundle": str(bundle),
        "jwks": str(jwks),
    }
    config += yaml.safe_dump({"auth": {"token": auth}})
    try:
        with serving_config(directory, config, port, ready_status=401) as registry:
            yield Setup(registry, token_server, token_url, keys)
    finally:
        stop(token_server.proc)


def token_for(setup: Setup, scope: str, user: str | None = None) -> str:
    auth = (user, USERS[user]) if user else None
    response = httpx.get(f"{setup.token_url}/token", params={"service": SERVICE, "scope": scope}, auth=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    return str(body["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def push_blob(setup: Setup, repository: str, token: str, content: bytes) -> httpx.Response:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    url = f"{setup.registry.url}/v2/{repository}/blobs/uploads/"
    return httpx.post(url, params={"digest": digest}, content=content, headers=bearer(token))


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of the response's Bearer challenge; the response must be a 401 with the OCI body."""
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    scheme, _, params = response.headers["www-authenticate"].partition(" ")
    assert scheme == "Bearer"
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


def test_challenges_name_realm_service_and_scope(setup: Setup) -> None:
    base = challenge(httpx.get(f"{setup.registry.url}/v2/"))
    assert base["realm"] == f"{setup.token_url}/token" and base["service"] == SERVICE and "scope" not in base

    pull = challenge(httpx.get(f"{setup.registry.url}/v2/alice/app/manifests/latest"))
    assert pull["scope"] == "repository:alice/app:pull"
    push = challenge(httpx.post(f"{setup.registry.url}/v2/alice/app/blobs/uploads/"))
    assert push["scope"] == "repository:alice/app:pull,push"


def test_token_service_tokens_grant_what_the_rules_allow(setup: Setup) -> None:
    alice = token_for(setup, "repository:alice/app:pull,push", "alice")
    assert push_blob(setup, "alice/app", alice, b"alice's layer").status_code == 201

    bob = token_for(setup, "repository:alice/app:pull,push", "bob")  # asking for more is not an error
    refused = challenge(push_blob(setup, "alice/app", bob, b"bob's layer"))
    assert refused["error"] == "insufficient_scope" and refused["scope"] == "repository:alice/app:pull,push"
    assert httpx.get(f"{setup.registry.url}/v2/alice/app/tags/list", headers=bearer(bob)).status_code == 200

    other = token_for(setup, "repository:alice/other:pull,push", "alice")  # the right repository only
    assert challenge(push_blob(setup, "alice/app", other, b"x"))["error"] == "insufficient_scope"


def test_anonymous_tokens_where_rules_allow(setup: Setup) -> None:
    anonymous = token_for(setup, "repository:public/base:pull,push repository:alice/app:pull")
    headers = bearer(anonymous)
    assert httpx.get(f"{setup.registry.url}/v2/public/base/tags/list", headers=headers).status_code == 404
    assert challenge(httpx.get(f"{setup.registry.url}/v2/alice/app/tags/list", headers=headers))
    assert challenge(push_blob(setup, "public/base", anonymous, b"y"))["error"] == "insufficient_scope"


def _minted(setup: Setup, **changes: Any) -> dict[str, Any]:
    claims = token_claims(
        [{"type": "repository", "name": "minted/app", "actions": ["pull"]}], issuer=ISSUER, audience=SERVICE
    )
    return claims | changes


def _accepted(setup: Setup, token: str) -> bool:
    response = httpx.get(f"{setup.registry.url}/v2/minted/app/tags/list", headers=bearer(token))
    if response.status_code == 401:
        return False
    assert response.status_code == 404, response.text  # admitted: the repository does not exist
    return True


def test_minted_tokens_from_every_trusted_key_are_accepted(setup: Setup) -> None:
    keys = setup.keys
    claims = _minted(setup)
    assert _accepted(setup, sign(claims, keys.service.key, x5c=[keys.service.cert]))
    assert _accepted(setup, sign(claims, keys.chained.key, x5c=[keys.chained.cert, *keys.chained.chain[:-1]]))
    assert _accepted(setup, sign(claims, keys.by_kid.key, kid=key_id(keys.by_kid.key.public_key())))
    assert _accepted(setup, sign(claims, keys.jwks, kid=JWKS_KID))


def _none_token(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'typ': 'JWT', 'alg': 'none'})}.{part(claims)}."


def test_minted_tokens_refused(setup: Setup) -> None:
    keys = setup.keys
    now = time.time()
    refused = {
        "foreign key": sign(_minted(setup), keys.foreign.key, x5c=[keys.foreign.cert]),
        "unknown kid": sign(_minted(setup), keys.foreign.key, kid=key_id(keys.foreign.key.public_key())),
        "expired": sign(
            _minted(setup, exp=int(now) - 3600, nbf=int(now) - 7200), keys.service.key, x5c=[keys.service.cert]
        ),
        "not yet valid": sign(_minted(setup, nbf=int(now) + 3600), keys.service.key, x5c=[keys.service.cert]),
        "wrong audience": sign(_minted(setup, aud="another-registry"), keys.service.key, x5c=[keys.service.cert]),
        "wrong issuer": sign(_minted(setup, iss="someone-else"), keys.service.key, x5c=[keys.service.cert]),
        "alg none": _none_token(_minted(setup)),
        "garbage": "not.a.token",
    }
    for why, token in refused.items():
        response = httpx.get(f"{setup.registry.url}/v2/minted/app/tags/list", headers=bearer(token))
        assert challenge(response).get("error") == "invalid_token", why
    other = _minted(setup, access=[{"type": "repository", "name": "minted/other", "actions": ["pull"]}])
    response = httpx.get(
        f"{setup.registry.url}/v2/minted/app/tags/list",
        headers=bearer(sign(other, keys.service.key, x5c=[keys.service.cert])),
    )
    assert challenge(response)["error"] == "insufficient_scope"


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REGISTRY_AUTH_FILE": "/nonexistent/auth.json"}  # never the machine's credentials
    argv = ["skopeo", "--insecure-policy", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)


@pytest.mark.needs("skopeo")
def test_skopeo_through_the_token_flow(setup: Setup, tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "src")
    image = build_image(layout, tag="v1", layers=2, layer_size=64 * 1024)
    target = f"docker://{setup.registry.host}/alice/skopeo:v1"
    creds = f"alice:{USERS['alice']}"
    copied = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout.root}:v1", target)
    assert copied.returncode == 0, copied.stderr
    inspected = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"bob:{USERS['bob']}", target)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout) == json.loads(layout.blob(image["digest"]))

    bob = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"bob:{USERS['bob']}", f"oci:{layout.root}:v1",
                 f"docker://{setup.registry.host}/alice/bob-was-here:v1")  # fmt: skip
    assert bob.returncode != 0 and ("denied" in bob.stderr.lower() or "unauthorized" in bob.stderr.lower())
    anonymous = skopeo("inspect", "--raw", "--tls-verify=false", "--no-creds", target)
    assert anonymous.returncode != 0  # alice/** is not anonymous


@pytest.mark.needs("skopeo")
def test_oras_through_the_token_flow(setup: Setup, tmp_path: Path) -> None:
    """oras (the Python client) logs in and reads through the token flow. Not its push: oras-py 0.2 fetches a new
    token only after a 403, so the pull-scoped token of its first request (a blob HEAD) stays in use when the
    upload's 401 asks for push, as the token protocol (and the Go registry) answer a token lacking the action.
    A wrong password is not tried here: oras-py retries a failed request for two minutes (the token server's
    refusal is checked below)."""
    layout = OciLayout(tmp_path / "src")
    image = build_image(layout, tag="v1", layers=1, layer_size=4096)
    target = f"{setup.registry.host}/alice/oras:v1"
    creds = f"alice:{USERS['alice']}"
    copied = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout.root}:v1", f"docker://{target}"
    )
    assert copied.returncode == 0, copied.stderr

    for user in USERS:  # alice owns alice/**; bob pulls everything
        client = oras.client.OrasClient(insecure=True)
        config = str(tmp_path / f"oras-{user}.json")  # never the machine's docker config
        assert client.login(user, USERS[user], hostname=setup.registry.host, config_path=config)["Status"]
        assert client.get_manifest(target) == json.loads(layout.blob(image["digest"]))


def test_token_service_refuses_wrong_passwords(setup: Setup) -> None:
    response = httpx.get(
        f"{setup.token_url}/token",
        params={"service": SERVICE, "scope": "repository:alice/app:pull"},
        auth=("alice", "nope"),
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert "nope" not in response.text


def test_process_logs_hold_no_secret(setup: Setup) -> None:
    assert setup.registry.process is not None
    for process in (setup.registry.process, setup.token_server):
        log = process.output()
        assert "eyJ" not in log  # no token (a JWT's base64 of '{"')
        for password in USERS.values():
            assert password not in log
