"""HEAD requests per second on a warm descriptor cache, for each cache kind, on the same machine in the same run.

``registry serve all`` runs once per cache kind (``inmemory``; ``redis``; ``remote``, through the descriptor-cache
service), all on one filesystem root, beside one redis-server and the descriptor-cache service. One blob is pushed;
every server is warmed; then oha sends a fixed number of ``HEAD /v2/<name>/blobs/<digest>`` requests over
``--connections`` keep-alive connections on loopback, to each server in turn (bounded in count, and in time by
``--timeout``). A warm HEAD touches no storage: every request must be a cache hit, which the server's
``/metrics`` confirm.

oha, not a Python client: on two cores an asyncio client costs about what the server does per request and would
measure itself (wrk 4.1 hangs on HEAD, waiting for a body; ab speaks HTTP/1.0, without keep-alive here; h2load
waits for the body a HEAD announces). The table reports the CPU of the client and of the serving processes, so a
client-bound run shows::

    .venv/bin/python -m bench.head_cache [--requests 20000] [--connections 32] [--timeout 120]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import ensure_oha
from bench.procs import cpu_seconds
from registry_core.testing.cluster import CACHE_KINDS, Cluster, Service, metric, start_cluster
from registry_core.testing.servers import Process

NAME = "bench/head"
WARMUP = 2_000
HITS = "registry_descriptor_cache_hits_total"
MISSES = "registry_descriptor_cache_misses_total"


@dataclass(frozen=True)
class Row:
    kind: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    """CPU cores the serving processes (registry, and the descriptor-cache and Redis it uses) kept busy."""
    client_cpu: float
    hits: float
    misses: float


def head(url: str, requests: int, connections: int, timeout: float, headers: Sequence[str] = ()) -> dict[str, Any]:
    """oha's JSON report of ``requests`` HEADs of ``url`` over ``connections`` keep-alive connections, each with
    ``headers`` (``"Name: value"``)."""
    argv = [ensure_oha(), "--no-tui", "--output-format", "json", "-m", "HEAD", "-n", str(requests)]
    argv += [arg for header in headers for arg in ("-H", header)]
    argv += ["-c", str(connections), url]
    out = subprocess.run(argv, capture_output=True, check=True, timeout=timeout).stdout
    report: dict[str, Any] = json.loads(out)
    statuses = report["statusCodeDistribution"]
    if report.get("errorDistribution") or statuses != {"200": requests}:
        raise RuntimeError(f"HEAD {url}: statuses {statuses}, errors {report.get('errorDistribution')}")
    return report


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def serving(cluster: Cluster, kind: str, server: Process) -> list[int]:
    """The pids whose CPU a HEAD costs with this cache kind."""
    pids = [server.proc.pid]
    if kind == "remote":
        pids.append(cluster.descriptor_cache.proc.pid)
    if kind != "inmemory":
        pids.append(cluster.redis.proc.pid)
    return pids


def measure(cluster: Cluster, kind: str, digest: str, args: argparse.Namespace) -> Row:
    server = cluster.of("all")[CACHE_KINDS.index(kind)]
    url = f"{server.url}/v2/{NAME}/blobs/{digest}"
    head(url, WARMUP, args.connections, args.timeout)
    pids = serving(cluster, kind, server)
    hits, misses = metric(server, HITS), metric(server, MISSES)
    server_before, client_before, start = sum(map(cpu_seconds, pids)), children_cpu(), time.monotonic()
    report = head(url, args.requests, args.connections, args.timeout)
    wall = time.monotonic() - start
    summary, percentiles = report["summary"], report["latencyPercentiles"]
    return Row(
        kind=kind,
        requests=args.requests,
        rps=summary["requestsPerSec"],
        p50_ms=percentiles["p50"] * 1000,
        p99_ms=percentiles["p99"] * 1000,
        server_cpu=(sum(map(cpu_seconds, pids)) - server_before) / wall,
        client_cpu=(children_cpu() - client_before) / wall,
        hits=metric(server, HITS) - hits,
        misses=metric(server, MISSES) - misses,
    )


def push_blob(server: Process) -> str:
    content = os.urandom(4096)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    url = f"{server.url}/v2/{NAME}/blobs/uploads/"
    httpx.post(url, params={"digest": digest}, content=content, timeout=30).raise_for_status()
    return digest


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(f"\nHEAD /v2/{NAME}/blobs/<digest>, warm cache: {args.requests} requests, {args.connections} keep-alive")
    print(f"connections, oha on loopback, {os.cpu_count()} CPUs\n")
    print("| cache | req/s | p50 ms | p99 ms | server CPU (cores) | client CPU (cores) | cache hits | misses |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.kind} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.server_cpu:.2f} | {r.client_cpu:.2f}"
            f" | {r.hits:,.0f} | {r.misses:,.0f} |"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="HEAD requests per cache kind (after a warm-up)")
    p.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one oha run may take")
    p.add_argument("--kinds", default=",".join(CACHE_KINDS), help="cache kinds to measure, comma-separated")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(CACHE_KINDS):
        sys.exit(f"unknown cache kinds: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="head-cache-") as directory:
        cluster = start_cluster(Path(directory), [(Service("all", kind), 1) for kind in CACHE_KINDS], log_level="warn")
        try:
            digest = push_blob(cluster.of("all")[0])
            rows = [measure(cluster, kind, digest, args) for kind in kinds]
        finally:
            cluster.stop()
    print_table(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
