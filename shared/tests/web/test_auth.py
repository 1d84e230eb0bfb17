"""htpasswd mode through the all-in-one app, built from a config file as ``registry serve all`` builds it: what
every registry route and method needs (``needed``), and the 401 / 403 answers, their challenge and body."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from blob_read.app import ROUTERS as READ_ROUTERS
from blob_read.app import create_app as create_read_app
from blob_write.app import ROUTERS as WRITE_ROUTERS
from registry_core.config import ConfigError, Settings
from registry_core.testing.service_app import running_app
from registry_core.testing.token_files import write_htpasswd
from registry_purger.app import create_app as create_purger_app
from registry_server.app import create_app

PASSWORDS = {name: f"{name}-secret" for name in ("alice", "puller", "pusher", "deleter", "pushonly", "nobody")}
TEAM_RULES: list[dict[str, Any]] = [
    {"repository": "alice/**", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "team/**", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "team/**", "users": ["puller"], "actions": ["pull"]},
    {"repository": "team/**", "users": ["pusher"], "actions": ["pull", "push"]},
    {"repository": "team/**", "users": ["deleter"], "actions": ["delete"]},
    {"repository": "team/**", "users": ["pushonly"], "actions": ["push"]},
    {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
    {"repository": "public/**", "users": ["alice"], "actions": ["push"]},
]
"""``nobody`` is a user no rule names."""
ACTIONS_OF = {
    "alice": {"pull", "push", "delete"},
    "puller": {"pull"},
    "pusher": {"pull", "push"},
    "deleter": {"delete"},
    "pushonly": {"push"},
    "nobody": set(),
}
"""What each user may do on ``team/**``."""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def login(user: str) -> dict[str, str]:
    return basic(user, PASSWORDS[user])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def running(
    directory: Path, access: list[dict[str, Any]] | None = TEAM_RULES, realm: str | None = None
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The all-in-one app on filesystem storage under ``directory/root`` with ``auth.htpasswd`` (the users of
    :data:`PASSWORDS`) and ``auth.access`` (none: the key left out), started while the block runs."""
    htpasswd = write_htpasswd(directory / "htpasswd", PASSWORDS)
    auth: dict[str, Any] = {"htpasswd": {"path": str(htpasswd)} | ({"realm": realm} if realm is not None else {})}
    if access is not None:
        auth["access"] = access
    return running_app(directory, create_app, auth=auth)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(tmp_path) as started:
        yield started


async def push_image(client: httpx.AsyncClient, repository: str, tag: str, auth: dict[str, str]) -> str:
    """A config blob and an OCI manifest naming it, pushed as ``auth``; the manifest's digest."""
    config = json.dumps({"repository": repository}).encode()
    pushed = await client.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": digest(config)}, content=config, headers=auth
    )
    assert pushed.status_code == 201, pushed.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    put = await client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"} | auth,
    )
    assert put.status_code == 201, put.text
    return digest(manifest)


def assert_unauthorized(response: httpx.Response, realm: str = "registry", detail: Any = ...) -> None:
    assert response.status_code == 401, response.text
    assert response.headers.get_list("www-authenticate") == [f'Basic realm="{realm}"']
    if response.request.method != "HEAD":
        [error] = response.json()["errors"]
        assert (error["code"], error["message"]) == ("UNAUTHORIZED", "authentication required")
        if detail is not ...:
            assert error["detail"] == detail


def assert_denied(response: httpx.Response, repository: str, missing: set[str]) -> None:
    assert response.status_code == 403, response.text
    assert "www-authenticate" not in response.headers  # credentials would not help: these are valid
    if response.request.method != "HEAD":
        [error] = response.json()["errors"]
        assert (error["code"], error["message"]) == ("DENIED", "requested access to the resource is denied")
        assert error["detail"] == [
            {"type": "repository", "name": repository, "action": action} for action in sorted(missing)
        ]


def admitted(response: httpx.Response) -> bool:
    """Past the guard: whatever the route answered (404 for what does not exist), not 401 nor 403."""
    return response.status_code not in (401, 403)


# -- what each route needs -------------------------------------------------------------------------------------------

DIGEST = "sha256:" + "0" * 64
UPLOAD = "0d2f3c6e-8a57-4f0e-9a44-1b8b1c3e2a10"
PULL, PULL_PUSH, DELETE = {"pull"}, {"pull", "push"}, {"delete"}
ROUTES: list[tuple[str, str, str, set[str]]] = [
    # (method, route path, the request's path for `team/app`, actions needed)
    ("GET", "/v2/{name:path}/manifests/{reference}", "/v2/team/app/manifests/latest", PULL),
    ("HEAD", "/v2/{name:path}/manifests/{reference}", "/v2/team/app/manifests/latest", PULL),
    ("PUT", "/v2/{name:path}/manifests/{reference}", "/v2/team/app/manifests/latest", PULL_PUSH),
    ("DELETE", "/v2/{name:path}/manifests/{reference}", f"/v2/team/app/manifests/{DIGEST}", DELETE),
    ("GET", "/v2/{name:path}/tags/list", "/v2/team/app/tags/list", PULL),
    ("GET", "/v2/{name:path}/referrers/{digest}", f"/v2/team/app/referrers/{DIGEST}", PULL),
    ("GET", "/v2/{name:path}/blobs/{digest}", f"/v2/team/app/blobs/{DIGEST}", PULL),
    ("HEAD", "/v2/{name:path}/blobs/{digest}", f"/v2/team/app/blobs/{DIGEST}", PULL),
    ("DELETE", "/v2/{name:path}/blobs/{digest}", f"/v2/team/app/blobs/{DIGEST}", DELETE),
    ("POST", "/v2/{name:path}/blobs/uploads/", "/v2/team/app/blobs/uploads/", PULL_PUSH),
    ("GET", "/v2/{name:path}/blobs/uploads/{upload_id}", f"/v2/team/app/blobs/uploads/{UPLOAD}", PULL_PUSH),
    ("HEAD", "/v2/{name:path}/blobs/uploads/{upload_id}", f"/v2/team/app/blobs/uploads/{UPLOAD}", PULL_PUSH),
    ("PATCH", "/v2/{name:path}/blobs/uploads/{upload_id}", f"/v2/team/app/blobs/uploads/{UPLOAD}", PULL_PUSH),
    ("PUT", "/v2/{name:path}/blobs/uploads/{upload_id}", f"/v2/team/app/blobs/uploads/{UPLOAD}", PULL_PUSH),
    ("DELETE", "/v2/{name:path}/blobs/uploads/{upload_id}", f"/v2/team/app/blobs/uploads/{UPLOAD}", PULL_PUSH),
]
OTHER_ROUTES = {("GET", "/v2/"), ("GET", "/v2/_catalog")}
"""Routes needing no repository access: an authenticated caller, and the catalog (both tested below)."""


def test_the_table_covers_every_registry_route() -> None:
    """Every route of the routers ``registry serve all`` serves (a new route must say what it needs here)."""
    served = {
        (method, route.path)
        for router in (*READ_ROUTERS, *WRITE_ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert served == {(method, path) for method, path, _, _ in ROUTES} | OTHER_ROUTES


@pytest.mark.parametrize(("method", "path", "needs"), [(m, p, n) for m, _, p, n in ROUTES], ids=lambda v: str(v))
async def test_each_route_needs_its_actions(client: httpx.AsyncClient, method: str, path: str, needs: set[str]) -> None:
    for user, actions in ACTIONS_OF.items():
        response = await client.request(method, path, headers=login(user))
        if needs <= actions:
            assert admitted(response), (user, response.status_code, response.text)
        else:
            assert_denied(response, "team/app", needs - actions)
    anonymous = await client.request(method, path)
    detail = [{"type": "repository", "name": "team/app", "action": action} for action in sorted(needs)]
    assert_unauthorized(anonymous, detail=detail)


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/v2/team/blobs/uploads/manifests/latest", PULL),  # a repository named team/blobs/uploads
        ("PUT", "/v2/team/blobs/uploads/manifests/latest", PULL_PUSH),
        ("DELETE", f"/v2/team/blobs/uploads/blobs/{DIGEST}", DELETE),
        ("GET", "/v2/team/blobs/uploads/tags/list", PULL),
        ("DELETE", f"/v2/team/blobs/uploads/blobs/uploads/{UPLOAD}", PULL_PUSH),
    ],
)
async def test_upload_routes_are_told_by_the_route_not_by_the_name(
    client: httpx.AsyncClient, method: str, path: str, needs: set[str]
) -> None:
    response = await client.request(method, path, headers=login("nobody"))
    assert_denied(response, "team/blobs/uploads", needs)


# -- 401 and 403 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"alice:wrong").decode(),  # wrong password
        "Basic " + base64.b64encode(b"mallory:alice-secret").decode(),  # unknown user
        "Basic " + base64.b64encode(b"alice").decode(),  # no colon
        "Basic " + base64.b64encode(b":alice-secret").decode(),  # no user
        "Basic not*base64",
        "Basic " + base64.b64encode(b"alice:\xff").decode(),  # not UTF-8
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",  # another scheme
        "Basic",
    ],
)
async def test_credentials_that_are_not_a_user_are_refused_with_the_challenge(
    client: httpx.AsyncClient, authorization: str
) -> None:
    for path in ("/v2/", "/v2/team/app/tags/list", "/v2/public/app/tags/list", "/v2/_catalog"):
        assert_unauthorized(await client.get(path, headers={"Authorization": authorization}))


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    encoded = base64.b64encode(b"alice:alice-secret").decode()
    for scheme in ("basic", "BASIC", "Basic"):
        assert (await client.get("/v2/", headers={"Authorization": f"{scheme} {encoded}"})).status_code == 200


async def test_a_valid_user_lacking_an_action_is_denied_naming_only_what_is_missing(client: httpx.AsyncClient) -> None:
    start = await client.post("/v2/team/app/blobs/uploads/", headers=login("puller"))
    assert_denied(start, "team/app", {"push"})
    assert_denied(await client.get("/v2/alice/app/tags/list", headers=login("puller")), "alice/app", {"pull"})
    assert_denied(await client.delete(f"/v2/team/app/manifests/{DIGEST}", headers=login("pusher")), "team/app", DELETE)


async def test_base_needs_a_user_and_nothing_more(client: httpx.AsyncClient) -> None:
    for user in PASSWORDS:
        response = await client.get("/v2/", headers=login(user))
        assert response.status_code == 200
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert_unauthorized(await client.get("/v2/"), detail={})  # anonymous, though rules grant anonymous
    assert_unauthorized(await client.get("/v2/", headers=basic("", "")))


async def test_anonymous_pulls_what_anonymous_rules_grant(client: httpx.AsyncClient) -> None:
    manifest = await push_image(client, "public/tools/app", "v1", login("alice"))
    for anonymous in ({}, basic("", "")):  # no credentials, or empty ones (as containers/image sends them)
        got = await client.get("/v2/public/tools/app/manifests/v1", headers=anonymous)
        assert got.status_code == 200
        assert got.headers["docker-content-digest"] == manifest
        assert (await client.head(f"/v2/public/tools/app/manifests/{manifest}", headers=anonymous)).status_code == 200
        assert (await client.get("/v2/public/tools/app/tags/list", headers=anonymous)).json()["tags"] == ["v1"]
        # anything more is a 401 with the challenge: credentials might grant it
        assert_unauthorized(await client.post("/v2/public/tools/app/blobs/uploads/", headers=anonymous))
        assert_unauthorized(await client.delete(f"/v2/public/tools/app/manifests/{manifest}", headers=anonymous))
        assert_unauthorized(await client.get("/v2/team/app/tags/list", headers=anonymous))
    # what anonymous may do, any user may do
    assert (await client.get("/v2/public/tools/app/manifests/v1", headers=login("nobody"))).status_code == 200
    # and a user lacking more than anonymous has is denied, not challenged
    assert_denied(
        await client.post("/v2/public/tools/app/blobs/uploads/", headers=login("nobody")), "public/tools/app", {"push"}
    )


async def test_the_realm_is_quoted_in_the_challenge(tmp_path: Path) -> None:
    async with running(tmp_path, realm='the "main" registry \\ eu') as client:
        response = await client.get("/v2/team/app/tags/list")
    assert_unauthorized(response, realm='the \\"main\\" registry \\\\ eu')


async def test_health_and_metrics_need_no_credentials(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and metrics.text


async def test_an_unknown_route_is_not_found_not_challenged(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v3/")).status_code == 404


# -- no rules: the Go registry's behaviour ---------------------------------------------------------------------------


async def test_without_rules_every_user_may_do_everything_and_anonymous_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, access=None) as client:
        manifest = await push_image(client, "any/where", "v1", login("nobody"))
        got = await client.get("/v2/any/where/manifests/v1", headers=login("puller"))
        assert got.status_code == 200
        catalog = await client.get("/v2/_catalog", headers=login("deleter"))
        assert catalog.status_code == 200 and catalog.json()["repositories"] == ["any/where"]
        deleted = await client.delete(f"/v2/any/where/manifests/{manifest}", headers=login("pushonly"))
        assert deleted.status_code == 202
        assert_unauthorized(await client.get("/v2/any/where/tags/list"))
        assert_unauthorized(
            await client.get("/v2/_catalog"), detail=[{"type": "registry", "name": "catalog", "action": "*"}]
        )


# -- the catalog -----------------------------------------------------------------------------------------------------


async def test_the_catalog_lists_what_the_caller_may_pull(client: httpx.AsyncClient) -> None:
    for repository in ("alice/one", "public/a", "public/b", "team/app", "team/x/y"):
        await push_image(client, repository, "v1", login("alice"))

    async def catalog(headers: dict[str, str], **params: Any) -> httpx.Response:
        response = await client.get("/v2/_catalog", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response

    assert (await catalog(login("alice"))).json()["repositories"] == [
        "alice/one",
        "public/a",
        "public/b",
        "team/app",
        "team/x/y",
    ]
    assert (await catalog(login("puller"))).json()["repositories"] == ["public/a", "public/b", "team/app", "team/x/y"]
    assert (await catalog(login("deleter"))).json()["repositories"] == ["public/a", "public/b"]  # pull lists
    assert (await catalog(login("nobody"))).json()["repositories"] == ["public/a", "public/b"]
    assert (await catalog({})).json()["repositories"] == ["public/a", "public/b"]

    # pages hold n visible names, and the link follows from the last one shown
    first = await catalog(login("puller"), n=2)
    assert first.json()["repositories"] == ["public/a", "public/b"]
    assert first.headers["link"] == '</v2/_catalog?n=2&last=public%2Fb>; rel="next"'
    second = await catalog(login("puller"), n=2, last="public/b")
    assert second.json()["repositories"] == ["team/app", "team/x/y"]
    assert "link" not in second.headers  # nothing visible follows (alice's would, for alice)
    first = await catalog(login("alice"), n=1)
    assert first.json()["repositories"] == ["alice/one"]
    anonymous = await catalog({}, n=1, last="public/a")
    assert anonymous.json()["repositories"] == ["public/b"]
    assert "link" not in anonymous.headers


async def test_the_catalog_refuses_anonymous_when_no_rule_grants_anonymous(tmp_path: Path) -> None:
    rules = [rule for rule in TEAM_RULES if "anonymous" not in rule["users"]]
    async with running(tmp_path, access=rules) as client:
        assert_unauthorized(
            await client.get("/v2/_catalog"), detail=[{"type": "registry", "name": "catalog", "action": "*"}]
        )
        assert (await client.get("/v2/_catalog", headers=login("nobody"))).json()["repositories"] == []


# -- mounts ----------------------------------------------------------------------------------------------------------


async def test_a_mount_from_a_repository_the_caller_may_not_pull_is_a_normal_upload(client: httpx.AsyncClient) -> None:
    layer = b"alice's private layer"
    pushed = await client.post(
        "/v2/alice/secret/blobs/uploads/", params={"digest": digest(layer)}, content=layer, headers=login("alice")
    )
    assert pushed.status_code == 201

    mount = {"mount": digest(layer), "from": "alice/secret"}
    refused = await client.post("/v2/team/app/blobs/uploads/", params=mount, headers=login("pusher"))
    assert refused.status_code == 202  # as for a blob that does not exist: no hint that it does
    assert refused.headers["location"].startswith("/v2/team/app/blobs/uploads/")
    assert (await client.head(f"/v2/team/app/blobs/{digest(layer)}", headers=login("pusher"))).status_code == 404

    mounted = await client.post("/v2/team/app/blobs/uploads/", params=mount, headers=login("alice"))
    assert mounted.status_code == 201
    assert mounted.headers["location"] == f"/v2/team/app/blobs/{digest(layer)}"
    got = await client.get(f"/v2/team/app/blobs/{digest(layer)}", headers=login("pusher"))
    assert (got.status_code, got.content) == (200, layer)


def test_only_services_that_serve_the_api_read_the_auth_files(tmp_path: Path) -> None:
    """The purger (storage, no routes) starts with a config whose htpasswd file it cannot read; blob-read refuses."""
    settings = Settings(
        storage={"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        auth={"htpasswd": {"realm": "r", "path": str(tmp_path / "missing")}},
    )
    assert create_purger_app(settings).state.guard is None
    with pytest.raises(ConfigError, match=r"auth\.htpasswd\.path"):
        create_read_app(settings)
