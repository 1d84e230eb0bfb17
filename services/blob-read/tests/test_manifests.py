"""The blob-read manifest API: manifests (GET/HEAD, conditional), tags and catalog pagination, referrers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from blob_read.app import ROUTERS
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.config import Settings
from registry_core.digest import Digest
from registry_core.manifests import ManifestStore, parse_reference
from registry_core.manifests import mediatypes as mt
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.web.app import create_service_app

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture
def registry(driver: StorageDriver) -> Registry:
    """A registry over each driver of the conftest's matrix."""
    return Registry(CheckedDriver(driver), InMemoryDescriptorCache(), delete_enabled=True)


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    """The service as deployed (every router of blob-read, the app builder's error handling and middleware), over
    ``registry``."""
    app = create_service_app("blob-read", Settings(), routers=ROUTERS, with_registry=False)
    app.state.registry = registry
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


# -- seeding content through the stores (the write API is blob-write's) ----------------------------------------------
async def push_blob(registry: Registry, name: str, data: bytes, media_type: str = LAYER_TYPE) -> dict[str, Any]:
    descriptor = await registry.repository(name).blobs.put(data)
    return {"mediaType": media_type, "digest": str(descriptor.digest), "size": descriptor.size}


async def push_manifest(
    registry: Registry, name: str, doc: dict[str, Any], *tags: str, content_type: str | None = None
) -> tuple[Digest, bytes]:
    payload = json.dumps(doc, indent=3).encode()
    digest = Digest.from_bytes(payload)
    store = ManifestStore.of(registry.repository(name))
    await store.put(payload, content_type or doc.get("mediaType"), digest, tags)
    return digest, payload


async def push_image(
    registry: Registry, name: str, *tags: str, seed: str = "x", media_type: str = mt.OCI_MANIFEST, **extra: Any
) -> tuple[Digest, bytes]:
    config = await push_blob(registry, name, f'{{"seed": "{seed}"}}'.encode(), CONFIG_TYPE)
    layers = [await push_blob(registry, name, f"{seed}-{i}".encode()) for i in range(2)]
    doc = {"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers, **extra}
    return await push_manifest(registry, name, doc, *tags, content_type=media_type)


def descriptor(digest: Digest, payload: bytes, media_type: str = mt.OCI_MANIFEST) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(digest), "size": len(payload)}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


# -- manifests -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["app", "library/ubuntu", "a/b/c/d"])
async def test_get_by_tag_and_digest(client: httpx.AsyncClient, registry: Registry, name: str) -> None:
    digest, payload = await push_image(registry, name, "latest")
    for reference in ("latest", str(digest)):
        response = await client.get(f"/v2/{name}/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == payload
        assert response.headers["content-type"] == mt.OCI_MANIFEST
        assert response.headers["docker-content-digest"] == str(digest)
        assert response.headers["etag"] == f'"{digest}"'
        assert response.headers["content-length"] == str(len(payload))


async def test_head(client: httpx.AsyncClient, registry: Registry) -> None:
    digest, payload = await push_image(registry, "app", "v1")
    for reference in ("v1", str(digest)):
        response = await client.head(f"/v2/app/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-length"] == str(len(payload))
        assert response.headers["docker-content-digest"] == str(digest)
        assert response.headers["content-type"] == mt.OCI_MANIFEST


async def test_if_none_match(client: httpx.AsyncClient, registry: Registry) -> None:
    digest, _ = await push_image(registry, "app", "v1")
    for reference in ("v1", str(digest)):
        response = await client.get(f"/v2/app/manifests/{reference}", headers={"If-None-Match": f'"{digest}"'})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == f'"{digest}"'
    other = await client.get("/v2/app/manifests/v1", headers={"If-None-Match": f'"{Digest.from_bytes(b"x")}"'})
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("media_type", "with_field"),
    [(mt.OCI_MANIFEST, True), (mt.OCI_MANIFEST, False), (mt.DOCKER_MANIFEST, True)],
)
async def test_content_type_is_the_pushed_type(
    client: httpx.AsyncClient, registry: Registry, media_type: str, with_field: bool
) -> None:
    config = await push_blob(registry, "app", b"{}", CONFIG_TYPE)
    doc: dict[str, Any] = {"schemaVersion": 2, "config": config, "layers": []}
    if with_field:
        doc["mediaType"] = media_type
    await push_manifest(registry, "app", doc, "t", content_type=media_type)
    response = await client.get("/v2/app/manifests/t")
    assert response.headers["content-type"] == media_type


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
async def test_index_content_type(client: httpx.AsyncClient, registry: Registry, media_type: str) -> None:
    child, child_payload = await push_image(registry, "app")
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": [descriptor(child, child_payload)]}
    digest, payload = await push_manifest(registry, "app", doc, "multi")
    response = await client.get("/v2/app/manifests/multi")
    assert (response.status_code, response.content) == (200, payload)
    assert response.headers["content-type"] == media_type
    assert response.headers["docker-content-digest"] == str(digest)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("reference", ["missing", str(Digest.from_bytes(b"missing"))])
