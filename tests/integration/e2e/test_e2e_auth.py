"""The auth variant of the stack (deploy/compose.auth.yml), as ``make e2e`` brings it up after the open stack's
tests: TLS at the gateway, the token service behind /token, blob-read and blob-write in token mode, the access
rules of deploy/auth/token.yml (every user pulls everything, alice pushes alice/**, bob bob/**).

Users are added while the stack runs, the documented way (deploy/auth/add-user.sh, no restart); docker logs in
with a configuration directory of the test's own (the host's ~/.docker is untouched), pushes, pulls, and is
refused where the rules say so.

``E2E_AUTH_GATEWAY`` is the gateway's URL (``https://127.0.0.1:<port>``), ``E2E_AUTH_DIR`` the directory
deploy/auth/setup.sh made (its ``gateway/tls.crt`` is the certificate to trust). Without them every test here is
skipped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2e_stack import run
from images import OciLayout, build_image
from test_e2e_clients import docker_build

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
ADD_USER = REPO / "deploy" / "auth" / "add-user.sh"
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class AuthStack:
    gateway: str
    """``https://127.0.0.1:<port>``"""
    auth_dir: Path
    base_image: str
    scratch: Path
    """Removed after the tests: docker configurations (they hold credentials), skopeo's certificate directory."""

    @property
    def host(self) -> str:
        return self.gateway.split("://", 1)[1]

    @property
    def certificate(self) -> Path:
        return self.auth_dir / "gateway" / "tls.crt"

    def client(self) -> httpx.Client:
        """Verifies the gateway's certificate against the one setup.sh made."""
        return httpx.Client(
            base_url=self.gateway, verify=ssl.create_default_context(cafile=str(self.certificate)), timeout=30
        )


