"""What only the S3 driver does: chunk size limits, multipart uploads and copies, key prefix, presigned URLs, retries.

Everything but the retry tests runs against the session's real moto server over HTTP (``moto_server`` and
``s3_bucket`` come from the conftests); the retry tests stub the client with botocore's Stubber and replace
only the retry helper's sleep.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import boto3
import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from registry_core.storage import s3
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageError, UnsupportedMethodError
from registry_core.storage.s3 import S3Driver

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
CHUNK = 5 * MiB
REGION = "us-east-1"
CREDENTIALS = {"accesskey": "test", "secretkey": "test"}


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def root() -> str:
    return f"s3-only-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket_client(moto_server: str, s3_bucket: str) -> Iterator[Any]:
    """A plain boto3 client, to look at the bucket behind the driver's back."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    yield client
    client.close()


@pytest.fixture
async def raw(moto_server: str, s3_bucket: str, root: str, bucket_client: Any) -> AsyncIterator[S3Driver]:
    """An S3 driver under a fresh root; whatever it leaves behind (objects, uploads) is removed afterwards."""
    driver = S3Driver(
        bucket=s3_bucket,
        region=REGION,
        regionendpoint=moto_server,
        rootdirectory=root,
        chunksize=CHUNK,
        secure=False,
        **CREDENTIALS,
    )
    yield driver
    await driver.aclose()
    for upload in bucket_client.list_multipart_uploads(Bucket=s3_bucket, Prefix=root).get("Uploads", []):
        bucket_client.abort_multipart_upload(Bucket=s3_bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for obj in bucket_client.list_objects_v2(Bucket=s3_bucket, Prefix=root).get("Contents", []):
        bucket_client.delete_object(Bucket=s3_bucket, Key=obj["Key"])


@pytest.fixture
def driver(raw: S3Driver) -> CheckedDriver:
    return CheckedDriver(raw)


def _uploads(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    return [u for u in client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) if u["Key"] == key]


def _parts_count(client: Any, bucket: str, key: str) -> int:
    """The number of parts of a multipart object (its ETag ends in ``-<parts>``), 0 for a PutObject."""
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.rsplit("-", 1)[1]) if "-" in etag else 0


# -- configuration --------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunksize", [4 * MiB, 5 * MiB - 1, 5 * 1024 * MiB + 1, 0])
def test_chunksize_out_of_range_is_refused(chunksize: int) -> None:
    with pytest.raises(ValueError, match="chunksize"):
        S3Driver(bucket="b", chunksize=chunksize, **CREDENTIALS)


@pytest.mark.parametrize("chunksize", [5 * MiB, 5 * 1024 * MiB])
def test_chunksize_limits_are_accepted(chunksize: int) -> None:
    assert S3Driver(bucket="b", chunksize=chunksize, **CREDENTIALS).chunksize == chunksize


