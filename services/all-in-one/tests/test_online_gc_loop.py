"""The online garbage-collection loop in ``registry serve all``: enabled in the configuration, it collects in the
background on the app's storage and counts what it did in ``/metrics``; it never runs when not enabled."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from registry_core.testing.service_app import running_app
from registry_server.app import create_app

WAIT = 15.0
GC = {"enabled": True, "interval": "100ms", "grace": "1s", "jitter": "0s"}
"""A grace of 1 s: writers must link within half of it (a claim's bounded life), the orphan goes a second after."""


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def push_blob(client: httpx.AsyncClient, data: bytes) -> None:
    start = await client.post("/v2/app/blobs/uploads/")
    assert (
        await client.put(start.headers["location"], params={"digest": digest(data)}, content=data)
    ).status_code == 201


async def until(client: httpx.AsyncClient, request: Callable[[], Awaitable[httpx.Response]], failure: str) -> None:
    """Poll ``request`` until it answers 404."""
    deadline = time.monotonic() + WAIT
    while (await request()).status_code != 404:
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.05)


async def recorded(client: httpx.AsyncClient, name: str) -> str:
    """``/metrics`` once the counter ``name`` counts something: a pass records its counts when it ends, after its
    deletions are visible."""
    deadline = time.monotonic() + WAIT
    while metric(text := (await client.get("/metrics")).text, name) < 1:
        assert time.monotonic() < deadline, f"{name} never counted"
        await asyncio.sleep(0.05)
    return text


async def test_the_loop_collects_an_orphan_and_counts_it(tmp_path: Path) -> None:
    async with running_app(tmp_path, create_app, storage={"maintenance": {"garbagecollect": GC}}) as client:
        await push_blob(client, b"orphan")
        await until(client, lambda: client.get(f"/v2/app/blobs/{digest(b'orphan')}"), "the orphan was never collected")
        metrics = await recorded(client, "registry_gc_blobs_deleted_total")
    assert metric(metrics, "registry_gc_passes_total") >= 1
    assert metric(metrics, "registry_gc_blobs_deleted_total") >= 1
    assert metric(metrics, "registry_gc_bytes_reclaimed_total") >= len(b"orphan")
    assert metric(metrics, "registry_gc_last_pass_timestamp_seconds") > 0
    assert not list((tmp_path / "root").rglob("deleting/digests/*"))


async def test_the_loop_does_not_run_unless_enabled(tmp_path: Path) -> None:
    disabled = {**GC, "enabled": False}  # what would collect the orphan within a second and a half if enabled
    async with running_app(tmp_path, create_app, storage={"maintenance": {"garbagecollect": disabled}}) as client:
        await push_blob(client, b"orphan")
        await asyncio.sleep(1.5)
        assert (await client.get(f"/v2/app/blobs/{digest(b'orphan')}")).status_code == 200
        assert metric((await client.get("/metrics")).text, "registry_gc_passes_total") == 0


async def test_the_loop_applies_retention_rules_and_counts_the_tags(tmp_path: Path) -> None:
    rule = {"repositories": ["app"], "keepnewest": 1}
    storage = {"maintenance": {"garbagecollect": {**GC, "retention": [rule]}}}
    async with running_app(tmp_path, create_app, storage=storage) as client:
        config = b"{}"
        await push_blob(client, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": 2},
            "layers": [],
        }
        headers = {"content-type": manifest["mediaType"]}
        for tag in ("v1", "v2"):
            put = await client.put(f"/v2/app/manifests/{tag}", content=json.dumps(manifest), headers=headers)
            assert put.status_code == 201
        await until(client, lambda: client.get("/v2/app/manifests/v1"), "the older tag was never deleted")
        metrics = await recorded(client, "registry_gc_tags_deleted_total")
        assert (await client.get("/v2/app/manifests/v2")).status_code == 200
    assert metric(metrics, "registry_gc_manifests_deleted_total") == 0
