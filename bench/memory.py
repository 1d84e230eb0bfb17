"""RSS growth of a registry process across a 1 GiB push and pull (streamed both ways, never in memory).

Usage: python -m bench.memory [--size-mib 1024] [--url http://127.0.0.1:5000 --pid PID]
Without --url it starts `registry serve all` on a temporary filesystem root and measures that process.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from registry_core.testing.servers import start_registry, stop

CHUNK = 1 << 20


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, rss_kib(pid), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def body(size: int, seed: bytes) -> Iterator[bytes]:
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    for _ in range(size // CHUNK):
        yield block


def measure(url: str, pid: int, size: int) -> dict[str, float]:
    digest = hashlib.sha256()
    for piece in body(size, b"bench"):
        digest.update(piece)
    ref = f"sha256:{digest.hexdigest()}"
    with httpx.Client(base_url=url, timeout=600) as client:
        client.get("/v2/")
        baseline = rss_kib(pid)
        sampler = PeakSampler(pid)
        sampler.start()
        start = time.perf_counter()
        location = client.post("/v2/bench/memory/blobs/uploads/").headers["Location"]
        done = client.put(
            location, params={"digest": ref}, content=body(size, b"bench"), headers={"Content-Length": str(size)}
        )
        push_s = time.perf_counter() - start
        assert done.status_code == 201, done.text
        after_push = sampler.peak
        start = time.perf_counter()
        check = hashlib.sha256()
        with client.stream("GET", f"/v2/bench/memory/blobs/{ref}") as response:
            for piece in response.iter_bytes(CHUNK):
                check.update(piece)
        pull_s = time.perf_counter() - start
        sampler.running = False
        sampler.join()
        assert f"sha256:{check.hexdigest()}" == ref
    mib = size / CHUNK
    return {
        "baseline_mib": baseline / 1024,
        "push_peak_growth_mib": (after_push - baseline) / 1024,
        "pull_peak_growth_mib": (sampler.peak - baseline) / 1024,
        "push_mb_s": size / push_s / 1e6,
        "pull_mb_s": size / pull_s / 1e6,
        "size_mib": mib,
    }


def hashing_mb_s(size: int = 256 * CHUNK) -> float:
    block = os.urandom(CHUNK)
    h = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(size // CHUNK):
        h.update(block)
    return size / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--url")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    if args.url:
        result = measure(args.url, args.pid, size)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp, "config.yml")
            config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/root\n")
            server = start_registry("all", config, Path(tmp))
            try:
                result = measure(server.url, server.proc.pid, size)
            finally:
                stop(server.proc)
    result["hashlib_sha256_mb_s"] = hashing_mb_s()
    for key, value in result.items():
        print(f"{key:>24}: {value:,.1f}")


if __name__ == "__main__":
    main()
