"""The notification metrics of one app, per endpoint, in the app's ``/metrics``."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
