"""The ``health`` section: Go's periodic storage driver check (``file``, ``http`` and ``tcp`` checks are refused)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from registry_core.config.base import _Section
from registry_core.durations import Duration


class StorageDriverHealthSettings(_Section):
    """Every ``interval``, stat the storage root; after ``threshold`` failures in a row (0: one, as in Go) the
    registry is unhealthy: ``/healthz`` and every API request answer 503 until a check succeeds."""

    enabled: bool = False
    interval: Duration = timedelta(seconds=10)
    threshold: int = Field(0, ge=0)


class HealthSettings(_Section):
    storagedriver: StorageDriverHealthSettings = Field(default_factory=StorageDriverHealthSettings)
    file: list[Any] = []
    http: list[Any] = []
    tcp: list[Any] = []
