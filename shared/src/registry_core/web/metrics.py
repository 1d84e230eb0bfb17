"""Prometheus metrics: one collector registry per app, and a cheap pure-ASGI middleware.

The middleware also stamps ``Docker-Distribution-API-Version`` on every response, as the Go registry does,
so that no handler has to remember it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_core.blobs.cache import CacheStats

API_VERSION_HEADER = (b"docker-distribution-api-version", b"registry/2.0")


class Metrics:
    """The metrics every service exposes; services add their own to :attr:`registry`."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "registry_http_requests", "HTTP requests served", ["method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "registry_http_request_seconds",
            "time to the response's first byte",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


_CACHE_COUNTERS = (
    ("hits", "blob stats answered by the descriptor cache"),
    ("misses", "blob stats the descriptor cache could not answer (asked storage)"),
    ("errors", "descriptor cache calls that failed (answered from storage)"),
)


class CacheStatsCollector(Collector):
    """The descriptor cache counters of this process's registry, read at scrape time.

    ``stats`` returns the registry's :class:`CacheStats`, or None before the registry is built (at start-up).
    """

    def __init__(self, stats: Callable[[], CacheStats | None]) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        stats = self._stats()
        return self._families(stats) if stats is not None else []

    @staticmethod
    def _families(stats: CacheStats | None) -> list[Metric]:
        counters = [CounterMetricFamily(f"registry_descriptor_cache_{name}", doc) for name, doc in _CACHE_COUNTERS]
        pending = GaugeMetricFamily("registry_descriptor_cache_pending_clears", "clears the cache still owes")
        if stats is not None:
            for family, (name, _) in zip(counters, _CACHE_COUNTERS, strict=True):
                family.add_metric([], getattr(stats, name))
            pending.add_metric([], len(stats.backlog))
        return [*counters, pending]


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method: str = scope["method"]

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), API_VERSION_HEADER]
                self.metrics.requests.labels(method, str(message["status"])).inc()
                self.metrics.latency.labels(method).observe(time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, send_stamped)
