"""Fixtures every test folder shares: real servers started as subprocesses on free loopback ports."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core.storage.driver import StorageDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.testing.servers import RedisServer, start_moto, start_redis, stop

SYSTEM_PACKAGES = Path(__file__).parent / "tests" / "system-packages.txt"


def system_packages() -> dict[str, str]:
    """The Debian package of each command the tests run (``tests/system-packages.txt``)."""
    lines = (line.split() for line in SYSTEM_PACKAGES.read_text().splitlines() if not line.startswith("#"))
    return {fields[0]: fields[1] for fields in lines if fields}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.needs("skopeo")``: a missing tool fails the test, naming its package (``make test`` installs
    them all), so that a machine without it never passes by skipping."""
    packages = system_packages()
    for mark in item.iter_markers("needs"):
        for command in mark.args:
            if command not in packages:
                pytest.fail(f"needs({command!r}): not in {SYSTEM_PACKAGES.name}", pytrace=False)
            if shutil.which(command) is None:
                pytest.fail(
                    f"{command} is missing: install the Debian package {packages[command]} (make test does)",
                    pytrace=False,
                )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the whole session (tests flush what they need)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server (a real S3 API over HTTP) for the whole session; yields its endpoint URL."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server.url
    finally:
        stop(server.proc)


# -- raw storage drivers, one fixture each, for the service tests' driver matrices -------------------------------


@pytest.fixture
def inmemory_driver() -> StorageDriver:
    return InMemoryDriver()


@pytest.fixture
def filesystem_driver(tmp_path: Path) -> StorageDriver:
    return FilesystemDriver(tmp_path / "root")


@pytest.fixture(scope="session")
def s3_test_bucket(moto_server: str) -> str:
    import boto3

    boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket="service-tests")
    return "service-tests"


@pytest.fixture
def s3_driver(moto_server: str, s3_test_bucket: str) -> StorageDriver:
    """An S3 driver on the moto server, under a fresh prefix so tests never see each other's objects."""
    from registry_core.storage.s3 import S3Driver

    return S3Driver(
        bucket=s3_test_bucket,
        regionendpoint=moto_server,
        rootdirectory=f"t-{uuid.uuid4().hex}",
        chunksize=5 * 1024 * 1024,
        accesskey="test",
        secretkey="test",
        secure=False,
    )
