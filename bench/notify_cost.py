"""What notifications cost the requests that cause them: HEAD and push throughput of ``registry serve all`` with
two endpoints configured against the same server with none, in the same run (interleaved rounds).

Four servers share one filesystem root: no ``notifications`` section; two endpoints with events queued in
memory (no Redis, as the Go registry); two endpoints with events appended to a Redis stream before each response
(a real ``redis-server``; the descriptor cache stays in memory in all of them, so only the events differ); and the
same with both endpoints ignoring pulls (``ignore.actions: [pull]``). The endpoints point at one listener process
(``bench.event_sink``) that answers 200 at once. Every HEAD and every push records an event (a blob HEAD is a
pull, as in Go), except the pulls the last server's endpoints ignore; each server's events are all delivered
before the next server is measured::

    .venv/bin/python -m bench.notify_cost [--requests 20000] [--pushes 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import api
from bench.client import Connection
from bench.head_cache import NAME, head, push_blob
from bench.procs import cpu_seconds
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, start_redis, start_registry, stop, wait_for_port

PUSH_REPO = "bench/notify"
PUSH_SIZE = 4096


@dataclass(frozen=True)
class Contender:
    name: str
    process: Process


def write_config(directory: Path, root: Path, name: str, extra: dict[str, Any]) -> Path:
    text = filesystem_config(root, log_level="warn", http={"addr": f"127.0.0.1:{free_port()}"})
    if extra:
        text += yaml.safe_dump(extra, sort_keys=False)
    path = directory / f"{name}.yml"
    path.write_text(text)
    return path


def endpoints(listener: str, ignore: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = {"ignore": ignore} if ignore else {}
    return {"endpoints": [{"name": name, "url": f"{listener}/{name}", **extra} for name in ("ci", "audit")]}


def start(directory: Path, listener: str, redis_addr: str) -> list[Contender]:
    root = directory / "root"
    configs = {
        "none": {},
        "2 endpoints, memory": {"notifications": endpoints(listener)},
        "2 endpoints, redis": {"notifications": endpoints(listener), "redis": {"addr": redis_addr}},
        "2 endpoints ignoring pulls, redis": {
            "notifications": endpoints(listener, {"actions": ["pull"]}),
            "redis": {"addr": redis_addr},
        },
    }
    return [
        Contender(name, start_registry("all", write_config(directory, root, f"c{i}", extra), directory))
        for i, (name, extra) in enumerate(configs.items())
    ]


def pushes_per_second(process: Process, pushes: int, connections: int) -> float:
    """Monolithic pushes (``POST`` + ``PUT ?digest=``) of distinct 4 KiB blobs over ``connections`` threads."""
    maker = api.BlobMaker(PUSH_SIZE)
    per_thread = pushes // connections
    blobs = [[maker.make() for _ in range(per_thread)] for _ in range(connections)]

    def push_all(mine: list[api.Blob]) -> None:
        conn = Connection(process.url.split("//")[1].split(":")[0], int(process.url.rsplit(":", 1)[1]))
        try:
            for blob in mine:
                api.push_monolithic(conn, PUSH_REPO, blob)
        finally:
            conn.close()

    return per_thread * connections / api.seconds_in_threads(push_all, blobs)


Rates = dict[str, dict[str, list[float]]]
"""By workload then by server, one value per round."""


@dataclass
class Measures:
    rates: Rates = field(default_factory=dict)
    """Requests (HEAD) or pushes per second."""
    cpu: Rates = field(default_factory=dict)
    """The server's CPU (user + system) per request or push, in microseconds, from the run's start until its events
    are all delivered: what the events cost this process in all, a figure other processes on the same cores (the
    load generator, Redis, the listener) disturb far less than the rate."""

    def add(self, workload: str, server: str, rate: float, cpu: float) -> None:
        self.rates.setdefault(workload, {}).setdefault(server, []).append(rate)
        self.cpu.setdefault(workload, {}).setdefault(server, []).append(cpu)


def measure(contenders: Sequence[Contender], digest: str, args: argparse.Namespace) -> Measures:
    measures = Measures()
    for c in contenders:  # warm the descriptor caches and the first requests' lazy set-up
        head(f"{c.process.url}/v2/{NAME}/blobs/{digest}", 500, args.connections, args.timeout)
        pushes_per_second(c.process, 64, 8)
        drained(c.process)
    for round_ in range(args.rounds):
        order = contenders if round_ % 2 == 0 else list(reversed(contenders))
        for c in order:
            pid = c.process.proc.pid
            before = cpu_seconds(pid)
            report = head(f"{c.process.url}/v2/{NAME}/blobs/{digest}", args.requests, args.connections, args.timeout)
            drained(c.process)
            cpu = (cpu_seconds(pid) - before) / args.requests * 1e6
            measures.add("HEAD", c.name, report["summary"]["requestsPerSec"], cpu)
            before = cpu_seconds(pid)
            rate = pushes_per_second(c.process, args.pushes, 8)
            drained(c.process)
            measures.add("push", c.name, rate, (cpu_seconds(pid) - before) / args.pushes * 1e6)
    return measures


def drained(process: Process, timeout: float = 120.0) -> None:
    """Wait until ``process`` has delivered every event it holds (its ``registry_notifications_pending`` gauges
    at 0), so that its senders do not run into the next server's measurement (they share the cores)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = httpx.get(f"{process.url}/metrics").text.splitlines()
        pending = [float(line.split()[-1]) for line in lines if line.startswith("registry_notifications_pending{")]
        if not any(pending):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{process.url}: events still pending after {timeout}s")


