"""`registry serve` as users run it: every service from Go-registry-style configs, and clear failures."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from registry_core.testing.configs import DEBIAN_DEFAULT_CONFIG, s3_config
from registry_core.testing.servers import Process, registry_command, start_moto, start_registry, stop

pytestmark = pytest.mark.integration

# The Debian docker-registry package's own config, with a temporary root.
DEBIAN_CONFIG = DEBIAN_DEFAULT_CONFIG.replace("/var/lib/docker-registry", "{root}")

INMEMORY_CONFIG = "version: 0.1\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    boto3.client(
        "s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket="cli-bucket")
    yield server
    stop(server.proc)


def write_config(directory: Path, text: str) -> Path:
    path = directory / "config.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("driver", ["filesystem", "inmemory", "s3"])
def test_all_starts_from_a_go_registry_config(driver: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if driver == "filesystem":
        text = DEBIAN_CONFIG.format(root=tmp_path / "root")
    elif driver == "s3":
        text = s3_config(request.getfixturevalue("moto").url, "cli-bucket")
    else:
        text = INMEMORY_CONFIG
    server = start_registry("all", write_config(tmp_path, text), tmp_path)
    try:
        response = httpx.get(f"{server.url}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["storage"] == "ok"
        assert "registry_http_requests_total" in httpx.get(f"{server.url}/metrics").text
    finally:
        stop(server.proc)


@pytest.mark.parametrize("service", ["blob-read", "blob-write", "descriptor-cache", "purger"])
def test_every_service_serves_health_and_metrics(service: str, tmp_path: Path) -> None:
    server = start_registry(service, write_config(tmp_path, DEBIAN_CONFIG.format(root=tmp_path / "root")), tmp_path)
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        v2 = httpx.get(f"{server.url}/v2/")
        if service in ("blob-read", "blob-write"):
            assert v2.status_code == 200 and v2.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        else:
            assert v2.status_code == 404
    finally:
        stop(server.proc)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (s3_config("http://127.0.0.1:1", "b").replace("chunksize: 5242880", "chunksize: 1"), "storage.s3.chunksize"),
        ("storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      age: 5 parsecs\n", "uploadpurging.age"),
        ("storage:\n  inmemory:\n  cache:\n    blobdescriptor: redis\n", "redis.addr"),
        ("storage:\n  inmemory:\n  filesystem:\n    rootdirectory: /x\n", "storage"),
    ],
    ids=["chunksize", "duration", "redis-without-addr", "two-drivers"],
)
def test_invalid_config_exits_naming_the_key(config: str, key: str, tmp_path: Path) -> None:
    text = config.format(endpoint="http://127.0.0.1:1", bucket="b")
    result = subprocess.run(
        [registry_command(), "serve", "all", "--config", str(write_config(tmp_path, text))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert key in result.stderr, result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [registry_command(), "serve", "all", "--config", str(tmp_path / "nope.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "nope.yml" in result.stderr


def test_unknown_keys_are_reported_at_start(tmp_path: Path) -> None:
    text = textwrap.dedent(INMEMORY_CONFIG) + "frobnicate: true\n"
    server = start_registry("blob-read", write_config(tmp_path, text), tmp_path)
    stop(server.proc)
    assert "frobnicate" in server.output()
