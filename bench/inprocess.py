"""CPU per request of the all-in-one app itself, called in-process (no sockets, no HTTP parser, no client).

Usage: python -m bench.inprocess [--requests 7000] [--rounds 7]

For changes to the request path (dependencies, middleware, storage calls per request) this is far steadier than a
load test on a shared two-core machine: each round times ``requests / rounds`` sequential calls of the ASGI app on
a warm descriptor cache, and the best round is reported (noise only ever adds time).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from bench.api import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from registry_core.config import load_settings
from registry_server.app import create_app

Headers = list[tuple[bytes, bytes]]
ACCEPT: Headers = [(b"accept", OCI_MANIFEST.encode())]


async def call(app: Any, method: str, target: str, headers: Headers | None = None, body: bytes = b"") -> int:
    """One request through the ASGI app; its status."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    status = 0
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # no disconnect: the app must not ask twice
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def seed(app: Any) -> tuple[str, str]:
    """A 1 MiB layer and a manifest tagged ``latest`` in ``bench/inprocess``: the HEAD and GET targets."""
    layer, config = os.urandom(1 << 20), b"{}"
    digests = [f"sha256:{hashlib.sha256(b).hexdigest()}" for b in (layer, config)]
    for blob, digest in zip((layer, config), digests, strict=True):
        assert await call(app, "POST", f"/v2/bench/inprocess/blobs/uploads/?digest={digest}", body=blob) == 201
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digests[1], "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": digests[0], "size": len(layer)}],
    }
    headers = [(b"content-type", OCI_MANIFEST.encode())]
    status = await call(app, "PUT", "/v2/bench/inprocess/manifests/latest", headers, json.dumps(manifest).encode())
    assert status == 201, status
    return f"/v2/bench/inprocess/blobs/{digests[0]}", "/v2/bench/inprocess/manifests/latest"


async def best_round(app: Any, method: str, target: str, headers: Headers, requests: int, rounds: int) -> float:
    """Fewest CPU microseconds per request over ``rounds`` rounds."""
    per_round = max(requests // rounds, 1)
    for _ in range(min(per_round, 200)):  # warm
        assert await call(app, method, target, headers) == 200
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(per_round):
            await call(app, method, target, headers)
        best = min(best, (time.process_time() - start) / per_round * 1e6)
    return best


async def run(requests: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "config.yml")
        root = Path(tmp, "root")
        config.write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n"
            "  cache:\n    blobdescriptor: inmemory\n"
        )
        app = create_app(load_settings(config))
        async with app.router.lifespan_context(app):
            blob, manifest = await seed(app)
            return {
                "HEAD blob (warm cache)": await best_round(app, "HEAD", blob, [], requests, rounds),
                "GET manifest by tag": await best_round(app, "GET", manifest, ACCEPT, requests, rounds),
            }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=7000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    for name, micros in uvloop.run(run(args.requests, args.rounds)).items():
        print(f"{name:<24} {micros:6.0f} µs CPU per request (best of {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
