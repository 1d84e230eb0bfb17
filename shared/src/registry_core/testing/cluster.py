"""A split deployment for tests and benchmarks: redis-server, the descriptor-cache service, and registry services
(blob-read, blob-write, all) as separate processes over one filesystem root, each with the descriptor cache
kind it is given (``inmemory``, ``redis`` or ``remote``, the last through the descriptor-cache service).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, RedisServer, start_redis, start_registry, stop

CACHE_KINDS = ("inmemory", "redis", "remote")


@dataclass(frozen=True)
class Service:
    """A registry service to start: ``blob-read``, ``blob-write`` or ``all``, with a descriptor cache kind."""

    name: str
    cache: str = "redis"


SPLIT = (
    (Service("blob-write", "redis"), 1),
    (Service("blob-write", "remote"), 1),
    (Service("blob-read", "remote"), 2),
    (Service("blob-read", "redis"), 1),
)
"""The split deployment of the cache tests: two writers and three readers, caching in Redis directly or
through the descriptor-cache service."""


@dataclass
class Cluster:
    """The running processes; :meth:`stop` ends them all."""

    directory: Path
    root: Path
    redis: RedisServer
    descriptor_cache: Process
    services: dict[Service, list[Process]] = field(default_factory=dict)

    def of(self, name: str) -> list[Process]:
        """Every process of the service ``name``, in start order."""
        return [p for service, procs in self.services.items() if service.name == name for p in procs]

    @property
    def readers(self) -> list[Process]:
        return self.of("blob-read")

    @property
    def writers(self) -> list[Process]:
        return self.of("blob-write")

    def restart_redis(self) -> RedisServer:
        """A new, empty redis-server on the same port (the old one must be gone)."""
        self.redis = start_redis(self.directory, self.redis.port)
        return self.redis

    def stop(self) -> None:
        for procs in self.services.values():
            for p in procs:
                stop(p.proc)
        stop(self.descriptor_cache.proc)
        stop(self.redis.proc)


def write_config(directory: Path, root: Path, cache: str, redis: str, descriptor_cache: str, log_level: str) -> Path:
    config = directory / f"config-{cache}.yml"
    config.write_text(
        filesystem_config(root, redis, cache=cache, descriptor_cache=descriptor_cache, log_level=log_level)
    )
    return config


def start_cluster(directory: Path, services: Sequence[tuple[Service, int]], *, log_level: str = "info") -> Cluster:
    """Redis, the descriptor-cache service on it, then ``count`` processes of each service, started in parallel."""
    root = directory / "root"
    redis = start_redis(directory)
    cluster: Cluster | None = None
    try:
        cache_config = write_config(directory, root, "redis", redis.addr, "http://unused", log_level)
        cluster = Cluster(directory, root, redis, start_registry("descriptor-cache", cache_config, directory))
        configs = {
            kind: write_config(directory, root, kind, redis.addr, cluster.descriptor_cache.url, log_level)
            for kind in CACHE_KINDS
        }
        wanted = [service for service, count in services for _ in range(count)]
        with ThreadPoolExecutor(len(wanted) or 1) as pool:
            started = list(pool.map(lambda s: start_registry(s.name, configs[s.cache], directory), wanted))
        for service, process in zip(wanted, started, strict=True):
            cluster.services.setdefault(service, []).append(process)
    except BaseException:
        if cluster is not None:
            cluster.stop()
        else:
            stop(redis.proc)
        raise
    return cluster


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ([-+0-9.eEinfNa]+)$", re.MULTILINE)


def metric(process: Process, name: str) -> float:
    """The sum of the samples of ``name`` in the process's ``/metrics`` (0 if it has none)."""
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    return sum(float(value) for sample, value in _SAMPLE.findall(text) if sample == name)
