"""The online garbage-collection loop in ``registry serve all``: enabled in the configuration, it collects in the
background on the app's storage and counts what it did in ``/metrics``; it never runs when not enabled."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
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


async def test_the_loop_collects_an_orphan_and_counts_it(tmp_path: Path) -> None:
    async with running_app(tmp_path, create_app, storage={"maintenance": {"garbagecollect": GC}}) as client:
        await push_blob(client, b"orphan")
        deadline = time.monotonic() + WAIT
        while (await client.get(f"/v2/app/blobs/{digest(b'orphan')}")).status_code != 404:
            assert time.monotonic() < deadline, "the orphan was never collected"
            await asyncio.sleep(0.05)
        metrics = (await client.get("/metrics")).text
    assert metric(metrics, "registry_gc_passes_total") >= 1
    assert metric(metrics, "registry_gc_blobs_deleted_total") >= 1
    assert metric(metrics, "registry_gc_bytes_reclaimed_total") >= len(b"orphan")
    assert metric(metrics, "registry_gc_last_pass_timestamp_seconds") > 0
    assert not list((tmp_path / "root").rglob("deleting/digests/*"))


async def test_the_loop_does_not_run_unless_enabled(tmp_path: Path) -> None:
    async with running_app(tmp_path, create_app) as client:
        await push_blob(client, b"orphan")
        await asyncio.sleep(0.3)
        assert (await client.get(f"/v2/app/blobs/{digest(b'orphan')}")).status_code == 200
        assert metric((await client.get("/metrics")).text, "registry_gc_passes_total") == 0
