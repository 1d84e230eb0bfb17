"""htpasswd mode in a real ``registry serve all``: Basic challenges, per-repository and anonymous rules (401 versus
403), the catalog filtered per user, mounts and uploads under the rules, the htpasswd file edited while running, a
bad file refused at start, no password in the log; and real clients (skopeo, oras) logging in."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import oras.client
import pytest
import yaml
from images import OCI_MANIFEST, OciLayout, build_image
from images import sha256 as digest
from registry_process import RunningRegistry, serving_config

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import free_port, registry_command

pytestmark = pytest.mark.integration

REALM = "Registry Realm"
CHALLENGE = f'Basic realm="{REALM}"'
PASSWORDS = {
    "alice": "alice-Pw-4f1d9c7e",
    "bob": "bob-Pw-8a2e6b30",
    "eve": "eve-Pw-c95d0a14",
}
RULES: list[dict[str, Any]] = [
    {"repository": "alice/**", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "alice/**", "users": ["bob"], "actions": ["pull"]},
    {"repository": "bob/**", "users": ["bob"], "actions": ["pull", "push", "delete"]},
    {"repository": "eve/**", "users": ["eve"], "actions": ["pull", "push"]},
    {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
    {"repository": "public/**", "users": ["alice"], "actions": ["push"]},
]
WAIT = 15.0
"""Seconds an edit of the htpasswd file may take to show (re-read within about a second): a bound, not a target."""
SKOPEO_TIMEOUT = 300


def bcrypt_line(user: str, password: str) -> str:
    """What ``htpasswd -B`` writes (cost 5, its default)."""
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"


def write_htpasswd(path: Path, lines: list[str]) -> None:
    """Replace the file whole, as an editor or a config manager does."""
    staged = path.with_name(path.name + ".new")
    staged.write_text("".join(f"{line}\n" for line in lines))
    os.replace(staged, path)


def registry_config(root: Path, htpasswd: Path, port: int, access: list[dict[str, Any]]) -> str:
    config: dict[str, Any] = yaml.safe_load(
        filesystem_config(root, log_level="debug", http={"addr": f"127.0.0.1:{port}"})
    )
    config["log"]["accesslog"] = {"disabled": False}  # every request line logged too: none may show a password
    config["auth"] = {"htpasswd": {"realm": REALM, "path": str(htpasswd)}, "access": access}
    return yaml.safe_dump(config, sort_keys=False)


@contextmanager
def htpasswd_registry(
    directory: Path, users: dict[str, str] = PASSWORDS, access: list[dict[str, Any]] = RULES
) -> Iterator[RunningRegistry]:
    """``registry serve all`` with ``auth.htpasswd`` (``directory/htpasswd``: ``users``) and ``auth.access``."""
    htpasswd = directory / "htpasswd"
    write_htpasswd(htpasswd, [bcrypt_line(user, password) for user, password in users.items()])
    port = free_port()
    config = registry_config(directory / "data", htpasswd, port, access)
    with serving_config(directory, config, port, ready_status=401) as running:
        yield running


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with htpasswd_registry(tmp_path_factory.mktemp("htpasswd-registry")) as running:
        yield running


def log_of(registry: RunningRegistry) -> str:
    """Everything the registry process wrote so far (stdout and stderr)."""
    assert registry.process is not None
    return registry.process.output()


def as_user(registry: RunningRegistry, user: str | None) -> httpx.Client:
    """A client sending ``user``'s Basic credentials on every request (none for ``None``: anonymous)."""
    auth = None if user is None else (user, PASSWORDS[user])
    return httpx.Client(base_url=registry.url, auth=auth, timeout=30.0)


def push_blob(client: httpx.Client, repository: str, data: bytes) -> str:
    response = client.post(f"/v2/{repository}/blobs/uploads/", params={"digest": digest(data)}, content=data)
    assert response.status_code == 201, response.text
    return digest(data)