async def test_unknown_manifest(client: httpx.AsyncClient, registry: Registry, method: str, reference: str) -> None:
    await push_image(registry, "app", "v1")
    for name in ("app", "unknown/repo"):
        response = await client.request(method, f"/v2/{name}/manifests/{reference}")
        assert response.status_code == 404
        if method == "GET":
            assert error_code(response) == "MANIFEST_UNKNOWN"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/app/manifests/sha256:baddigeststring", 400, "DIGEST_INVALID"),
        ("/v2/app/manifests/sha384:" + "0" * 96, 400, "DIGEST_INVALID"),
        ("/v2/app/manifests/-notatag", 404, "MANIFEST_UNKNOWN"),  # no such tag can exist: not found
        ("/v2/app/manifests/" + "t" * 129, 404, "MANIFEST_UNKNOWN"),
        ("/v2/App/manifests/latest", 400, "NAME_INVALID"),
        ("/v2/a//b/manifests/latest", 400, "NAME_INVALID"),
        ("/v2/app/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID"),
        ("/v2/app/tags/list?n=abc", 400, "PAGINATION_NUMBER_INVALID"),
        ("/v2/_catalog?n=-5", 400, "PAGINATION_NUMBER_INVALID"),
        ("/v2/App/tags/list", 400, "NAME_INVALID"),
        ("/v2/app/referrers/sha256:nothex", 400, "DIGEST_INVALID"),
        ("/v2/app/referrers/latest", 400, "DIGEST_INVALID"),
        ("/v2/App/referrers/" + str(Digest.from_bytes(b"s")), 400, "NAME_INVALID"),
    ],
)
async def test_bad_requests(client: httpx.AsyncClient, registry: Registry, path: str, status: int, code: str) -> None:
    await push_image(registry, "app", "latest")
    response = await client.get(path)
    assert (response.status_code, error_code(response)) == (status, code)


# -- tags ------------------------------------------------------------------------------------------------------------
TAGS = ["v1", "v2", "v3", "v4", "v5", "v6", "v7"]

LINK = re.compile(r'^<(?P<url>/v2/[^>]+)>; rel="next"$')


