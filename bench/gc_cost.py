"""What online garbage collection costs: a pass over a registry of many manifests, and image pushes beside it.

1. **A pass's duration** over ``--manifests`` image manifests (100 repositories, each image a config of its own and
   one layer shared by all, every manifest tagged), in process on the filesystem driver: the first pass of a
   collector reads and parses every manifest; the next passes of the same collector (the purger's, which lives
   on) parse nothing they saw before and cost the listings only. Nothing is garbage, so what is measured is the
   mark and the listings, the part that grows with the registry.
2. **Pushes beside a pass**: image pushes (a 4 KiB layer of its own, a config, a tagged manifest) over 8
   connections to ``registry serve all`` on that same root, with online GC on (the writers leave claims), while
   ``registry garbage-collect --online`` passes run back to back over the 10,000 manifests, against the same
   server while nothing collects, and against a server with online GC off (no claims): interleaved rounds.

::

    .venv/bin/python -m bench.gc_cost [--manifests 10000] [--pushes 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import yaml

from bench import api
from bench.client import Connection
from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.digest import Digest
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.store import ManifestStore
from registry_core.online_gc import OnlineCollector
from registry_core.registry import Registry
from registry_core.storage.base import CheckedDriver
from registry_core.storage.filesystem import FilesystemDriver
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, registry_command, start_registry, stop

REPOSITORIES = 100
PUSH_LAYER = 4096
CONNECTIONS = 8


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _blob(registry: Registry, name: str, data: bytes) -> dict[str, object]:
    upload = await registry.repository(name).uploads.create()
    digest = (await upload.commit(Digest.from_bytes(data), _once(data))).digest
    return {"digest": str(digest), "size": len(data)}


async def populate(root: Path, manifests: int) -> None:
    """``manifests`` tagged images over :data:`REPOSITORIES` repositories, through the stores (as pushes write)."""
    driver = CheckedDriver(FilesystemDriver(str(root)))
    registry = Registry(driver, InMemoryDescriptorCache())
    shared = b"a layer every image has" * 100
    try:
        for number in range(manifests):
            name = f"bench/gc-{number % REPOSITORIES:03d}"
            layer = await _blob(registry, name, shared)
            config = await _blob(registry, name, json.dumps({"os": "linux", "number": number}).encode())
            doc = {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
            }
            payload = json.dumps(doc).encode()
            await ManifestStore.of(registry.repository(name)).put(payload, mt.OCI_MANIFEST, f"v{number}")
    finally:
        await driver.aclose()


async def pass_durations(root: Path, passes: int) -> list[tuple[float, int]]:
    """Seconds of each pass of one collector, and the manifests it read."""
    driver = CheckedDriver(FilesystemDriver(str(root)))
    collector = OnlineCollector(driver, grace=timedelta(hours=1))
    found = []
    try:
        for _ in range(passes):
            report = await collector.run()
            if report.errors or report.deleted:
                raise RuntimeError(f"a pass over live content deleted or failed: {report.errors or report.deleted}")
            found.append((report.duration, report.manifests))
    finally:
        await driver.aclose()
    return found


def write_config(directory: Path, root: Path, name: str, enabled: bool) -> Path:
    config = yaml.safe_load(filesystem_config(root, log_level="warn", http={"addr": f"127.0.0.1:{free_port()}"}))
    config["storage"]["maintenance"] = {
        "uploadpurging": {"enabled": False},
        "garbagecollect": {"enabled": enabled, "interval": "24h", "grace": "1h", "jitter": "0s"},
    }
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def pushes_per_second(process: Process, pushes: int) -> float:
    """Image pushes (layer, config, tagged manifest) over :data:`CONNECTIONS` threads."""
    maker = api.BlobMaker(PUSH_LAYER)
    per_thread = pushes // CONNECTIONS
    layers = [[maker.make() for _ in range(per_thread)] for _ in range(CONNECTIONS)]
    host, port = process.url.split("//")[1].split(":")

    def push_all(mine: list[api.Blob]) -> None:
        conn = Connection(host, int(port))
        try:
            for layer in mine:
                api.push_monolithic(conn, "bench/push", layer)
                api.push_image(conn, "bench/push", layer.digest.split(":")[1][:16], [layer])
        finally:
            conn.close()

    return per_thread * CONNECTIONS / api.seconds_in_threads(push_all, layers)


class Collecting:
    """``registry garbage-collect --online`` passes back to back, in a thread, until stopped."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.passes = 0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stopping.is_set():
            argv = [registry_command(), "garbage-collect", "--online", "--config", str(self.config)]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"garbage-collect --online failed: {done.stderr}")
            self.passes += 1

    def __enter__(self) -> Collecting:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--manifests", type=int, default=10_000)
    p.add_argument("--pushes", type=int, default=400, help="image pushes per server and round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gc-cost-") as name:
        directory = Path(name)
        root = directory / "root"
        begin = time.perf_counter()
        asyncio.run(populate(root, args.manifests))
        print(f"{args.manifests} manifests written in {time.perf_counter() - begin:.0f} s")
        durations = asyncio.run(pass_durations(root, 3))

        on = start_registry("all", write_config(directory, root, "on", True), directory)
        off = start_registry("all", write_config(directory, root, "off", False), directory)
        rates: dict[str, list[float]] = {}
        passes = 0
        try:
            pushes_per_second(on, 64)  # warm both
            pushes_per_second(off, 64)
            for _ in range(args.rounds):
                rates.setdefault("online GC off", []).append(pushes_per_second(off, args.pushes))
                rates.setdefault("online GC on, idle", []).append(pushes_per_second(on, args.pushes))
                with Collecting(directory / "on.yml") as collecting:
                    rates.setdefault("online GC on, passes running", []).append(pushes_per_second(on, args.pushes))
                passes += collecting.passes
        finally:
            stop(on.proc)
            stop(off.proc)

    print(f"\n| pass over {args.manifests:,} manifests | seconds | manifests read |")
    print("|---|---:|---:|")
    for number, (seconds, manifests) in enumerate(durations, 1):
        kind = "first (every manifest parsed)" if number == 1 else f"pass {number} (same collector)"
        print(f"| {kind} | {seconds:.2f} | {manifests:,} |")
    base = statistics.median(rates["online GC off"])
    print(f"\n{args.rounds} rounds of {args.pushes} image pushes over {CONNECTIONS} connections; {passes} passes ran")
    print("\n| server | image pushes per second: median (min-max) | vs. GC off |")
    print("|---|---:|---:|")
    for label, values in rates.items():
        median = statistics.median(values)
        print(f"| {label} | {median:,.0f} ({min(values):,.0f}-{max(values):,.0f}) | {median / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
