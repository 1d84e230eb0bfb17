"""An S3 endpoint that nobody answers: after the retries, ``StorageUnavailableError`` (the registry answers 503),
never a bare ``StorageError`` or a botocore exception."""

from __future__ import annotations

import pytest

from registry_core.storage.driver import StorageUnavailableError
from registry_core.storage.s3 import S3Driver
from registry_core.testing.servers import free_port


@pytest.fixture
async def unreachable() -> S3Driver:
    return S3Driver(
        bucket="nowhere",
        regionendpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        accesskey="test",
        secretkey="test",
        secure=False,
        max_retries=1,
    )


async def test_every_kind_of_call_is_unavailable(unreachable: S3Driver) -> None:
    try:
        with pytest.raises(StorageUnavailableError):
            await unreachable.stat("/docker/registry/v2/blobs")
        with pytest.raises(StorageUnavailableError):
            await unreachable.put_content("/a/link", b"sha256:...")
        writer = await unreachable.writer("/a/data")
        await writer.write(b"bytes")
        with pytest.raises(StorageUnavailableError):
            await writer.close()
        assert writer.size == 0  # nothing stored
    finally:
        await unreachable.aclose()
