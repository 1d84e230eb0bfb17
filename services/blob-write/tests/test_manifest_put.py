"""The blob-write manifest API: PUT (by tag, by digest, ``?tag=``, subject, limits, every refusal) and DELETE."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from blob_write.app import ROUTERS, create_app
from registry_core import paths
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.config import (
    DeleteSettings,
    InMemorySettings,
    MaintenanceSettings,
    ReadOnlySettings,
    Settings,
    StorageSettings,
)
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.manifests import MAX_MANIFEST_SIZE, ManifestStore
from registry_core.manifests import mediatypes as mt
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.web.app import create_service_app

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def make_app(*, delete: bool = True, readonly: bool = False) -> FastAPI:
    """The service built from a configuration, as ``registry serve blob-write`` builds it."""
    storage = StorageSettings(
        inmemory=InMemorySettings(),
        delete=DeleteSettings(enabled=delete),
        maintenance=MaintenanceSettings(readonly=ReadOnlySettings(enabled=readonly)),
    )
    return create_app(Settings(storage=storage))


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry")


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    """A registry over each driver of the conftest's matrix."""
    return Registry(CheckedDriver(driver), InMemoryDescriptorCache(), delete_enabled=True)


@pytest.fixture
def app(registry: Registry) -> FastAPI:
    """Every router of blob-write, with the app builder's error handling and middleware, over ``registry``."""
    app = create_service_app("blob-write", Settings(), routers=ROUTERS, with_registry=False)
    app.state.registry = registry
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


def set_policies(app: FastAPI, *, delete: bool, readonly: bool) -> None:
    """Swap in a registry over the same storage with other policies (as a restart with another config would)."""
    registry: Registry = app.state.registry
    app.state.registry = Registry(registry.driver, registry.descriptors, delete_enabled=delete, readonly=readonly)


async def push_blob(registry: Registry, name: str, data: bytes, media_type: str = LAYER_TYPE) -> dict[str, Any]:
    descriptor = await registry.repository(name).blobs.put(data)
    return {"mediaType": media_type, "digest": str(descriptor.digest), "size": descriptor.size}