# -- multipart writes -----------------------------------------------------------------------------------
async def test_multipart_write_parts_are_chunksize(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/multi/file"
    data = _data(2 * CHUNK + 123, seed=1)
    writer = await driver.writer("/multi/file")
    for start in range(0, len(data), MiB + 7):
        await writer.write(data[start : start + MiB + 7])

    (upload,) = _uploads(bucket_client, s3_bucket, key)  # two full parts sent, the rest is in the buffer
    parts = bucket_client.list_parts(Bucket=s3_bucket, Key=key, UploadId=upload["UploadId"])["Parts"]
    assert [p["Size"] for p in parts] == [CHUNK, CHUNK]

    await writer.commit()
    assert _uploads(bucket_client, s3_bucket, key) == []
    assert _parts_count(bucket_client, s3_bucket, key) == 3
    assert await driver.get_content("/multi/file") == data
    await driver.delete("/multi")


async def test_small_write_is_a_single_put(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    writer = await driver.writer("/small/file")
    await writer.write(b"a few bytes")
    await writer.commit()
    assert _parts_count(bucket_client, s3_bucket, f"{root}/small/file") == 0
    assert _uploads(bucket_client, s3_bucket, f"{root}/small/file") == []
    await driver.delete("/small")


async def test_cancel_leaves_no_upload_and_no_object(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/cancel/file"
    writer = await driver.writer("/cancel/file")
    await writer.write(_data(CHUNK + 1))
    assert len(_uploads(bucket_client, s3_bucket, key)) == 1
    await writer.cancel()
    assert _uploads(bucket_client, s3_bucket, key) == []
    assert bucket_client.list_objects_v2(Bucket=s3_bucket, Prefix=root).get("Contents", []) == []


async def test_append_copies_a_large_object_server_side(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/append/file"
    first, second = _data(CHUNK + 10, seed=2), _data(MiB, seed=3)
    writer = await driver.writer("/append/file")
    await writer.write(first)
    await writer.close()
    assert _uploads(bucket_client, s3_bucket, key) == []

    writer = await driver.writer("/append/file", append=True)
    assert writer.size == len(first)
    await writer.write(second)
    await writer.commit()
    assert _parts_count(bucket_client, s3_bucket, key) == 2  # the old object, copied as one part, then the new
    assert _uploads(bucket_client, s3_bucket, key) == []
    assert await driver.get_content("/append/file") == first + second
    await driver.delete("/append")


async def test_append_without_writing_leaves_the_object_alone(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/idle/file"
    writer = await driver.writer("/idle/file")
    await writer.write(_data(CHUNK + 1))
    await writer.close()
    etag = bucket_client.head_object(Bucket=s3_bucket, Key=key)["ETag"]
    writer = await driver.writer("/idle/file", append=True)
    await writer.close()
    assert bucket_client.head_object(Bucket=s3_bucket, Key=key)["ETag"] == etag
    assert _uploads(bucket_client, s3_bucket, key) == []
    await driver.delete("/idle")


async def test_append_aborts_uploads_of_a_crashed_writer(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/crash/file"
    crashed = await driver.writer("/crash/file")
    await crashed.write(_data(CHUNK + 1))  # a part is sent, then the writer is never closed
    assert len(_uploads(bucket_client, s3_bucket, key)) == 1

    writer = await driver.writer("/crash/file", append=True)
    assert writer.size == 0  # what was never closed was never persisted
    assert _uploads(bucket_client, s3_bucket, key) == []
    await writer.write(b"again")
    await writer.commit()
    assert await driver.get_content("/crash/file") == b"again"
    assert _uploads(bucket_client, s3_bucket, key) == []
    await driver.delete("/crash")


async def test_deleting_a_directory_aborts_uploads_of_crashed_writers_below_it(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    await driver.put_content("/purged/upload/startedat", b"long ago")
    crashed = await driver.writer("/purged/upload/data")
    await crashed.write(_data(CHUNK + 1))  # a part is sent, then the writer's process dies
    assert len(_uploads(bucket_client, s3_bucket, f"{root}/purged/upload/data")) == 1
    await driver.delete("/purged")
    assert _uploads(bucket_client, s3_bucket, f"{root}/purged/upload/data") == []


async def test_interrupted_write_aborts_the_upload(
    driver: CheckedDriver, bucket_client: Any, s3_bucket: str, root: str
) -> None:
    key = f"{root}/interrupted/file"
    writer = await driver.writer("/interrupted/file")
    await writer.write(_data(CHUNK))  # the upload exists, one part sent
    assert len(_uploads(bucket_client, s3_bucket, key)) == 1
    with anyio.move_on_after(0):  # cancelled at the first await inside
        await writer.write(_data(CHUNK))
    assert _uploads(bucket_client, s3_bucket, key) == []
    with pytest.raises(ValueError):
        await writer.write(b"more")
    await writer.cancel()  # still allowed, and removes nothing more
    assert bucket_client.list_objects_v2(Bucket=s3_bucket, Prefix=root).get("Contents", []) == []


async def test_writers_reuse_one_buffer(raw: S3Driver) -> None:
    writer = await raw.writer("/buffer/one")
    buffer = writer._buffer  # type: ignore[attr-defined]
    assert buffer is not None and len(buffer) == CHUNK
    await writer.write(_data(2 * CHUNK + 1))  # two parts sent from the same buffer
    assert writer._buffer is buffer  # type: ignore[attr-defined]
    await writer.commit()
    again = await raw.writer("/buffer/two")
    assert again._buffer is buffer  # type: ignore[attr-defined]
    await again.cancel()
    await raw.delete("/buffer")


async def test_multipart_move(raw: S3Driver, bucket_client: Any, s3_bucket: str, root: str) -> None:
    raw.copy_threshold, raw.copy_part_size = MiB, CHUNK  # as if the object were over CopyObject's 5 GiB
    data = _data(2 * CHUNK + 5, seed=4)
    await raw.put_content("/move/source", data)
    await raw.move("/move/source", "/move/dest")
    assert await raw.get_content("/move/dest") == data
    assert _parts_count(bucket_client, s3_bucket, f"{root}/move/dest") == 3
    assert _uploads(bucket_client, s3_bucket, f"{root}/move/dest") == []
    with pytest.raises(PathNotFoundError):
        await raw.stat("/move/source")
    await raw.delete("/move")


# -- keys -----------------------------------------------------------------------------------------------
async def test_rootdirectory_prefixes_every_key(
    moto_server: str, s3_bucket: str, root: str, bucket_client: Any
) -> None:
    driver = CheckedDriver(
        S3Driver(
            bucket=s3_bucket, regionendpoint=moto_server, rootdirectory=f"/{root}/nested/", secure=False, **CREDENTIALS
        )
    )
    bucket_client.put_object(Bucket=s3_bucket, Key=f"{root}/outside", Body=b"not the driver's")
    await driver.put_content("/a/b", b"1")
    writer = await driver.writer("/a/c")
    await writer.write(b"2")
    await writer.commit()

    keys = [o["Key"] for o in bucket_client.list_objects_v2(Bucket=s3_bucket, Prefix=root)["Contents"]]
    assert sorted(keys) == [f"{root}/nested/a/b", f"{root}/nested/a/c", f"{root}/outside"]
    assert await driver.list("/") == ["/a"]
    assert [info.path async for info in driver.walk("/")] == ["/a", "/a/b", "/a/c"]
    await driver.delete("/a")
    await driver.aclose()
    bucket_client.delete_object(Bucket=s3_bucket, Key=f"{root}/outside")


# -- presigned URLs -------------------------------------------------------------------------------------
async def test_url_for_get_and_head(driver: CheckedDriver) -> None:
    await driver.put_content("/url/file", b"presigned content")
    url = await driver.url_for("/url/file", expires_in=321)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["321"]
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
        assert (got.status_code, got.content) == (200, b"presigned content")
        head_url = await driver.url_for("/url/file", method="HEAD", expires_in=60)
        assert parse_qs(urlsplit(head_url).query)["X-Amz-Expires"] == ["60"]
        head = await client.head(head_url)
        assert (head.status_code, head.headers["content-length"]) == (200, str(len(b"presigned content")))
    with pytest.raises(UnsupportedMethodError):
        await driver.url_for("/url/file", method="PUT")
    await driver.delete("/url")


# -- retries (stubbed client: no server) ----------------------------------------------------------------
@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the retry helper's sleep; the backoffs it was asked for are recorded."""
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(s3, "_sleep", sleep)
    return recorded


def _stubbed(max_retries: int = 5) -> tuple[S3Driver, Stubber]:
    driver = S3Driver(bucket="bucket", regionendpoint="http://127.0.0.1:9", max_retries=max_retries, **CREDENTIALS)
    return driver, Stubber(driver._client)


HEAD = {"Bucket": "bucket", "Key": "some/file"}


async def test_throttling_is_retried_with_backoff(sleeps: list[float]) -> None:
    driver, stub = _stubbed()
    for _ in range(2):
        stub.add_client_error("head_object", "SlowDown", "Please reduce your request rate.", 503, expected_params=HEAD)
    stub.add_response("head_object", {"ContentLength": 3, "LastModified": datetime.now(UTC)}, HEAD)
    with stub:
        info = await driver.stat("/some/file")
    stub.assert_no_pending_responses()
    assert (info.size, info.is_dir) == (3, False)
    assert len(sleeps) == 2
    assert all(0 <= s <= s3.BACKOFF_BASE * 2**i for i, s in enumerate(sleeps))
    await driver.aclose()


async def test_retries_stop_after_max_retries(sleeps: list[float]) -> None:
    driver, stub = _stubbed(max_retries=2)
    for _ in range(3):
        stub.add_client_error("head_object", "SlowDown", "Please reduce your request rate.", 503, expected_params=HEAD)
    with stub, pytest.raises(StorageError, match="SlowDown"):
        await driver.stat("/some/file")
    stub.assert_no_pending_responses()
    assert len(sleeps) == 2
    await driver.aclose()


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("404", 404)])
async def test_client_errors_are_not_retried(sleeps: list[float], code: str, status: int) -> None:
    driver, stub = _stubbed()
    stub.add_client_error("get_object", code, "no", status, expected_params=HEAD)
    expected = PathNotFoundError if status == 404 else StorageError
    with stub, pytest.raises(expected):
        await driver.get_content("/some/file")
    assert sleeps == []
    await driver.aclose()


async def test_retry_helper_retries_connection_errors(sleeps: list[float]) -> None:
    failures = [EndpointConnectionError(endpoint_url="http://nowhere"), _client_error("RequestTimeout", 400)]

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    assert await s3.with_retries(attempt, max_retries=5) == "done"
    assert len(sleeps) == 2


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_client_error("SlowDown", 503), True),
        (_client_error("Throttling", 400), True),
        (_client_error("RequestLimitExceeded", 400), True),
        (_client_error("InternalError", 500), True),
        (_client_error("NoSuchKey", 404), False),
        (_client_error("InvalidRange", 416), False),
        (ValueError("not ours"), False),
    ],
)
def test_is_retryable(error: Exception, retryable: bool) -> None:
    assert s3.is_retryable(error) is retryable
