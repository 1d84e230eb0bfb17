"""``storage.s3`` settings that reach the driver built by ``create_driver`` (as the services build it), against the
session's moto server: ``multipartcopythresholdsize``/``multipartcopychunksize`` (moves above the threshold copy
in parts) and ``sessiontoken`` (sent with every request)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_core.config import load_settings
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError
from registry_core.storage.factory import create_driver
from registry_core.storage.s3 import S3Driver

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
THRESHOLD = 5 * MiB


@asynccontextmanager
async def s3_driver_from_config(
    tmp_path: Path, moto_server: str, bucket: str, **options: Any
) -> AsyncIterator[tuple[CheckedDriver, S3Driver]]:
    """The driver ``create_driver`` builds from a config file's ``storage.s3`` section plus ``options``."""
    s3 = {
        "region": "us-east-1",
        "bucket": bucket,
        "regionendpoint": moto_server,
        "rootdirectory": f"settings-{uuid.uuid4().hex}",
        "accesskey": "test",
        "secretkey": "test",
        "secure": False,
        **options,
    }
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"version": "0.1", "storage": {"s3": s3}}))
    driver = create_driver(load_settings(config, env={}).storage)
    assert isinstance(driver, CheckedDriver) and isinstance(driver.driver, S3Driver)
    try:
        yield driver, driver.driver
    finally:
        await driver.aclose()


def etag(inner: S3Driver, path: str) -> str:
    """The stored object's ETag: ``"<md5>-<parts>"`` for an object a multipart upload (or copy) made."""
    return str(inner._client.head_object(Bucket=inner.bucket, Key=inner._key(path))["ETag"]).strip('"')


@pytest.mark.parametrize(
    ("size", "parts"),
    [(THRESHOLD + 1, 2), (THRESHOLD, None)],
    ids=["above-threshold-multipart-copy", "at-threshold-single-copy"],
)
async def test_moves_above_the_threshold_copy_in_parts(
    tmp_path: Path, moto_server: str, s3_bucket: str, size: int, parts: int | None
) -> None:
    data = random.Random(size).randbytes(size)
    options = {"multipartcopythresholdsize": THRESHOLD, "multipartcopychunksize": 5 * MiB}
    async with s3_driver_from_config(tmp_path, moto_server, s3_bucket, **options) as (driver, inner):
        await driver.put_content("/uploads/data", data)
        await driver.move("/uploads/data", "/blobs/data")

        assert await driver.get_content("/blobs/data") == data
        with pytest.raises(PathNotFoundError):
            await driver.stat("/uploads/data")
        assert await driver.list("/") == ["/blobs"]  # nothing left behind: no source, no stray upload
        tag = etag(inner, "/blobs/data")
        assert (tag.rpartition("-")[2] if "-" in tag else None) == (None if parts is None else str(parts))
        await driver.delete("/blobs")


def recording_security_tokens(inner: S3Driver) -> Callable[[], list[str | None]]:
    """Records the ``X-Amz-Security-Token`` header of every request the driver's client sends."""
    seen: list[str | None] = []

    def before_send(request: Any, **_: Any) -> None:
        token = request.headers.get("X-Amz-Security-Token")
        seen.append(token.decode() if isinstance(token, bytes) else token)

    inner._client.meta.events.register("before-send.s3", before_send)
    return lambda: seen


@pytest.mark.parametrize("token", ["session-token-1", None], ids=["sessiontoken", "none"])
async def test_sessiontoken_reaches_the_client_and_every_request(
    tmp_path: Path, moto_server: str, s3_bucket: str, token: str | None
) -> None:
    options = {} if token is None else {"sessiontoken": token}
    async with s3_driver_from_config(tmp_path, moto_server, s3_bucket, **options) as (driver, inner):
        credentials = inner._client._get_credentials().get_frozen_credentials()
        assert (credentials.access_key, credentials.secret_key, credentials.token) == ("test", "test", token)
        seen = recording_security_tokens(inner)
        await driver.put_content("/a", b"x")
        assert await driver.get_content("/a") == b"x"
        await driver.delete("/a")
    assert seen() and set(seen()) == {token}