async def image(registry: Registry, name: str = "app", seed: str = "x", **extra: Any) -> dict[str, Any]:
    """An OCI image manifest (as a dict) whose blobs are pushed to ``name``."""
    config = await push_blob(registry, name, f'{{"seed": "{seed}"}}'.encode(), CONFIG_TYPE)
    layers = [await push_blob(registry, name, f"{seed}-{i}".encode()) for i in range(3)]
    return {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": layers, **extra}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


async def put(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    payload: bytes,
    content_type: str | None = mt.OCI_MANIFEST,
    **kwargs: Any,
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return await client.put(f"/v2/{name}/manifests/{reference}", content=payload, headers=headers, **kwargs)


def store(registry: Registry, name: str = "app") -> ManifestStore:
    return ManifestStore.of(registry.repository(name))


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["errors"][0]["code"])


# -- PUT -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["app", "library/app", "a/b/c"])
async def test_put_by_tag(client: httpx.AsyncClient, registry: Registry, name: str) -> None:
    payload = encode(await image(registry, name))
    digest = Digest.from_bytes(payload)
    response = await put(client, name, "latest", payload)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/{name}/manifests/{digest}"
    assert response.headers["docker-content-digest"] == str(digest)
    assert "oci-subject" not in response.headers
    assert "oci-tag" not in response.headers
    stored = await store(registry, name).get("latest")
    assert (stored.payload, stored.digest) == (payload, digest)
    assert await registry.driver.get_content(paths.tag_current_link(name, "latest")) == str(digest).encode()


async def test_put_by_digest_stores_exact_bytes(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = b"  " + encode(await image(registry)) + b"\n\t"
    digest = Digest.from_bytes(payload)
    response = await put(client, "app", str(digest), payload)
    assert response.status_code == 201
    assert (await store(registry).get(digest)).payload == payload
    assert await store(registry).tags.all() == []


async def test_put_by_digest_with_tags(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    digest = Digest.from_bytes(payload)
    tags = ["1.2.3", "1.2", "1", "latest"]
    response = await put(client, "app", str(digest), payload, params=[("tag", t) for t in tags])
    assert response.status_code == 201
    assert response.headers["oci-tag"] == "1.2.3, 1.2, 1, latest"
    assert await store(registry).tags.all() == sorted(tags)
    for tag in tags:
        assert await store(registry).resolve(tag) == digest


async def test_put_by_sha512_digest(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    digest = Digest("sha512", hashlib.sha512(payload).hexdigest())
    response = await put(client, "app", str(digest), payload, params={"tag": "v512"})
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == str(digest)
    assert response.headers["location"] == f"/v2/app/manifests/{digest}"
    assert (await store(registry).get("v512")).digest == digest


async def test_put_by_wrong_digest(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    wrong = Digest.from_bytes(payload + b"  ")
    assert error(await put(client, "app", str(wrong), payload)) == (400, "DIGEST_INVALID")
    with pytest.raises(RegistryError):
        await store(registry).stat(Digest.from_bytes(payload))


async def test_put_with_subject(client: httpx.AsyncClient, registry: Registry) -> None:
    subject = Digest.from_bytes(b"a subject not pushed yet")
    doc = await image(
        registry,
        artifactType="application/vnd.example.sbom.v1",
        subject={"mediaType": mt.OCI_MANIFEST, "digest": str(subject), "size": 24},
    )
    payload = encode(doc)
    response = await put(client, "app", str(Digest.from_bytes(payload)), payload)
    assert response.status_code == 201
    assert response.headers["oci-subject"] == str(subject)
    listed = await store(registry).referrers.list(subject)
    assert [e["digest"] for e in listed] == [str(Digest.from_bytes(payload))]


async def test_put_index(client: httpx.AsyncClient, registry: Registry) -> None:
    child = encode(await image(registry))
    child_descriptor = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.from_bytes(child)), "size": len(child)}
    index = encode({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child_descriptor]})
    assert error(await put(client, "app", "multi", index, mt.OCI_INDEX)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert (await put(client, "app", str(Digest.from_bytes(child)), child)).status_code == 201
    assert (await put(client, "app", "multi", index, mt.OCI_INDEX)).status_code == 201


async def test_missing_blob(client: httpx.AsyncClient, registry: Registry) -> None:
    doc = await image(registry)
    missing = str(Digest.from_bytes(b"never pushed"))
    doc["layers"][1]["digest"] = missing
    response = await put(client, "app", "t", encode(doc))
    assert error(response) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert response.json()["errors"][0]["detail"] == {"digest": missing}


async def test_blobs_of_another_repository_do_not_count(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry, "other"))
    assert error(await put(client, "app", "t", payload)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert (await put(client, "other", "t", payload)).status_code == 201


@pytest.mark.parametrize(
    ("content_type", "mutate"),
    [
        (mt.OCI_MANIFEST, lambda doc: b"{not json"),
        (mt.OCI_MANIFEST, lambda doc: b""),
        (mt.OCI_MANIFEST, lambda doc: b"[1, 2]"),
        (mt.DOCKER_MANIFEST, lambda doc: encode(doc)),  # body says OCI
        (mt.OCI_MANIFEST, lambda doc: encode({**doc, "schemaVersion": 1})),
        (mt.DOCKER_SCHEMA1_SIGNED, lambda doc: encode({**doc, "mediaType": None})),
        (mt.OCI_MANIFEST, lambda doc: encode({**doc, "config": {**doc["config"], "size": -1}})),
        (mt.OCI_MANIFEST, lambda doc: encode({**doc, "config": {**doc["config"], "digest": "sha256:abc"}})),
        (mt.OCI_MANIFEST, lambda doc: encode({**doc, "manifests": []})),
        (None, lambda doc: encode({**doc, "mediaType": "application/vnd.example+json"})),
    ],
)
async def test_invalid_manifests(
    client: httpx.AsyncClient, registry: Registry, content_type: str | None, mutate: Callable[[dict[str, Any]], bytes]
) -> None:
    payload = mutate(await image(registry))
    assert error(await put(client, "app", "t", payload, content_type)) == (400, "MANIFEST_INVALID")
    with pytest.raises(RegistryError):
        await store(registry).resolve("t")


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    assert (await put(client, "app", "t", payload, f"{mt.OCI_MANIFEST}; charset=utf-8")).status_code == 201


async def test_size_limit(client: httpx.AsyncClient, registry: Registry) -> None:
    doc = await image(registry, annotations={"pad": ""})
    doc["annotations"]["pad"] = "A" * (MAX_MANIFEST_SIZE - len(encode(doc)))
    at_limit = encode(doc)
    assert len(at_limit) == MAX_MANIFEST_SIZE
    assert (await put(client, "app", "big", at_limit)).status_code == 201
    over = at_limit[:-1] + b" }"
    assert error(await put(client, "app", "bigger", over)) == (413, "MANIFEST_INVALID")


async def test_size_limit_without_content_length(client: httpx.AsyncClient) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 8 * MAX_MANIFEST_SIZE:
            sent += 1 << 16
            yield b" " * (1 << 16)

    response = await client.put("/v2/app/manifests/t", content=endless(), headers={"Content-Type": mt.OCI_MANIFEST})
    assert error(response) == (413, "MANIFEST_INVALID")
    assert sent < 2 * MAX_MANIFEST_SIZE  # stopped reading soon after the limit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/app/manifests/-bad", (400, "TAG_INVALID")),
        ("/v2/app/manifests/" + "t" * 129, (400, "TAG_INVALID")),
        ("/v2/app/manifests/sha256:baddigeststring", (400, "DIGEST_INVALID")),
        ("/v2/app/manifests/md5:" + "0" * 32, (400, "DIGEST_INVALID")),
        ("/v2/Bad/manifests/latest", (400, "NAME_INVALID")),
        ("/v2/" + "a" * 256 + "/manifests/latest", (400, "NAME_INVALID")),
        (f"/v2/app/manifests/{Digest.from_bytes(b'x')}?tag=-bad", (400, "TAG_INVALID")),
        ("/v2/app/manifests/ok?tag=" + "t" * 200, (400, "TAG_INVALID")),
    ],
)
async def test_bad_references(
    client: httpx.AsyncClient, registry: Registry, path: str, expected: tuple[int, str]
) -> None:
    payload = encode(await image(registry))
    response = await client.put(path, content=payload, headers={"Content-Type": mt.OCI_MANIFEST})
    assert error(response) == expected


# -- DELETE ----------------------------------------------------------------------------------------------------------
async def test_delete_tag(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    digest = Digest.from_bytes(payload)
    await put(client, "app", str(digest), payload, params=[("tag", "a"), ("tag", "b")])
    response = await client.delete("/v2/app/manifests/a")
    assert response.status_code == 202
    assert await store(registry).tags.all() == ["b"]
    assert (await store(registry).get(digest)).payload == payload
    assert error(await client.delete("/v2/app/manifests/a")) == (404, "MANIFEST_UNKNOWN")


async def test_delete_digest(client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    digest = Digest.from_bytes(payload)
    await put(client, "app", str(digest), payload, params=[("tag", "a"), ("tag", "b")])
    other = encode(await image(registry, seed="other"))
    await put(client, "app", "c", other)
    response = await client.delete(f"/v2/app/manifests/{digest}")
    assert response.status_code == 202
    assert await store(registry).tags.all() == ["c"]
    with pytest.raises(RegistryError):
        await store(registry).stat(digest)
    assert error(await client.delete(f"/v2/app/manifests/{digest}")) == (404, "MANIFEST_UNKNOWN")


async def test_delete_digest_removes_referrer_entry(client: httpx.AsyncClient, registry: Registry) -> None:
    subject = Digest.from_bytes(b"s")
    payload = encode(await image(registry, subject={"mediaType": mt.OCI_MANIFEST, "digest": str(subject), "size": 1}))
    digest = Digest.from_bytes(payload)
    await put(client, "app", str(digest), payload)
    assert len(await store(registry).referrers.list(subject)) == 1
    assert (await client.delete(f"/v2/app/manifests/{digest}")).status_code == 202
    assert await store(registry).referrers.list(subject) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/never/pushed/manifests/latest", (404, "MANIFEST_UNKNOWN")),
        (f"/v2/never/pushed/manifests/{Digest.from_bytes(b'x')}", (404, "MANIFEST_UNKNOWN")),
        ("/v2/app/manifests/-bad", (400, "TAG_INVALID")),
        ("/v2/app/manifests/sha256:bad", (400, "DIGEST_INVALID")),
        ("/v2/APP/manifests/latest", (400, "NAME_INVALID")),
    ],
)
async def test_delete_refusals(client: httpx.AsyncClient, path: str, expected: tuple[int, str]) -> None:
    assert error(await client.delete(path)) == expected


@pytest.mark.parametrize(("delete", "readonly"), [(False, False), (True, True)])
async def test_delete_refused_by_policy(
    app: FastAPI, client: httpx.AsyncClient, registry: Registry, delete: bool, readonly: bool
) -> None:
    payload = encode(await image(registry))
    assert (await put(client, "app", "v1", payload)).status_code == 201
    set_policies(app, delete=delete, readonly=readonly)
    for reference in ("v1", str(Digest.from_bytes(payload))):
        assert error(await client.delete(f"/v2/app/manifests/{reference}")) == (405, "UNSUPPORTED")
    assert (await store(registry).get("v1")).payload == payload


async def test_readonly_refuses_puts(app: FastAPI, client: httpx.AsyncClient, registry: Registry) -> None:
    payload = encode(await image(registry))
    set_policies(app, delete=True, readonly=True)
    assert error(await put(client, "app", "v1", payload)) == (405, "UNSUPPORTED")
    assert await store(registry).tags.all() == []


@pytest.mark.parametrize(("delete", "readonly"), [(False, False), (True, True)])
async def test_policies_come_from_the_configuration(delete: bool, readonly: bool) -> None:
    app = make_app(delete=delete, readonly=readonly)
    async with app.router.lifespan_context(app), client_for(app) as client:
        assert error(await client.delete("/v2/app/manifests/latest")) == (405, "UNSUPPORTED")
        refused = await put(client, "app", "latest", b"{}")
        assert refused.status_code == (405 if readonly else 400)


# -- never a 500 for bad input ---------------------------------------------------------------------------------------
ODD_BODIES = [
    bytes(range(256)) * 10,
    b"\xef\xbb\xbf{}",
    b"[" * 50_000,
    b'{"schemaVersion": 2, "config": ' * 5000,
    b'{"schemaVersion": 2e400}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "x",'
    b' "digest": "sha256:' + b"0" * 64 + b'", "size": 1e999}, "layers": []}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "x",'
    b' "digest": "sha256:' + b"0" * 64 + b'", "size": ' + b"9" * 4000 + b'}, "layers": []}',
    b'{"schemaVersion": 2, "manifests": [{"digest": "sha256:' + b"a" * 64 + b'", "size": 1, "platform": 7}]}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": null}',
    b'{"schemaVersion": 2, "subject": {"digest": "sha256:' + b"a" * 64 + b'", "size": 1}, "manifests": []}',
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
@pytest.mark.parametrize("content_type", [None, mt.OCI_MANIFEST, mt.OCI_INDEX, "text/plain; x=\x7f"])
async def test_never_a_500(client: httpx.AsyncClient, body: bytes, content_type: str | None) -> None:
    for reference in ("latest", str(Digest.from_bytes(body))):
        response = await put(client, "app", reference, body, content_type)
        assert response.status_code < 500, response.text


@pytest.mark.parametrize("path", ["/v2/app/manifests/latest%0A", "/v2/app%0A/manifests/latest"])
async def test_trailing_newline_is_refused(client: httpx.AsyncClient, path: str) -> None:
    # A newline inside the name matches no route at all (404); one in the tag is refused by the grammar (400).
    assert (await client.delete(path)).status_code in (400, 404)


@pytest.mark.parametrize("declared", [str(MAX_MANIFEST_SIZE + 1), "9" * 30, "9" * 5000])
async def test_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient, declared: str
) -> None:
    request = client.build_request(
        "PUT", "/v2/app/manifests/t", content=b"{}", headers={"Content-Type": mt.OCI_MANIFEST}
    )
    request.headers["Content-Length"] = declared
    assert error(await client.send(request)) == (413, "MANIFEST_INVALID")
