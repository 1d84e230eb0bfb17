"""``GET,HEAD /v2/<name>/blobs/<digest>``: headers, conditional and range requests, redirects, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from registry_core import paths
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.storage.driver import StorageDriver, UnsupportedMethodError
from registry_core.storage.inmemory import InMemoryDriver

if TYPE_CHECKING:
    from conftest import MakeService, Service

CONTENT = bytes(range(256)) * 12_000  # ~3 MiB: several storage chunks
DIGEST = Digest.from_bytes(CONTENT)
SIZE = len(CONTENT)
NAME = "library/ubuntu"
URL = f"/v2/{NAME}/blobs/{DIGEST}"


class PresigningInMemoryDriver(InMemoryDriver):
    """The in-memory driver, with direct URLs as S3 hands them out."""

    async def url_for(self, path: str, *, method: str = "GET", expires_in: int = 1200) -> str:
        return f"https://bucket.example{path}?expires={expires_in}"


async def push(service: Service, content: bytes = CONTENT, name: str = NAME) -> Descriptor:
    return await service.registry.repository(name).blobs.put(content)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def test_get_serves_the_blob_with_its_headers(service: Service) -> None:
    await push(service)

    response = await service.client.get(URL)

    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)
    assert response.headers["ETag"] == f'"{DIGEST}"'
    assert response.headers["Cache-Control"] == "max-age=604800"
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Content-Range" not in response.headers


async def test_head_sends_headers_only(service: Service) -> None:
    await push(service)

    response = await service.client.head(URL)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)


async def test_names_with_many_components(service: Service) -> None:
    await push(service, b"x", "a/b/c/d")
    response = await service.client.get(f"/v2/a/b/c/d/blobs/{Digest.from_bytes(b'x')}")
    assert response.status_code == 200
    assert response.content == b"x"


async def test_an_empty_blob(service: Service) -> None:
    descriptor = await push(service, b"")
    response = await service.client.get(f"/v2/{NAME}/blobs/{descriptor.digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"


async def test_max_age_is_configurable(make_service: MakeService) -> None:
    service = make_service(blob_max_age=60)
    await push(service)
    assert (await service.client.head(URL)).headers["Cache-Control"] == "max-age=60"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_unknown_blob(service: Service, method: str) -> None:
    response = await service.client.request(method, URL)
    assert response.status_code == 404
    if method == "GET":
        assert error_code(response) == "BLOB_UNKNOWN"


async def test_a_blob_of_another_repository_is_unknown_here(service: Service) -> None:
    await push(service, name="other/repo")
    response = await service.client.get(URL)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (f"/v2/Library/ubuntu/blobs/{DIGEST}", 400, "NAME_INVALID"),
        (f"/v2/a//b/blobs/{DIGEST}", 400, "NAME_INVALID"),
        (f"/v2/a/_b/blobs/{DIGEST}", 400, "NAME_INVALID"),
        (f"/v2/{NAME}/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        (f"/v2/{NAME}/blobs/{DIGEST.hex}", 400, "DIGEST_INVALID"),
        (f"/v2/{NAME}/blobs/sha256:{DIGEST.hex.upper()}", 400, "DIGEST_INVALID"),
        (f"/v2/{NAME}/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"),
    ],
)
async def test_invalid_names_and_digests(service: Service, url: str, status: int, code: str) -> None:
    response = await service.client.get(url)
    assert response.status_code == status
    assert error_code(response) == code


@pytest.mark.parametrize("if_none_match", [f'"{DIGEST}"', f'W/"{DIGEST}"', f'"other", "{DIGEST}"', "*"])
async def test_if_none_match_gives_304(service: Service, if_none_match: str) -> None:
    await push(service)
    response = await service.client.get(URL, headers={"If-None-Match": if_none_match})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == f'"{DIGEST}"'


async def test_if_none_match_of_another_etag_serves(service: Service) -> None:
    await push(service)
    response = await service.client.get(URL, headers={"If-None-Match": '"sha256:other"'})
    assert response.status_code == 200
    assert response.content == CONTENT


@pytest.mark.parametrize(
    ("range_", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=-3", SIZE - 3, SIZE - 1),
        ("bytes=-99999999", 0, SIZE - 1),
        (f"bytes={SIZE - 1}-{SIZE + 100}", SIZE - 1, SIZE - 1),
        ("bytes=1048570-2097160", 1048570, 2097160),  # across storage chunks
        (" bytes = 5 - 6 ", 5, 6),
    ],
)
async def test_range_gives_206(service: Service, range_: str, first: int, last: int) -> None:
    await push(service)

    response = await service.client.get(URL, headers={"Range": range_})

    assert response.status_code == 206
    assert response.content == CONTENT[first : last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)


async def test_head_with_range(service: Service) -> None:
    await push(service)
    response = await service.client.head(URL, headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "10"
    assert response.content == b""


@pytest.mark.parametrize(
    "range_", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 5}", "bytes=5-2", "bytes=-0", "bytes=-", "bytes=a-b", "bytes=1"]
)
async def test_unsatisfiable_range_gives_416(service: Service, range_: str) -> None:
    await push(service)
    response = await service.client.get(URL, headers={"Range": range_})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


async def test_any_range_of_an_empty_blob_is_unsatisfiable(service: Service) -> None:
    descriptor = await push(service, b"")
    response = await service.client.get(f"/v2/{NAME}/blobs/{descriptor.digest}", headers={"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "items=0-5"},
        {"Range": "bytes=0-1,4-5"},
        {"Range": "bytes=0-5", "If-Range": '"sha256:other"'},
    ],
)
async def test_ranges_not_served_send_everything(service: Service, headers: dict[str, str]) -> None:
    await push(service)
    response = await service.client.get(URL, headers=headers)
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_if_range_matching_serves_the_range(service: Service) -> None:
    await push(service)
    response = await service.client.get(URL, headers={"Range": "bytes=0-5", "If-Range": f'"{DIGEST}"'})
    assert response.status_code == 206
    assert response.content == CONTENT[:6]


async def test_redirect_to_the_storage_url(make_service: MakeService) -> None:
    service = make_service(PresigningInMemoryDriver(), redirect=True)
    await push(service)

    response = await service.client.get(URL)

    assert response.status_code == 307
    assert response.headers["Location"] == f"https://bucket.example{paths.blob_data(DIGEST)}?expires=1200"
    head = await service.client.head(URL)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(SIZE)


async def test_no_redirect_unless_enabled(make_service: MakeService) -> None:
    service = make_service(PresigningInMemoryDriver())
    await push(service)
    response = await service.client.get(URL)
    assert response.status_code == 200
    assert response.content == CONTENT


async def test_redirect_enabled_redirects_only_where_the_driver_has_urls(
    make_service: MakeService, driver: StorageDriver
) -> None:
    service = make_service(redirect=True)
    await push(service)

    response = await service.client.get(URL)

    try:
        await driver.url_for(paths.blob_data(DIGEST))
    except UnsupportedMethodError:
        assert response.status_code == 200
        assert response.content == CONTENT
    else:
        assert response.status_code == 307
        assert paths.blob_data(DIGEST) in response.headers["Location"]


async def test_head_on_a_warm_cache_touches_no_storage_and_get_survives_a_stale_cache(
    make_service: MakeService, driver: StorageDriver
) -> None:
    service = make_service()
    await push(service)
    await driver.delete(paths.BLOBS)  # garbage-collected behind the cache's back

    head = await service.client.head(URL)
    get = await service.client.get(URL)

    assert head.status_code == 200  # answered from the cache alone
    assert get.status_code == 404  # the bytes are gone: an error, not a broken 200
    assert error_code(get) == "BLOB_UNKNOWN"
