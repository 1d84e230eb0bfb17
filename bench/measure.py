"""What one run of a workload against one server yields, and how it is taken.

A workload reports named figures (MB/s, req/s, latency percentiles, MiB); :func:`measure` wraps the run with
the client's CPU (this process's threads, and any tool it ran and reaped: oha, skopeo) and the server's CPU
and per-process peak RSS.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bench.procs import UsageMeter
from bench.servers import Server


@dataclass(frozen=True)
class Figure:
    """A number a workload reports: ``key`` in the samples, ``label`` and ``unit`` in the table."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    goal: bool = True
    """Whether ours must beat Go on it (RSS growths of a few MiB are reported, not judged)."""


@dataclass
class Sample:
    """One run of a workload against one server."""

    figures: dict[str, float]
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    server_peak_rss_mib: tuple[float, ...] = ()
    notes: dict[str, float] = field(default_factory=dict)


class Workload(Protocol):
    name: str
    figures: tuple[Figure, ...]

    def prepare(self, server: Server) -> None:
        """Untimed set-up on ``server`` (content to pull, images to push)."""

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        """One timed run; its figures by key."""


def client_cpu_seconds() -> float:
    """CPU of this process (all threads) and of its reaped children (the load tools)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(run: Callable[[], dict[str, float]], server: Server) -> Sample:
    meter = UsageMeter(server.pids())
    meter.start()
    client0, start = client_cpu_seconds(), time.perf_counter()
    figures = run()
    wall, client = time.perf_counter() - start, client_cpu_seconds() - client0
    usage = meter.stop()
    return Sample(figures, wall, client, usage.cpu_s, usage.peak_rss_mib)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