def push_image(client: httpx.Client, repository: str, tag: str) -> str:
    """A config blob and a manifest naming it; the manifest's digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "repository": repository}).encode()
    descriptor = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config)}
    descriptor["digest"] = push_blob(client, repository, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor, "layers": []})
    response = client.put(f"/v2/{repository}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.text
    return digest(manifest.encode())


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers.get_list("www-authenticate") == [CHALLENGE]
    if response.request.method != "HEAD":
        assert [e["code"] for e in response.json()["errors"]] == ["UNAUTHORIZED"]


def assert_denied(response: httpx.Response, repository: str, *missing: str) -> None:
    assert response.status_code == 403, response.text
    assert "www-authenticate" not in response.headers
    [error] = response.json()["errors"]
    assert error["code"] == "DENIED"
    assert error["detail"] == [{"type": "repository", "name": repository, "action": action} for action in missing]


# -- challenges and credentials --------------------------------------------------------------------------------------


def test_no_credentials_get_the_basic_challenge(registry: RunningRegistry) -> None:
    with as_user(registry, None) as anonymous:
        assert_unauthorized(anonymous.get("/v2/"))
        assert_unauthorized(anonymous.get("/v2/alice/app/tags/list"))
        assert_unauthorized(anonymous.head("/v2/alice/app/manifests/latest"))
        assert_unauthorized(anonymous.post("/v2/alice/app/blobs/uploads/"))
    with as_user(registry, "alice") as alice:
        base = alice.get("/v2/")
        assert base.status_code == 200
        assert base.headers["docker-distribution-api-version"] == "registry/2.0"


def test_a_wrong_password_or_an_unknown_user_is_401(registry: RunningRegistry) -> None:
    for user, password in [("alice", "bob-Pw-8a2e6b30"), ("alice", ""), ("mallory", "alice-Pw-4f1d9c7e")]:
        with httpx.Client(base_url=registry.url, auth=(user, password)) as client:
            assert_unauthorized(client.get("/v2/"))
            assert_unauthorized(client.get("/v2/public/app/tags/list"))  # not demoted to anonymous either


# -- the rules -------------------------------------------------------------------------------------------------------


def test_a_user_may_do_what_the_rules_of_a_repository_grant(registry: RunningRegistry) -> None:
    with as_user(registry, "alice") as alice, as_user(registry, "bob") as bob, as_user(registry, "eve") as eve:
        manifest = push_image(alice, "alice/app", "v1")
        layer = push_blob(alice, "alice/app", b"alice's layer")

        pulled = bob.get("/v2/alice/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert (pulled.status_code, pulled.headers["docker-content-digest"]) == (200, manifest)
        assert bob.get(f"/v2/alice/app/blobs/{layer}").content == b"alice's layer"
        assert bob.get("/v2/alice/app/tags/list").json()["tags"] == ["v1"]

        assert_denied(bob.post("/v2/alice/app/blobs/uploads/"), "alice/app", "push")
        put = bob.put("/v2/alice/app/manifests/v2", content=b"{}", headers={"Content-Type": OCI_MANIFEST})
        assert_denied(put, "alice/app", "push")
        assert_denied(bob.delete(f"/v2/alice/app/manifests/{manifest}"), "alice/app", "delete")
        assert_denied(bob.delete(f"/v2/alice/app/blobs/{layer}"), "alice/app", "delete")
        assert_denied(eve.get("/v2/alice/app/manifests/v1"), "alice/app", "pull")
        assert_denied(alice.get("/v2/bob/app/tags/list"), "bob/app", "pull")
        assert bob.get("/v2/alice/app/manifests/v1").status_code == 200  # nothing bob tried changed it

        assert alice.delete(f"/v2/alice/app/manifests/{manifest}").status_code == 202
        assert bob.get("/v2/alice/app/manifests/v1").status_code == 404


def test_anonymous_pulls_what_anonymous_rules_grant_and_is_challenged_for_more(registry: RunningRegistry) -> None:
    with as_user(registry, "alice") as alice:
        manifest = push_image(alice, "public/tools/app", "v1")
        push_image(alice, "alice/private", "v1")
    with as_user(registry, None) as anonymous:
        got = anonymous.get("/v2/public/tools/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert (got.status_code, got.headers["docker-content-digest"]) == (200, manifest)
        assert anonymous.get("/v2/public/tools/app/tags/list").json()["tags"] == ["v1"]

        assert_unauthorized(anonymous.post("/v2/public/tools/app/blobs/uploads/"))  # push: log in, maybe
        assert_unauthorized(anonymous.delete(f"/v2/public/tools/app/manifests/{manifest}"))
        assert_unauthorized(anonymous.get("/v2/alice/private/manifests/v1"))
    with as_user(registry, "eve") as eve:  # logged in, allowed what anonymous is, denied the rest: 403
        assert eve.get("/v2/public/tools/app/manifests/v1").status_code == 200
        assert_denied(eve.post("/v2/public/tools/app/blobs/uploads/"), "public/tools/app", "push")


def test_the_catalog_lists_what_each_caller_may_pull_a_full_page_at_a_time(tmp_path: Path) -> None:
    repositories = ["alice/a", "alice/b", "alice/c", "bob/x", "eve/y", "public/p", "public/q"]
    visible = {
        "alice": ["alice/a", "alice/b", "alice/c", "public/p", "public/q"],
        "bob": ["alice/a", "alice/b", "alice/c", "bob/x", "public/p", "public/q"],
        "eve": ["eve/y", "public/p", "public/q"],
        None: ["public/p", "public/q"],
    }
    with htpasswd_registry(tmp_path) as registry:
        for repository in repositories:
            owner = "alice" if repository.startswith("public/") else repository.split("/")[0]
            with as_user(registry, owner) as client:
                push_image(client, repository, "v1")

        for user, expected in visible.items():
            with as_user(registry, user) as client:
                assert client.get("/v2/_catalog").json()["repositories"] == expected
                for n in (1, 2, 4):
                    pages = catalog_pages(client, n)
                    assert [name for page in pages for name in page] == expected, (user, n)
                    assert all(len(page) == n for page in pages[:-1]), (user, n, pages)  # full pages but the last
                    assert 0 < len(pages[-1]) <= n


def catalog_pages(client: httpx.Client, n: int) -> list[list[str]]:
    """Every page of ``/v2/_catalog?n=``, following the ``Link`` headers."""
    pages: list[list[str]] = []
    url: str | None = f"/v2/_catalog?n={n}"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json()["repositories"])
        link = response.headers.get("link")
        url = link.split(">", 1)[0].lstrip("<") if link else None
        assert len(pages) <= 20, "the Link headers do not end"
    return pages


# -- mounts and uploads ----------------------------------------------------------------------------------------------


def test_a_mount_needs_pull_on_its_source(registry: RunningRegistry) -> None:
    layer = b"a layer only alice and bob may pull " * 100
    with as_user(registry, "alice") as alice, as_user(registry, "bob") as bob, as_user(registry, "eve") as eve:
        blob = push_blob(alice, "alice/base", layer)
        mount = {"mount": blob, "from": "alice/base"}

        mounted = bob.post("/v2/bob/app/blobs/uploads/", params=mount)
        assert mounted.status_code == 201
        assert mounted.headers["location"] == f"/v2/bob/app/blobs/{blob}"
        assert bob.get(f"/v2/bob/app/blobs/{blob}").content == layer

        refused = eve.post("/v2/eve/app/blobs/uploads/", params=mount)
        assert refused.status_code == 202  # a normal upload, as for a blob that does not exist
        location = refused.headers["location"]
        assert location.startswith("/v2/eve/app/blobs/uploads/")
        assert eve.head(f"/v2/eve/app/blobs/{blob}").status_code == 404  # not linked
        assert eve.get(f"/v2/eve/app/blobs/{blob}").status_code == 404
        # eve can only link it by sending the bytes, which she would need to have
        finished = eve.put(location, params={"digest": blob}, content=layer)
        assert finished.status_code == 201
        assert eve.get(f"/v2/eve/app/blobs/{blob}").content == layer


def test_an_upload_is_touched_only_by_users_with_push_on_its_repository(registry: RunningRegistry) -> None:
    data = b"alice's upload, in two parts"
    with as_user(registry, "alice") as alice, as_user(registry, "bob") as bob, as_user(registry, "eve") as eve:
        started = alice.post("/v2/alice/upload/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        upload_id = started.headers["docker-upload-uuid"]
        first = alice.patch(location, content=data[:10], headers={"Content-Type": "application/octet-stream"})
        assert (first.status_code, first.headers["range"]) == (202, "0-9")

        for intruder, missing in ((bob, ("push",)), (eve, ("pull", "push"))):
            assert_denied(intruder.get(location), "alice/upload", *missing)
            assert_denied(intruder.patch(location, content=b"mallory"), "alice/upload", *missing)
            assert_denied(
                intruder.put(location, params={"digest": digest(b"x")}, content=b"x"), "alice/upload", *missing
            )
            assert_denied(intruder.delete(location), "alice/upload", *missing)
        with as_user(registry, None) as anonymous:
            assert_unauthorized(anonymous.delete(location))
        # the id means nothing in a repository where bob may push: uploads belong to their repository
        elsewhere = bob.patch(f"/v2/bob/app/blobs/uploads/{upload_id}", content=b"mallory")
        assert elsewhere.status_code == 404
        assert elsewhere.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"

        status = alice.get(location)
        assert (status.status_code, status.headers["range"]) == (204, "0-9")  # untouched
        done = alice.put(location, params={"digest": digest(data)}, content=data[10:])
        assert done.status_code == 201
        assert bob.get(f"/v2/alice/upload/blobs/{digest(data)}").content == data


# -- the htpasswd file -----------------------------------------------------------------------------------------------


def eventually_status(url: str, auth: tuple[str, str], status: int, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while (answer := httpx.get(f"{url}/v2/", auth=auth).status_code) != status:
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what} (still {answer})"
        time.sleep(0.1)


def test_the_htpasswd_file_is_read_again_while_running(tmp_path: Path) -> None:
    with htpasswd_registry(tmp_path, {"alice": PASSWORDS["alice"]}) as registry:
        htpasswd = tmp_path / "htpasswd"
        alice = ("alice", PASSWORDS["alice"])
        carol = ("carol", "carol-Pw-3b7f0e52")
        assert httpx.get(f"{registry.url}/v2/", auth=alice).status_code == 200
        assert httpx.get(f"{registry.url}/v2/", auth=carol).status_code == 401

        alice_line = htpasswd.read_text().strip()
        write_htpasswd(htpasswd, [alice_line, bcrypt_line(*carol)])
        eventually_status(registry.url, carol, 200, "a user added to the file is let in")

        broken = "dave:$apr1$Ks4VxFtC$u0QTQ0VIc3G8bPbPO0PKx0"
        write_htpasswd(htpasswd, [bcrypt_line(*carol), broken])  # alice removed, but the file is broken
        deadline = time.monotonic() + WAIT
        while "line 2 (user 'dave')" not in log_of(registry):
            assert time.monotonic() < deadline, "the broken file was not reported"
            httpx.get(f"{registry.url}/v2/", auth=carol)
            time.sleep(0.1)
        assert httpx.get(f"{registry.url}/v2/", auth=alice).status_code == 200  # the users read before are kept

        write_htpasswd(htpasswd, [bcrypt_line(*carol)])  # fixed: alice removed
        eventually_status(registry.url, alice, 401, "a user removed from the file is refused")
        response = httpx.get(f"{registry.url}/v2/", auth=alice)
        assert response.headers["www-authenticate"] == CHALLENGE
        assert httpx.get(f"{registry.url}/v2/", auth=carol).status_code == 200

        log = log_of(registry)
        assert "$apr1$" not in log and "Ks4VxFtC" not in log  # the line is named, its hash never shown
        assert carol[1] not in log and PASSWORDS["alice"] not in log


def serve_until_exit(config: Path) -> subprocess.CompletedProcess[str]:
    """``registry serve all --config CONFIG``, expected to stop at start-up."""
    argv = [registry_command(), "serve", "all", "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_a_htpasswd_file_with_other_hashes_is_refused_at_start(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, ["# users", "dave:$apr1$Ks4VxFtC$u0QTQ0VIc3G8bPbPO0PKx0", bcrypt_line("alice", "pw")])
    config = tmp_path / "config.yml"
    config.write_text(registry_config(tmp_path / "data", htpasswd, free_port(), RULES))
    result = serve_until_exit(config)
    assert result.returncode == 2, result.stderr
    assert "registry: invalid configuration:" in result.stderr
    assert f"{htpasswd}, line 2 (user 'dave'): only bcrypt entries are supported" in result.stderr
    assert "Ks4VxFtC" not in result.stderr and "Traceback" not in result.stderr


def test_a_missing_htpasswd_file_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(registry_config(tmp_path / "data", tmp_path / "nowhere", free_port(), RULES))
    result = serve_until_exit(config)
    assert result.returncode == 2, result.stderr
    assert f"registry: invalid configuration: auth.htpasswd.path: cannot read {tmp_path / 'nowhere'}" in result.stderr


# -- real clients ----------------------------------------------------------------------------------------------------


def skopeo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=SKOPEO_TIMEOUT,
        check=False,
        env=env,
    )


@pytest.mark.needs("skopeo")
def test_skopeo_logs_in_with_basic_credentials(registry: RunningRegistry, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=2)
    (tmp_path / "auth.json").write_text("{}")  # no credentials of the machine's: an empty auth file of our own
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "HOME": str(tmp_path)}
    alice, bob = f"alice:{PASSWORDS['alice']}", f"bob:{PASSWORDS['bob']}"
    remote = f"docker://{registry.host}/alice/skopeo:v1"
    local = f"oci:{source.root}:v1"

    pushed = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", alice, local, remote, env=env)
    assert pushed.returncode == 0, pushed.stderr
    for creds in (alice, bob):
        inspected = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, remote, env=env)
        assert inspected.returncode == 0, inspected.stderr
        assert digest(inspected.stdout.encode()) == image["digest"]

    refused = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", bob, local, f"docker://{registry.host}/alice/by-bob:v1",
        env=env,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "requested access to the resource is denied" in refused.stderr, refused.stderr
    with as_user(registry, "alice") as client:
        assert client.get("/v2/alice/by-bob/tags/list").status_code == 404  # nothing of it was pushed

    for creds in ("--no-creds", f"--creds=alice:{PASSWORDS['bob']}"):
        unauthorized = skopeo("inspect", "--raw", "--tls-verify=false", creds, remote, env=env)
        assert unauthorized.returncode != 0
        assert "authentication required" in unauthorized.stderr, unauthorized.stderr

    public = f"docker://{registry.host}/public/skopeo:v1"
    pushed = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", alice, local, public, env=env)
    assert pushed.returncode == 0, pushed.stderr
    anonymous = skopeo("inspect", "--raw", "--tls-verify=false", "--no-creds", public, env=env)
    assert anonymous.returncode == 0, anonymous.stderr
    assert digest(anonymous.stdout.encode()) == image["digest"]


def push_text(client: oras.client.OrasClient, target: str, payload: Path, config: Path) -> Any:
    """``oras push`` of one text file with the credentials saved in ``config``; oras' response."""
    return client.push(
        target=target,
        files=[f"{payload}:text/plain"],
        config_path=str(config),
        disable_path_validation=True,
        quiet=True,
    )


