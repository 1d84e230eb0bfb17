"""Uploads over HTTP: every flow (chunked, streamed, monolithic, mount), every error, and blob deletes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest

from registry_core import paths
from registry_core.digest import Digest
from registry_core.storage.driver import StorageDriver

if TYPE_CHECKING:
    from conftest import MakeService, Service

PART1 = b"a" * 70_000
PART2 = bytes(range(256)) * 400
CONTENT = PART1 + PART2
DIGEST = Digest.from_bytes(CONTENT)
NAME = "library/ubuntu"
UPLOADS = f"/v2/{NAME}/blobs/uploads/"
UNKNOWN_ID = "7d6e3f4c-0000-4000-8000-000000000001"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def start(service: Service, name: str = NAME) -> str:
    """POST a new upload; its Location."""
    response = await service.client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    location: str = response.headers["Location"]
    return location


async def body(*parts: bytes) -> AsyncIterator[bytes]:
    """A body sent with ``Transfer-Encoding: chunked``: no Content-Length."""
    for part in parts:
        yield part


async def stored(service: Service, digest: Digest = DIGEST, name: str = NAME) -> bytes:
    return await service.registry.repository(name).blobs.get(digest)


async def files_under(driver: StorageDriver, path: str) -> list[str]:
    try:
        return [info.path async for info in driver.walk(path) if not info.is_dir]
    except FileNotFoundError:
        return []


# -- starting ----------------------------------------------------------------------------------------------


async def test_post_starts_an_upload(service: Service, driver: StorageDriver) -> None:
    response = await service.client.post(UPLOADS)

    assert response.status_code == 202
    upload_id = response.headers["Docker-Upload-UUID"]
    assert UUID_RE.match(upload_id)
    assert response.headers["Location"] == f"/v2/{NAME}/blobs/uploads/{upload_id}"
    assert response.headers["Range"] == "0-0"
    assert response.headers["Content-Length"] == "0"
    assert await files_under(driver, "/") == [paths.upload_started_at(NAME, upload_id)]


async def test_each_post_is_a_new_upload(service: Service) -> None:
    assert await start(service) != await start(service)


# -- chunked and streamed uploads --------------------------------------------------------------------------


async def test_chunked_upload(service: Service, driver: StorageDriver) -> None:
    location = await start(service)
    upload_id = location.rsplit("/", 1)[1]

    first = await service.client.patch(location, content=PART1, headers={"Content-Range": f"0-{len(PART1) - 1}"})
    assert first.status_code == 202
    assert first.headers["Range"] == f"0-{len(PART1) - 1}"
    assert first.headers["Location"] == location
    assert first.headers["Docker-Upload-UUID"] == upload_id
    assert first.headers["Content-Length"] == "0"

    second = await service.client.patch(
        location, content=PART2, headers={"Content-Range": f"{len(PART1)}-{len(CONTENT) - 1}"}
    )
    assert second.headers["Range"] == f"0-{len(CONTENT) - 1}"

    status = await service.client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(CONTENT) - 1}"
    assert status.headers["Docker-Upload-UUID"] == upload_id
    assert status.headers["Location"] == location
    assert await files_under(driver, paths.BLOBS) == []  # nothing visible before the PUT

    done = await service.client.put(location, params={"digest": str(DIGEST)})
    assert done.status_code == 201
    assert done.headers["Location"] == f"/v2/{NAME}/blobs/{DIGEST}"
    assert done.headers["Docker-Content-Digest"] == str(DIGEST)
    assert await stored(service) == CONTENT
    assert (await service.client.get(location)).status_code == 404
    assert await files_under(driver, paths.uploads(NAME)) == []


async def test_streamed_upload_without_content_range(service: Service) -> None:
    location = await start(service)

    patched = await service.client.patch(location, content=body(PART1[:1000], PART1[1000:], PART2))
    assert patched.status_code == 202
    assert patched.headers["Range"] == f"0-{len(CONTENT) - 1}"

    done = await service.client.put(location, params={"digest": str(DIGEST)})
    assert done.status_code == 201
    assert await stored(service) == CONTENT


async def test_put_with_the_last_chunk(service: Service) -> None:
    location = await start(service)
    await service.client.patch(location, content=PART1)

    done = await service.client.put(
        location,
        params={"digest": str(DIGEST)},
        content=PART2,
        headers={"Content-Range": f"{len(PART1)}-{len(CONTENT) - 1}"},
    )

    assert done.status_code == 201
    assert await stored(service) == CONTENT


async def test_put_with_a_streamed_body(service: Service) -> None:
    location = await start(service)
    done = await service.client.put(location, params={"digest": str(DIGEST)}, content=body(PART1, PART2))
    assert done.status_code == 201
    assert await stored(service) == CONTENT


async def test_an_empty_put_ignores_its_content_range(service: Service) -> None:
    location = await start(service)
    await service.client.patch(location, content=CONTENT)
    done = await service.client.put(location, params={"digest": str(DIGEST)}, headers={"Content-Range": "0-0"})
    assert done.status_code == 201


async def test_status_of_an_empty_upload(service: Service) -> None:
    location = await start(service)
    status = await service.client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"


async def test_concurrent_pushes_of_the_same_blob_all_succeed(service: Service, driver: StorageDriver) -> None:
    async def push(name: str) -> httpx.Response:
        location = await start(service, name)
        await service.client.patch(location, content=PART1)
        return await service.client.put(location, params={"digest": str(DIGEST)}, content=PART2)

    responses = await asyncio.gather(*(push(name) for name in ("a", "b", "a", "c/d")))

    assert [r.status_code for r in responses] == [201] * 4
    assert await files_under(driver, paths.BLOBS) == [paths.blob_data(DIGEST)]
    for name in ("a", "b", "c/d"):
        assert await stored(service, name=name) == CONTENT


# -- monolithic uploads and mounts -------------------------------------------------------------------------


async def test_monolithic_post(service: Service, driver: StorageDriver) -> None:
    response = await service.client.post(UPLOADS, params={"digest": str(DIGEST)}, content=CONTENT)

    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{NAME}/blobs/{DIGEST}"
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)
    assert await stored(service) == CONTENT
    assert await files_under(driver, paths.uploads(NAME)) == []


async def test_monolithic_post_of_an_empty_blob(service: Service) -> None:
    empty = Digest.from_bytes(b"")
    response = await service.client.post(UPLOADS, params={"digest": str(empty)})
    assert response.status_code == 201
    assert await stored(service, empty) == b""


async def test_monolithic_post_with_a_wrong_digest_leaves_nothing(service: Service, driver: StorageDriver) -> None:
    response = await service.client.post(UPLOADS, params={"digest": str(Digest.from_bytes(b"x"))}, content=CONTENT)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert await files_under(driver, "/") == []


async def test_a_broken_monolithic_post_leaves_nothing(service: Service, driver: StorageDriver) -> None:
    async def disconnecting() -> AsyncIterator[bytes]:
        yield PART1
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await service.client.post(UPLOADS, params={"digest": str(DIGEST)}, content=disconnecting())

    assert await files_under(driver, "/") == []


async def test_a_body_without_digest_is_refused(service: Service, driver: StorageDriver) -> None:
    response = await service.client.post(UPLOADS, content=CONTENT)
    assert response.status_code == 400
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert await files_under(driver, "/") == []


async def test_mount_links_the_blob_of_another_repository(service: Service, driver: StorageDriver) -> None:
    await service.registry.repository("source/repo").blobs.put(CONTENT)
    before = await files_under(driver, paths.BLOBS)

    response = await service.client.post(UPLOADS, params={"mount": str(DIGEST), "from": "source/repo"})

    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{NAME}/blobs/{DIGEST}"
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)
    assert await stored(service) == CONTENT
    assert await files_under(driver, paths.BLOBS) == before
    assert await files_under(driver, paths.uploads(NAME)) == []


@pytest.mark.parametrize("source", ["source/repo", "empty/repo", None])
async def test_a_mount_that_cannot_happen_starts_an_upload(service: Service, source: str | None) -> None:
    await service.registry.blob_store.put(CONTENT)  # the bytes exist, but "source/repo" does not link them
    params = {"mount": str(DIGEST)} | ({"from": source} if source else {})

    response = await service.client.post(UPLOADS, params=params)

    assert response.status_code == 202
    assert response.headers["Range"] == "0-0"
    assert (await service.client.get(response.headers["Location"])).status_code == 204
    assert (await service.client.head(f"/v2/{NAME}/blobs/{DIGEST}")).status_code != 200


@pytest.mark.parametrize(
    ("params", "content", "code"),
    [
        ({"mount": str(DIGEST), "from": "source/repo"}, b"body", "BLOB_UPLOAD_INVALID"),
        ({"mount": "sha256:nothex", "from": "source/repo"}, b"", "DIGEST_INVALID"),
        ({"mount": "md5:" + "0" * 32, "from": "source/repo"}, b"", "DIGEST_INVALID"),
        ({"mount": str(DIGEST), "from": "Not/Valid"}, b"", "NAME_INVALID"),
        ({"digest": "sha256:short"}, b"x", "DIGEST_INVALID"),
        ({"digest": "md5:" + "0" * 32}, b"x", "DIGEST_INVALID"),
        ({"digest": ""}, b"", "DIGEST_INVALID"),
    ],
)
async def test_bad_post_parameters(
    service: Service, driver: StorageDriver, params: dict[str, str], content: bytes, code: str
) -> None:
    await service.registry.repository("source/repo").blobs.put(CONTENT)
    response = await service.client.post(UPLOADS, params=params, content=content)
    assert response.status_code == 400
    assert error_code(response) == code
    assert await files_under(driver, paths.repository(NAME)) == []


# -- chunk errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0, len(PART1) - 1, len(PART1) + 1])
async def test_a_chunk_not_at_the_end_gives_416(service: Service, first: int) -> None:
    location = await start(service)
    await service.client.patch(location, content=PART1)

    response = await service.client.patch(
        location, content=PART2, headers={"Content-Range": f"{first}-{first + len(PART2) - 1}"}
    )

    assert response.status_code == 416
    assert error_code(response) == "BLOB_UPLOAD_INVALID"
    assert response.headers["Range"] == f"0-{len(PART1) - 1}"
    assert (await service.client.get(location)).headers["Range"] == f"0-{len(PART1) - 1}"


async def test_a_first_chunk_not_at_zero_reports_0_0(service: Service) -> None:
    location = await start(service)
    response = await service.client.patch(location, content=b"abc", headers={"Content-Range": "1-3"})
    assert response.status_code == 416
    assert response.headers["Range"] == "0-0"


async def test_a_last_chunk_not_at_the_end_gives_416_and_keeps_the_upload(service: Service) -> None:
    location = await start(service)
    await service.client.patch(location, content=PART1)
    response = await service.client.put(
        location, params={"digest": str(DIGEST)}, content=PART2, headers={"Content-Range": f"0-{len(PART2) - 1}"}
    )
    assert response.status_code == 416
    assert (await service.client.get(location)).status_code == 204


@pytest.mark.parametrize(
    ("content_range", "content", "code"),
    [
        ("0-9", b"x" * 5, "SIZE_INVALID"),
        ("0-0", b"xy", "SIZE_INVALID"),
        ("5-2", b"x" * 4, "BLOB_UPLOAD_INVALID"),
        ("bytes", b"x", "BLOB_UPLOAD_INVALID"),
        ("-3", b"xyz", "BLOB_UPLOAD_INVALID"),
        ("0-99999999999999999999999", b"x", "BLOB_UPLOAD_INVALID"),
    ],
)
async def test_inconsistent_content_range(service: Service, content_range: str, content: bytes, code: str) -> None:
    location = await start(service)
    response = await service.client.patch(location, content=content, headers={"Content-Range": content_range})
    assert response.status_code == 400
    assert error_code(response) == code
    assert (await service.client.get(location)).headers["Range"] == "0-0"  # nothing was appended


async def test_a_streamed_chunk_shorter_than_its_content_range(service: Service) -> None:
    location = await start(service)
    response = await service.client.patch(location, content=body(b"abc"), headers={"Content-Range": "0-9"})
    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"
    assert response.headers["Range"] == "0-2"


@pytest.mark.parametrize("content_range", ["bytes 0-2/3", "bytes=0-2", "0-2/*"])
async def test_content_range_spellings(service: Service, content_range: str) -> None:
    location = await start(service)
    response = await service.client.patch(location, content=b"abc", headers={"Content-Range": content_range})
    assert response.status_code == 202
    assert response.headers["Range"] == "0-2"


# -- finishing errors --------------------------------------------------------------------------------------


async def test_put_without_digest(service: Service) -> None:
    location = await start(service)
    response = await service.client.put(location, content=CONTENT)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert (await service.client.get(location)).status_code == 204


@pytest.mark.parametrize("digest", ["", "sha256:abc", "sha256", "nonsense", "md5:" + "0" * 32])
async def test_put_with_a_malformed_digest(service: Service, digest: str) -> None:
    location = await start(service)
    response = await service.client.put(location, params={"digest": digest}, content=CONTENT)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


async def test_put_with_a_wrong_digest_discards_the_upload(service: Service, driver: StorageDriver) -> None:
    location = await start(service)
    await service.client.patch(location, content=CONTENT)

    response = await service.client.put(location, params={"digest": str(Digest.from_bytes(b"other"))})

    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert (await service.client.get(location)).status_code == 404
    assert await files_under(driver, "/") == []


# -- unknown uploads and cancel ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("upload_id", [UNKNOWN_ID, "not-a-uuid", "7D6E3F4C-0000-4000-8000-000000000001"])
async def test_unknown_upload(service: Service, method: str, upload_id: str) -> None:
    response = await service.client.request(
        method, f"{UPLOADS}{upload_id}", params={"digest": str(DIGEST)}, content=b"x"
    )
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


async def test_an_upload_belongs_to_its_repository(service: Service) -> None:
    upload_id = (await start(service, "a")).rsplit("/", 1)[1]
    response = await service.client.patch(f"/v2/b/blobs/uploads/{upload_id}", content=b"x")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


async def test_delete_cancels_the_upload(service: Service, driver: StorageDriver) -> None:
    location = await start(service)
    await service.client.patch(location, content=PART1)

    response = await service.client.delete(location)

    assert response.status_code == 204
    assert (await service.client.get(location)).status_code == 404
    assert (await service.client.delete(location)).status_code == 404
    assert await files_under(driver, "/") == []


# -- deleting blobs ----------------------------------------------------------------------------------------


async def test_delete_removes_the_link_only(service: Service, driver: StorageDriver) -> None:
    await service.registry.repository(NAME).blobs.put(CONTENT)
    await service.registry.repository("other").blobs.put(CONTENT)

    response = await service.client.delete(f"/v2/{NAME}/blobs/{DIGEST}")

    assert response.status_code == 202
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)
    assert await files_under(driver, paths.layers(NAME)) == []
    assert await stored(service, name="other") == CONTENT  # bytes stay for garbage collection to decide
    again = await service.client.delete(f"/v2/{NAME}/blobs/{DIGEST}")
    assert again.status_code == 404
    assert error_code(again) == "BLOB_UNKNOWN"


async def test_delete_of_an_unlinked_blob(service: Service) -> None:
    response = await service.client.delete(f"/v2/{NAME}/blobs/{DIGEST}")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


async def test_delete_disabled(make_service: MakeService) -> None:
    service = make_service(delete_enabled=False)
    await service.registry.repository(NAME).blobs.put(CONTENT)
    response = await service.client.delete(f"/v2/{NAME}/blobs/{DIGEST}")
    assert response.status_code == 405
    assert error_code(response) == "UNSUPPORTED"
    assert await stored(service) == CONTENT


# -- read-only mode and invalid names ----------------------------------------------------------------------


async def test_read_only_refuses_every_write(make_service: MakeService, driver: StorageDriver) -> None:
    service = make_service(readonly=True)
    upload = await service.registry.repository(NAME).uploads.create()
    await service.registry.repository(NAME).blobs.put(CONTENT)
    location = f"{UPLOADS}{upload.id}"
    before = await files_under(driver, "/")

    writes = [
        service.client.post(UPLOADS),
        service.client.post(UPLOADS, params={"digest": str(DIGEST)}, content=CONTENT),
        service.client.patch(location, content=b"x"),
        service.client.put(location, params={"digest": str(DIGEST)}),
        service.client.delete(location),
        service.client.delete(f"/v2/{NAME}/blobs/{DIGEST}"),
    ]
    for response in await asyncio.gather(*writes):
        assert response.status_code == 405
        assert error_code(response) == "UNSUPPORTED"
    assert await files_under(driver, "/") == before
    assert (await service.client.get(location)).status_code == 204  # reading progress is no write


@pytest.mark.parametrize("name", ["UPPER/case", "a//b", "a/-b", "a" * 256])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", "/blobs/uploads/"),
        ("GET", f"/blobs/uploads/{UNKNOWN_ID}"),
        ("PATCH", f"/blobs/uploads/{UNKNOWN_ID}"),
        ("PUT", f"/blobs/uploads/{UNKNOWN_ID}?digest={DIGEST}"),
        ("DELETE", f"/blobs/uploads/{UNKNOWN_ID}"),
        ("DELETE", f"/blobs/{DIGEST}"),
    ],
)
async def test_invalid_names(service: Service, name: str, method: str, suffix: str) -> None:
    response = await service.client.request(method, f"/v2/{name}{suffix}")
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"
