"""The token service's counters, on the app's Prometheus registry."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

Grant = Literal["basic", "anonymous", "password", "refresh_token"]
Refusal = Literal["credentials", "request", "service"]


class TokenMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._issued = Counter("registry_token_issued", "access tokens issued, by grant", ["grant"], registry=registry)
        self._refused = Counter(
            "registry_token_refused", "token requests refused, by reason", ["reason"], registry=registry
        )
        for grant in ("basic", "anonymous", "password", "refresh_token"):
            self._issued.labels(grant)
        for reason in ("credentials", "request", "service"):
            self._refused.labels(reason)

    def issued(self, grant: Grant) -> None:
        self._issued.labels(grant).inc()

    def refused(self, reason: Refusal) -> None:
        self._refused.labels(reason).inc()