def test_oras_logs_in_pushes_and_pulls(
    registry: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing of the machine's: no docker daemon to log in through, no ~/.docker/config.json read or written
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    payload = tmp_path / "artifact.txt"
    payload.write_bytes(b"an artifact only alice may push " * 100)
    alice_config, bob_config = tmp_path / "alice.json", tmp_path / "bob.json"

    alice = oras.client.OrasClient(insecure=True, auth_backend="basic")
    assert alice.login("alice", PASSWORDS["alice"], hostname=registry.host, config_path=str(alice_config))["Status"]
    stored = json.loads(alice_config.read_text())["auths"][registry.host]["auth"]
    assert base64.b64decode(stored).decode() == f"alice:{PASSWORDS['alice']}"
    response = push_text(alice, f"{registry.host}/alice/artifact:v1", payload, alice_config)
    assert response.status_code == 201, response.text

    bob = oras.client.OrasClient(insecure=True, auth_backend="basic")
    bob.login("bob", PASSWORDS["bob"], hostname=registry.host, config_path=str(bob_config))
    pulled = bob.pull(
        target=f"{registry.host}/alice/artifact:v1", outdir=str(tmp_path / "out"), config_path=str(bob_config)
    )
    assert [Path(path).read_bytes() for path in pulled] == [payload.read_bytes()]

    # the blobs are there already (bob may see them): the manifest's PUT is what is refused
    with pytest.raises(ValueError, match=r"/v2/alice/artifact/manifests/by-bob: Forbidden"):
        push_text(bob, f"{registry.host}/alice/artifact:by-bob", payload, bob_config)
    with as_user(registry, "alice") as client:
        assert client.get("/v2/alice/artifact/tags/list").json()["tags"] == ["v1"]

    public = push_text(alice, f"{registry.host}/public/artifact:v1", payload, alice_config)
    assert public.status_code == 201, public.text
    anonymous = oras.client.OrasClient(insecure=True, auth_backend="basic")
    pulled = anonymous.pull(target=f"{registry.host}/public/artifact:v1", outdir=str(tmp_path / "public"))
    assert [Path(path).read_bytes() for path in pulled] == [payload.read_bytes()]
    wrong = oras.client.OrasClient(insecure=True, auth_backend="basic")
    wrong.login("alice", PASSWORDS["bob"], hostname=registry.host, config_path=str(tmp_path / "wrong.json"))
    with pytest.raises(ValueError, match=r"/v2/alice/artifact/manifests/v1: Unauthorized"):
        wrong.pull(
            target=f"{registry.host}/alice/artifact:v1",
            outdir=str(tmp_path / "wrong"),
            config_path=str(tmp_path / "wrong.json"),
        )


# -- the log ---------------------------------------------------------------------------------------------------------


def test_no_password_reaches_the_log(registry: RunningRegistry) -> None:
    """Last in the module: the log then holds every request of the tests above on this registry too (skopeo's,
    oras's), and these, with right and wrong passwords."""
    wrong = "wrong-Pw-71c2d9aa"
    attempts = [(user, password) for user, password in PASSWORDS.items()] + [("alice", wrong), ("mallory", wrong)]
    for user, password in attempts:
        with httpx.Client(base_url=registry.url, auth=(user, password)) as client:
            client.get("/v2/")
            client.get("/v2/alice/app/tags/list")
            client.post("/v2/alice/app/blobs/uploads/")
    log = log_of(registry)
    assert "GET /v2/alice/app/tags/list" in log  # the access log is on, the level debug
    for user, password in attempts:
        assert password not in log
        assert base64.b64encode(f"{user}:{password}".encode()).decode() not in log
    assert registry.process is not None
    for line in (registry.process.log.parent / "htpasswd").read_text().splitlines():
        assert line.split(":", 1)[1] not in log  # nor a hash
