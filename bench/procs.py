"""What a process tree costs, read from ``/proc``: CPU seconds (utime + stime) and peak resident memory.

Peaks are exact, not sampled: writing ``5`` to ``/proc/<pid>/clear_refs`` resets a process's high-water mark
(``VmHWM``) to its current RSS, so ``VmHWM`` read after a workload is that workload's peak.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` fields after the ``(comm)`` one (which may hold spaces): index 0 is field 3 (state)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid`` so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmRSS:")


def peak_rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM:")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (uvicorn's workers, say), ``root`` first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(sorted(children.get(pid, ())))
    return tree


@dataclass(frozen=True)
class Usage:
    """What some processes spent during one measurement."""

    cpu_s: float
    peak_rss_mib: tuple[float, ...]
    """Per process, in the order of the pids measured."""


class UsageMeter:
    """CPU and peak RSS of fixed pids between :meth:`start` and :meth:`stop`.

    A process that exits meanwhile (a short-lived helper, such as the compose gateway's resolver loop starting
    ``sleep``) drops out: its CPU since :meth:`start` is not counted.
    """

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = tuple(pids)
        self._cpu0: dict[int, float] = {}

    def start(self) -> None:
        self._cpu0 = {}
        for pid in self.pids:
            try:
                reset_peak(pid)
                self._cpu0[pid] = cpu_seconds(pid)
            except OSError:  # exited (ENOENT, ESRCH)
                continue

    def stop(self) -> Usage:
        cpu, peaks = 0.0, []
        for pid, cpu0 in self._cpu0.items():
            try:
                cpu += cpu_seconds(pid) - cpu0
                peaks.append(peak_rss_kib(pid) / 1024)
            except OSError:
                continue
        return Usage(cpu, tuple(peaks))


def resident_kib(pids: Iterable[int]) -> dict[int, int]:
    """The RSS of each process of ``pids`` still running."""
    found = {}
    for pid in pids:
        try:
            found[pid] = rss_kib(pid)
        except OSError:
            continue
    return found


def peak_growth_mib(baseline: dict[int, int]) -> float:
    """How far the peaks since :func:`reset_peaks` rose over ``baseline`` (:func:`resident_kib`), summed over the
    processes that are still running: one that exited meanwhile (a short-lived helper) neither adds nor removes."""
    growth = 0
    for pid, before in baseline.items():
        try:
            growth += peak_rss_kib(pid) - before
        except OSError:
            continue
    return growth / 1024


def reset_peaks(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            reset_peak(pid)
        except OSError:
            continue
