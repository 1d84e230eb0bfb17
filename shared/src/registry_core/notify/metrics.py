"""The notification metrics of one app, per endpoint, in the app's ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from registry_core.notify.eventlog import EventLog

_DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry, endpoints: Sequence[str]) -> None:
        labels = ["endpoint"]
        self.pending = Gauge(
            "registry_notifications_pending", "events logged and not yet delivered", labels, registry=registry
        )
        self.delivered = Counter(
            "registry_notifications_delivered", "events the endpoint accepted", labels, registry=registry
        )
        self.failed = Counter(
            "registry_notifications_failed", "events in delivery attempts that failed", labels, registry=registry
        )
        self.dropped = Counter(
            "registry_notifications_dropped", "events dropped unsent past maxpending", labels, registry=registry
        )
        self.delivery = Histogram(
            "registry_notifications_delivery_seconds",
            "time from an event's record to its delivery",
            labels,
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )
        for name in endpoints:  # every series present from the start, at 0
            for metric in (self.pending, self.delivered, self.failed, self.dropped, self.delivery):
                metric.labels(name)
        self.log: EventLog | None = None
        """The running event log (set while notifications run): its backlog is read at scrape time."""
        registry.register(_BacklogCollector(self))


class _BacklogCollector(Collector):
    """What the Redis log holds in this process because Redis did not answer (``backlog``: re-appended once it
    does), and what it dropped past its bound; 0 for a log that has no such backlog (memory)."""

    def __init__(self, metrics: NotificationMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        log = self.metrics.log
        held = GaugeMetricFamily(
            "registry_notifications_unrecorded", "events this process holds because Redis did not answer"
        )
        held.add_metric([], getattr(log, "backlog", 0))
        lost = CounterMetricFamily(
            "registry_notifications_unrecorded_dropped", "events dropped while Redis did not answer (past the bound)"
        )
        lost.add_metric([], getattr(log, "dropped", 0))
        return [held, lost]