def delivered(listener: str, expected: int, timeout: float = 120.0) -> int:
    """Events the listener received, once it has ``expected`` or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while (count := int(httpx.get(f"{listener}/count").text)) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return count


def print_table(measures: Measures, args: argparse.Namespace) -> None:
    print(f"\n{args.rounds} interleaved rounds; HEAD: oha, {args.requests} requests, {args.connections} connections;")
    print(f"push: {args.pushes} monolithic pushes of {PUSH_SIZE} B blobs over 8 connections\n")
    print("| workload | server | per second: median (min-max) | vs. none | server CPU per request, µs | vs. none |")
    print("|---|---|---:|---:|---:|---:|")
    for workload, by_server in measures.rates.items():
        base = statistics.median(by_server["none"])
        base_cpu = statistics.median(measures.cpu[workload]["none"])
        for name, values in by_server.items():
            median = statistics.median(values)
            spread = f"{min(values):,.0f}-{max(values):,.0f}"
            cpu = statistics.median(measures.cpu[workload][name])
            print(
                f"| {workload} | {name} | {median:,.0f} ({spread}) | {median / base:.2f} | {cpu:,.0f} |"
                f" {base_cpu / cpu:.2f} |"
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="HEAD requests per server and round")
    p.add_argument("--pushes", type=int, default=2_000, help="blob pushes per server and round")
    p.add_argument("--connections", type=int, default=32, help="concurrent HEAD connections")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (A B C, C B A, ...)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one oha run may take")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-cost-") as name:
        directory = Path(name)
        port = free_port()
        sink = subprocess.Popen([sys.executable, "-m", "bench.event_sink", str(port)])
        redis = start_redis(directory)
        listener = f"http://127.0.0.1:{port}"
        contenders: list[Contender] = []
        try:
            wait_for_port(port, sink, "event sink")
            contenders = start(directory, listener, redis.addr)
            digest = push_blob(contenders[0].process)
            measures = measure(contenders, digest, args)
            pushes = args.rounds * (args.pushes // 8 * 8) + 64
            expected = 2 * 2 * (args.rounds * args.requests + 500 + pushes) + 2 * pushes  # the last: pulls ignored
            received = delivered(listener, expected)
        finally:
            for c in contenders:
                stop(c.process.proc)
            stop(redis.proc)
            stop(sink)
    print_table(measures, args)
    print(f"\nthe listener received {received:,} events (at least {expected:,} expected)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