async def follow(client: httpx.AsyncClient, url: str, key: str) -> list[tuple[list[str], str | None]]:
    """Every page from ``url`` on, following ``Link``: ``(entries, Link header)`` per page."""
    pages: list[tuple[list[str], str | None]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        link = response.headers.get("link")
        pages.append((response.json()[key], link))
        match = LINK.match(link) if link else None
        assert link is None or match is not None, link
        next_url = match["url"] if match else None
        assert len(pages) < 50
    return pages


async def test_tags_list(client: httpx.AsyncClient, registry: Registry) -> None:
    await push_image(registry, "library/app", *reversed(TAGS))
    response = await client.get("/v2/library/app/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "library/app", "tags": TAGS}
    assert "link" not in response.headers


async def test_tags_pages(client: httpx.AsyncClient, registry: Registry) -> None:
    await push_image(registry, "library/app", *TAGS)
    pages = await follow(client, "/v2/library/app/tags/list?n=3", "tags")
    assert [entries for entries, _ in pages] == [TAGS[0:3], TAGS[3:6], TAGS[6:]]
    assert pages[0][1] == '</v2/library/app/tags/list?n=3&last=v3>; rel="next"'
    assert pages[1][1] == '</v2/library/app/tags/list?n=3&last=v6>; rel="next"'
    assert pages[2][1] is None


@pytest.mark.parametrize(
    ("query", "tags", "link"),
    [
        ("n=7", TAGS, False),
        ("n=8", TAGS, False),
        ("n=6", TAGS[:6], True),
        ("n=0", [], False),
        ("n=0&last=v2", [], False),
        ("last=v5", ["v6", "v7"], False),
        ("n=1&last=v6", ["v7"], False),
        ("n=2&last=v7", [], False),
        ("n=2&last=a", ["v1", "v2"], True),
    ],
)
async def test_tags_query(
    client: httpx.AsyncClient, registry: Registry, query: str, tags: list[str], link: bool
) -> None:
    await push_image(registry, "app", *TAGS)
    response = await client.get(f"/v2/app/tags/list?{query}")
    assert response.json()["tags"] == tags
    assert ("link" in response.headers) is link


async def test_tags_of_unknown_repository(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/does/not/exist/tags/list")
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


async def test_tags_of_repository_without_tags(client: httpx.AsyncClient, registry: Registry) -> None:
    await push_blob(registry, "app", b"layer")
    response = await client.get("/v2/app/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "app", "tags": []}


# -- catalog ---------------------------------------------------------------------------------------------------------
REPOS = ["a", "a/b", "a-b", "library/debian", "library/ubuntu", "z"]
EMPTY_INDEX = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}


async def make_repository(registry: Registry, name: str) -> None:
    """The cheapest repository: one manifest (an empty index), so it has ``_manifests``."""
    await push_manifest(registry, name, EMPTY_INDEX)


async def test_catalog(client: httpx.AsyncClient, registry: Registry) -> None:
    for name in reversed(REPOS):
        await make_repository(registry, name)
    await push_blob(registry, "blobs/only", b"a push in progress")  # no manifest yet: not a repository
    response = await client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": REPOS}
    assert "link" not in response.headers


async def test_catalog_pages(client: httpx.AsyncClient, registry: Registry) -> None:
    for name in REPOS:
        await push_image(registry, name, "v1")
    pages = await follow(client, "/v2/_catalog?n=4", "repositories")
    assert [entries for entries, _ in pages] == [REPOS[:4], REPOS[4:]]
    assert pages[0][1] == '</v2/_catalog?n=4&last=library%2Fdebian>; rel="next"'
    assert pages[1][1] is None
    assert [entries for entries, _ in await follow(client, "/v2/_catalog?n=2", "repositories")] == [
        REPOS[0:2],
        REPOS[2:4],
        REPOS[4:6],
    ]


async def test_catalog_edges(client: httpx.AsyncClient, registry: Registry) -> None:
    assert (await client.get("/v2/_catalog")).json() == {"repositories": []}
    await make_repository(registry, "a")
    response = await client.get("/v2/_catalog?n=0")
    assert (response.json(), "link" in response.headers) == ({"repositories": []}, False)
    assert (await client.get("/v2/_catalog?last=a")).json() == {"repositories": []}


async def test_catalog_default_page_is_bounded(client: httpx.AsyncClient, registry: Registry) -> None:
    for i in range(105):
        await make_repository(registry, f"r{i:03}")
    response = await client.get("/v2/_catalog")
    assert len(response.json()["repositories"]) == 100
    assert response.headers["link"] == '</v2/_catalog?n=100&last=r099>; rel="next"'


# -- referrers -------------------------------------------------------------------------------------------------------
async def push_referrers(registry: Registry) -> tuple[Digest, list[dict[str, Any]]]:
    subject, subject_payload = await push_image(registry, "app", "v1", seed="subject")
    sbom, sbom_payload = await push_image(
        registry,
        "app",
        seed="sbom",
        artifactType="application/vnd.example.sbom.v1",
        subject=descriptor(subject, subject_payload),
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )
    sig, sig_payload = await push_image(
        registry,
        "app",
        seed="sig",
        artifactType="application/vnd.example.sig.v1",
        subject=descriptor(subject, subject_payload),
    )
    child, child_payload = await push_image(registry, "app", seed="child")
    index_doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [descriptor(child, child_payload)],
        "subject": descriptor(subject, subject_payload),
    }
    index, index_payload = await push_manifest(registry, "app", index_doc)
    expected = [
        {
            **descriptor(sbom, sbom_payload),
            "artifactType": "application/vnd.example.sbom.v1",
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        },
        {**descriptor(sig, sig_payload), "artifactType": "application/vnd.example.sig.v1"},
        descriptor(index, index_payload, mt.OCI_INDEX),  # an index without artifactType: none listed
    ]
    return subject, expected


def by_digest(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: str(e["digest"]))


async def test_referrers(client: httpx.AsyncClient, registry: Registry) -> None:
    subject, expected = await push_referrers(registry)
    response = await client.get(f"/v2/app/referrers/{subject}")
    assert response.status_code == 200
    assert response.headers["content-type"] == mt.OCI_INDEX
    assert "oci-filters-applied" not in response.headers
    body = response.json()
    assert (body["schemaVersion"], body["mediaType"]) == (2, mt.OCI_INDEX)
    assert by_digest(body["manifests"]) == by_digest(expected)


async def test_referrers_filtered(client: httpx.AsyncClient, registry: Registry) -> None:
    subject, expected = await push_referrers(registry)
    response = await client.get(
        f"/v2/app/referrers/{subject}", params={"artifactType": "application/vnd.example.sbom.v1"}
    )
    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert response.json()["manifests"] == [expected[0]]
    none = await client.get(f"/v2/app/referrers/{subject}", params={"artifactType": "application/none"})
    assert (none.json()["manifests"], none.headers["oci-filters-applied"]) == ([], "artifactType")


async def test_referrers_are_per_repository(client: httpx.AsyncClient, registry: Registry) -> None:
    subject, _ = await push_referrers(registry)
    response = await client.get(f"/v2/other/referrers/{subject}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


@pytest.mark.parametrize("name", ["app", "never/pushed"])
async def test_no_referrers_is_an_empty_index(client: httpx.AsyncClient, registry: Registry, name: str) -> None:
    await push_image(registry, "app", "v1")
    response = await client.get(f"/v2/{name}/referrers/{Digest.from_bytes(b'lonely')}")
    assert response.status_code == 200
    assert response.headers["content-type"] == mt.OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}


async def test_referrer_gone_after_delete(client: httpx.AsyncClient, registry: Registry) -> None:
    subject, expected = await push_referrers(registry)
    await ManifestStore.of(registry.repository("app")).delete(parse_reference(expected[0]["digest"]))
    response = await client.get(f"/v2/app/referrers/{subject}")
    assert by_digest(response.json()["manifests"]) == by_digest(expected[1:])


# -- never a 500 for bad input ---------------------------------------------------------------------------------------
ODD_PATHS = [
    "/v2/app/manifests/%00",
    "/v2/app/manifests/%C3%A9t%C3%A9",
    "/v2/app/manifests/" + "x" * 5000,
    "/v2/app/manifests/sha256:" + "0" * 5000,
    "/v2/app/manifests/sha256:%0A",
    "/v2/app/manifests/..",
    "/v2/../manifests/latest",
    "/v2/a/../b/manifests/latest",
    "/v2/" + "a/" * 200 + "x/manifests/latest",
    "/v2/app/tags/list?n=" + "9" * 5000,
    "/v2/app/tags/list?n=1&last=%00%FF",
    "/v2/app/tags/list?last=" + "z" * 10000,
    "/v2/_catalog?n=" + "9" * 5000,
    "/v2/_catalog?last=" + "/" * 300,
    "/v2/_catalog?last=..%2F..%2Fetc",
    "/v2/app/referrers/sha256:" + "0" * 64 + "?artifactType=%00",
    "/v2/app/referrers/" + "x" * 5000,
]


@pytest.mark.parametrize("path", ODD_PATHS)
async def test_never_a_500(client: httpx.AsyncClient, registry: Registry, path: str) -> None:
    await push_image(registry, "app", "latest")
    for method in ("GET", "HEAD"):
        response = await client.request(method, path)
        assert response.status_code < 500, (path, response.text)


@pytest.mark.parametrize("path", ["/v2/app/manifests/latest%0A", "/v2/app%0A/tags/list"])
async def test_trailing_newline_is_refused(client: httpx.AsyncClient, path: str) -> None:
    # A newline inside the name matches no route at all (404); one in the tag is refused by the grammar (400).
    assert (await client.get(path)).status_code in (400, 404)
