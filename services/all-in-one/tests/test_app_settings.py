"""Settings that change what every response looks like, through the all-in-one app built from a config file as
``registry serve all`` builds it: ``http.headers`` and ``health.storagedriver``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx

from registry_core.testing.service_app import running_app
from registry_server.app import create_app

WAIT = 15.0
"""Seconds a state change may take to show before the test gives up (a bound, never an expectation)."""


def running(directory: Path, **sections: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The all-in-one app on filesystem storage under ``directory/root``, its config extended with ``sections``
    (merged one level deep), started (lifespan: storage, background tasks) while the block runs."""
    return running_app(directory, create_app, **sections)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await condition():
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what}"
        await asyncio.sleep(0.05)


# -- http.headers --------------------------------------------------------------------------------------------------
HEADERS = {"X-Content-Type-Options": ["nosniff"], "X-Served-By": ["one", "two"]}


def assert_configured_headers(response: httpx.Response) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("x-served-by") == ["one", "two"]  # every value, in order


async def test_configured_headers_are_on_every_response(tmp_path: Path) -> None:
    async with running(tmp_path, http={"headers": HEADERS}) as client:
        base = await client.get("/v2/")
        assert base.status_code == 200
        assert base.headers["docker-distribution-api-version"] == "registry/2.0"  # the route's own, still there
        assert_configured_headers(base)

        start = await client.post("/v2/app/blobs/uploads/")
        assert start.status_code == 202
        assert_configured_headers(start)
        pushed = await client.put(start.headers["location"], params={"digest": digest(b"x")}, content=b"x")
        assert pushed.status_code == 201
        fetched = await client.get(f"/v2/app/blobs/{digest(b'x')}")
        assert (fetched.status_code, fetched.content) == (200, b"x")
        assert_configured_headers(fetched)

        missing = await client.get("/v2/app/manifests/nope")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        assert_configured_headers(missing)

        assert_configured_headers(await client.get("/healthz"))


async def test_no_headers_configured_adds_none(tmp_path: Path) -> None:
    async with running(tmp_path) as client:
        response = await client.get("/v2/")
    assert response.status_code == 200
    assert "x-content-type-options" not in response.headers


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- health.storagedriver ------------------------------------------------------------------------------------------
async def test_failing_storage_makes_every_request_503_until_it_is_back(tmp_path: Path) -> None:
    """A real failure: the filesystem root is replaced by a regular file (as root, permissions stop nothing)."""
    root, aside = tmp_path / "root", tmp_path / "root.aside"
    root.mkdir()
    health = {"storagedriver": {"enabled": True, "interval": "100ms", "threshold": 2}}
    async with running(tmp_path, health=health) as client:

        async def status_is(path: str, status: int) -> bool:
            return (await client.get(path)).status_code == status

        await eventually(lambda: status_is("/healthz", 200), "healthy on a working root")
        assert (await client.get("/v2/")).status_code == 200

        root.rename(aside)
        root.write_text("not a directory")
        # /healthz runs the storage check itself; the API is gated by the periodic check alone (threshold 2)
        await eventually(lambda: status_is("/v2/", 503), "the API answers 503 once the periodic check fails")
        healthz = await client.get("/healthz")
        assert healthz.status_code == 503
        assert healthz.json()["checks"]["storagedriver"].startswith("unhealthy: RuntimeError: ")
        assert "storage checks failed in a row; last: StorageError" in healthz.json()["checks"]["storagedriver"]
        for request in (client.get("/v2/"), client.get("/v2/app/tags/list"), client.post("/v2/app/blobs/uploads/")):
            refused = await request
            assert refused.status_code == 503
            [error] = refused.json()["errors"]
            assert error["code"] == "UNAVAILABLE"

        root.unlink()
        aside.rename(root)
        await eventually(lambda: status_is("/healthz", 200), "/healthz answers 200 again once the storage is back")
        assert (await client.get("/healthz")).json()["checks"]["storagedriver"] == "ok"
        assert (await client.get("/v2/")).status_code == 200
        assert (await client.get("/v2/app/tags/list")).status_code == 404  # the API answers again: NAME_UNKNOWN


async def test_health_check_disabled_by_default_never_gates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.write_text("not a directory")
    async with running(tmp_path) as client:
        await asyncio.sleep(0.3)  # not a timing assertion: the gate must stay open whatever the wait
        assert (await client.get("/v2/")).status_code == 200
        assert "storagedriver" not in (await client.get("/healthz")).json()["checks"]