@dataclass(frozen=True)
class User:
    name: str
    password: str
    docker_config: Path
    """DOCKER_CONFIG for this user's docker commands."""

    def docker(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A docker command as this user (output merged), whatever its exit status."""
        try:
            return subprocess.run(
                ["docker", *args],
                env={**os.environ, "DOCKER_CONFIG": str(self.docker_config)},
                input=self.password if args[0] == "login" else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"docker {shlex.join(args)} did not finish within {timeout}s: {exc.output!r}"[-4000:])

    def docker_ok(self, *args: str, timeout: float = 600) -> str:
        result = self.docker(*args, timeout=timeout)
        assert result.returncode == 0, f"docker {shlex.join(args)} as {self.name} failed:\n{result.stdout[-4000:]}"
        return result.stdout


@pytest.fixture(scope="module")
def auth_stack() -> Iterator[AuthStack]:
    gateway = os.environ.get("E2E_AUTH_GATEWAY")
    auth_dir = os.environ.get("E2E_AUTH_DIR")
    if not gateway or not auth_dir:
        pytest.skip("no auth stack: run `make e2e` (E2E_AUTH_GATEWAY and E2E_AUTH_DIR unset)")
    scratch = Path(tempfile.mkdtemp(prefix="auth-", dir=os.environ.get("E2E_ARTIFACTS")))
    stack = AuthStack(gateway.rstrip("/"), Path(auth_dir), os.environ.get("E2E_BASE_IMAGE", ""), scratch)
    try:
        yield stack
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def add_user(stack: AuthStack, name: str) -> User:
    """deploy/auth/add-user.sh NAME with the password on stdin, then wait until the token service knows the user:
    it re-reads the htpasswd file when it changes, without a restart."""
    password = secrets.token_urlsafe(18)
    run(["bash", str(ADD_USER), name], input=password + "\n", timeout=120)
    deadline = time.monotonic() + 30
    with stack.client() as client:
        while client.get("/token", params={"service": "registry"}, auth=(name, password)).status_code != 200:
            assert time.monotonic() < deadline, f"the token service did not take {name} within 30 s"
            time.sleep(0.5)
    config = stack.scratch / f"docker-{name}"
    config.mkdir()
    return User(name, password, config)


@pytest.fixture(scope="module")
def alice(auth_stack: AuthStack) -> User:
    return add_user(auth_stack, "alice")


@pytest.fixture(scope="module")
def bob(auth_stack: AuthStack) -> User:
    return add_user(auth_stack, "bob")


def claims(token: str) -> dict[str, object]:
    """A JWT's payload, unverified (the registry verifies; here only what was granted is read)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def granted(stack: AuthStack, user: User | None, scope: str) -> list[str]:
    """The actions of the token the gateway's /token gives ``user`` (None: anonymous) for ``scope``."""
    with stack.client() as client:
        response = client.get(
            "/token",
            params={"service": "registry", "scope": scope},
            auth=None if user is None else (user.name, user.password),
        )
    assert response.status_code == 200, response.text
    access = claims(response.json()["token"]).get("access") or []
    return sorted(action for entry in access for action in entry["actions"])  # type: ignore[union-attr,index]


def test_anonymous_requests_are_challenged_to_the_gateways_token_endpoint(auth_stack: AuthStack) -> None:
    with auth_stack.client() as client:
        response = client.get("/v2/alice/app/tags/list")
        base = client.get("/v2/")
    assert response.status_code == 401
    scheme, _, params = response.headers["www-authenticate"].partition(" ")
    assert scheme == "Bearer"
    challenge = dict(CHALLENGE.findall(params))
    assert challenge == {
        "realm": f"{auth_stack.gateway}/token",
        "service": "registry",
        "scope": "repository:alice/app:pull",
    }
    assert base.status_code == 401 and base.headers["www-authenticate"].startswith("Bearer ")


def test_tokens_grant_what_the_rules_allow(auth_stack: AuthStack, alice: User, bob: User) -> None:
    assert granted(auth_stack, alice, "repository:alice/app:pull,push") == ["pull", "push"]
    assert granted(auth_stack, bob, "repository:alice/app:pull,push") == ["pull"]
    assert granted(auth_stack, bob, "repository:bob/app:pull,push,delete") == ["delete", "pull", "push"]
    assert granted(auth_stack, None, "repository:alice/app:pull") == [], "no rule lets anonymous pull"
    with auth_stack.client() as client:
        wrong = client.get("/token", params={"service": "registry"}, auth=("alice", alice.password + "x"))
    assert wrong.status_code == 401


def test_docker_login_push_pull_and_a_push_refused(
    auth_stack: AuthStack, alice: User, bob: User, tmp_path: Path, docker_images: list[str]
) -> None:
    """alice pushes alice/app and pulls it back; bob, logged in, may pull it but not push there."""
    host = auth_stack.host
    tag = f"{host}/alice/app:1"
    message = f"alice's image {uuid.uuid4().hex[:8]}"
    docker_images.append(tag)
    docker_build(tmp_path / "alice", tag, auth_stack.base_image, message)

    assert "Login Succeeded" in alice.docker_ok("login", host, "-u", alice.name, "--password-stdin")
    assert json.loads((alice.docker_config / "config.json").read_text())["auths"].keys() == {host}
    pushed = alice.docker_ok("push", tag)
    digest = next(line.split("digest: ")[1].split()[0] for line in pushed.splitlines() if "digest: " in line)
    run(["docker", "rmi", tag])
    assert f"Digest: {digest}" in alice.docker_ok("pull", tag)
    output = run(["docker", "run", "--rm", "--network", "none", tag], timeout=120)
    assert output.splitlines()[0] == message

    bobs = f"{host}/alice/app:bob"
    docker_images.append(bobs)
    docker_build(tmp_path / "bob", bobs, auth_stack.base_image, "bob was here")
    assert "Login Succeeded" in bob.docker_ok("login", host, "-u", bob.name, "--password-stdin")
    refused = bob.docker("push", bobs)
    assert refused.returncode != 0, f"bob pushed to alice/app:\n{refused.stdout}"
    assert re.search(r"denied|unauthorized", refused.stdout, re.IGNORECASE), refused.stdout
    # bob's login works: the same image goes to his own namespace, and alice's pulls.
    own = f"{host}/bob/app:1"
    docker_images.append(own)
    run(["docker", "tag", bobs, own])
    bob.docker_ok("push", own)
    run(["docker", "rmi", tag])
    assert f"Digest: {digest}" in bob.docker_ok("pull", tag)

    with auth_stack.client() as client:
        tags = client.get("/v2/alice/app/tags/list")
    assert tags.status_code == 401, "anonymous listing after the push"


def test_skopeo_with_credentials_and_the_gateways_certificate(auth_stack: AuthStack, alice: User, bob: User) -> None:
    """skopeo verifies TLS against setup.sh's certificate (--cert-dir) and authenticates with --creds."""
    certs = auth_stack.scratch / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(auth_stack.certificate, certs / "ca.crt")
    layout = OciLayout(auth_stack.scratch / "oci")
    image = build_image(layout, tag="v1", layers=2, layer_size=256 * 1024)
    remote = f"docker://{auth_stack.host}/alice/skopeo:v1"

    def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=300, check=False
        )

    creds = f"alice:{alice.password}"
    copied = skopeo("copy", "--dest-cert-dir", str(certs), "--dest-creds", creds, f"oci:{layout.root}:v1", remote)
    assert copied.returncode == 0, copied.stderr
    inspected = skopeo("inspect", "--raw", "--cert-dir", str(certs), "--creds", f"bob:{bob.password}", remote)
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.stdout.encode() == layout.blob(image["digest"])
    anonymous = skopeo("inspect", "--raw", "--cert-dir", str(certs), remote)
    assert anonymous.returncode != 0
    untrusted = skopeo("inspect", "--raw", "--creds", f"bob:{bob.password}", remote)  # the system's CAs only
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr
