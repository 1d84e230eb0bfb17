"""The ``driver`` fixture: every conformance test runs against every storage driver.

Each test gets a fresh, empty driver wrapped in :class:`CheckedDriver` (as production code uses it). Tests
clean up what they write; on teardown the fixture checks that the driver lists nothing at ``/``, as the Go
registry's test suite does ("Storage driver did not clean up properly").
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import boto3
import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.testing.mounts import MountUnavailable, tmpfs

S3_REGION = "us-east-1"
S3_ACCESS_KEY = "test"
S3_SECRET_KEY = "test"
S3_CHUNK_SIZE = 5 * 1024 * 1024  # S3's minimum part size: small files still exercise multipart uploads

_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Remember whether the test body failed, so teardown does not pile a cleanup error on top of it."""
    report = yield
    if isinstance(report, pytest.TestReport) and report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def s3_bucket(moto_server: str) -> Iterator[str]:
    """A bucket on the session's moto server, shared by every S3 test (each under its own root)."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )
    name = f"conformance-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        client.close()


@pytest.fixture(scope="session")
def tmpfs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on a real tmpfs (mounted when root, else under /dev/shm), shared by the session's tests."""
    try:
        with tmpfs(tmp_path_factory.mktemp("tmpfs")) as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"no tmpfs for the filesystem driver: {exc}")


def _s3_factory(request: pytest.FixtureRequest) -> Callable[[], StorageDriver]:
    from registry_core.storage.s3 import S3Driver  # an ImportError fails (never skips) the s3 tests

    bucket: str = request.getfixturevalue("s3_bucket")
    endpoint: str = request.getfixturevalue("moto_server")
    root = f"conformance-{uuid.uuid4().hex}"
    return lambda: S3Driver(
        bucket=bucket,
        region=S3_REGION,
        regionendpoint=endpoint,
        rootdirectory=root,
        chunksize=S3_CHUNK_SIZE,
        accesskey=S3_ACCESS_KEY,
        secretkey=S3_SECRET_KEY,
        secure=False,
        forcepathstyle=True,
    )


def _factory(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StorageDriver]:
    """How to open the test's storage; every call opens a new instance over the same files."""
    if name == "inmemory":
        shared = InMemoryDriver()  # nothing outlives the instance: "reopening" is sharing it
        return lambda: shared
    if name == "filesystem":
        return lambda: FilesystemDriver(tmp_path / "root")
    if name == "filesystem-tmpfs":  # no RWF_NOWAIT there: every read takes the ordinary path
        root = request.getfixturevalue("tmpfs_dir") / uuid.uuid4().hex
        return lambda: FilesystemDriver(root)
    if name == "s3":
        return _s3_factory(request)
    raise AssertionError(f"unknown driver {name}")


@pytest.fixture(
    params=[
        pytest.param("inmemory", id="inmemory"),
        pytest.param("filesystem", id="filesystem"),
        pytest.param("filesystem-tmpfs", id="filesystem-tmpfs"),
        pytest.param("s3", id="s3", marks=pytest.mark.s3),
    ]
)
async def open_driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], CheckedDriver]]:
    """Opens a new driver instance over this test's (initially empty) storage, as another process would."""
    make = _factory(request.param, request, tmp_path)
    opened: list[CheckedDriver] = []

    def open_() -> CheckedDriver:
        opened.append(CheckedDriver(make()))
        return opened[-1]

    try:
        yield open_
    finally:
        for instance in opened:
            await instance.aclose()


@pytest.fixture
async def driver(
    open_driver: Callable[[], CheckedDriver], request: pytest.FixtureRequest
) -> AsyncIterator[CheckedDriver]:
    """The driver under test; after the test it must list nothing at ``/``."""
    checked = open_driver()
    yield checked
    leftovers = await checked.list("/")
    for path in leftovers:
        await checked.delete(path)
    if not request.node.stash.get(_CALL_FAILED, False):
        assert leftovers == [], f"Storage driver did not clean up properly. Offending files: {leftovers}"
