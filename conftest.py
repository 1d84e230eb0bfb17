"""Fixtures every test folder shares: real servers started as subprocesses on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_core.testing.servers import RedisServer, start_moto, start_redis, stop


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
