"""Medians, ranges and ratios of the samples; the tables ``make bench`` prints; the JSON it writes."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Figure, Sample

OURS, STACK, GO = "ours", "compose", "go"
CONTENDERS = (OURS, STACK, GO)
"""The registries in the tables' order; each one's figures are divided by Go's."""
JUDGED = OURS
"""The performance goals (ratio >= 1 against Go) are the all-in-one server's; the stack's ratios are reported."""


@dataclass
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def show(self) -> str:
        return f"{_num(self.median)} ({_num(self.low)}-{_num(self.high)})"


@dataclass
class WorkloadResult:
    name: str
    figures: tuple[Figure, ...]
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def spread(self, server: str, key: str) -> Spread | None:
        values = [s.figures[key] for s in self.samples.get(server, [])]
        return Spread.of(values) if values else None

    def contenders(self) -> list[str]:
        return [name for name in CONTENDERS if self.samples.get(name)]

    def ratio(self, key: str, server: str = OURS) -> float | None:
        """``server``'s median over Go's."""
        ours, go = self.spread(server, key), self.spread(GO, key)
        if ours is None or go is None or go.median == 0:
            return None
        return ours.median / go.median

    def resources(self, server: str) -> dict[str, float] | None:
        samples = self.samples.get(server)
        if not samples:
            return None
        return {
            "client_cores": statistics.median(s.client_cpu_s / s.wall_s for s in samples),
            "server_cores": statistics.median(s.server_cpu_s / s.wall_s for s in samples),
            "peak_rss_mib": statistics.median(sum(s.server_peak_rss_mib) for s in samples),
        }


@dataclass
class Ceiling:
    name: str
    unit: str
    values: list[float]


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _ratio_cell(figure: Figure, ratio: float | None, server: str) -> str:
    """The ratio, with '<' when it misses a goal of the judged server; '.' alone for a figure that is not judged
    (RSS growths of a few MiB or none: their ratios say nothing), '-' without a ratio."""
    if not figure.goal:
        return "."
    if ratio is None:
        return "-"
    if server != JUDGED:
        return f"{ratio:.2f}  ."
    met = ratio >= 1.0 if figure.higher_is_better else ratio <= 1.0
    return f"{ratio:.2f}" if met else f"{ratio:.2f}  <"


def _others(names: list[str]) -> list[str]:
    return [n for n in names if n != GO]


def figures_table(results: list[WorkloadResult]) -> str:
    names = [n for n in CONTENDERS if any(n in r.contenders() for r in results)]
    header = f"{'workload':<36} {'unit':<6}" + "".join(f" {n + ': median (min-max)':>28}" for n in names)
    header += "".join(f" {n + '/go':>11}" for n in _others(names))
    lines = [header, "-" * len(header)]
    for result in results:
        for figure in result.figures:
            line = f"{figure.label:<36} {figure.unit:<6}"
            for name in names:
                spread = result.spread(name, figure.key)
                line += f" {spread.show() if spread else '-':>28}"
            for name in _others(names):
                ratio = result.ratio(figure.key, name)
                line += f" {_ratio_cell(figure, ratio, name):>11}"
            lines.append(line)
    lines.append("(x/go: for MB/s and req/s higher is better, for ms lower is; '<' marks a goal of the all-in-one")
    lines.append(" server missed; '.' a figure reported but not judged: the compose stack's, and RSS growths)")
    return "\n".join(lines)


def resources_table(results: list[WorkloadResult]) -> str:
    names = [n for n in CONTENDERS if any(n in r.contenders() for r in results)]
    width = max(14, len(" | ".join(names)) + 1)
    header = f"{'workload':<36} {'client cores':>{width}} {'server cores':>{width}} {'server peak RSS MiB':>{width}}"
    lines = [header, f"{'':<36}" + f" {' | '.join(names):>{width}}" * 3, "-" * len(header)]
    for result in results:
        found = [result.resources(n) for n in names]
        if any(r is None for r in found):
            continue
        cells = [" | ".join(_num(r[k]) for r in found if r) for k in ("client_cores", "server_cores", "peak_rss_mib")]
        lines.append(f"{result.name:<36} {cells[0]:>{width}} {cells[1]:>{width}} {cells[2]:>{width}}")
    lines.append("(cores: CPU seconds / wall seconds; peak RSS: VmHWM summed over the server's processes)")
    return "\n".join(lines)


def ceilings_table(ceilings: list[Ceiling]) -> str:
    lines = ["ceilings on this machine"]
    for c in ceilings:
        lines.append(f"  {c.name:<44} {c.unit:<6} {Spread.of(c.values).show():>28}")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "go_registry": _version(["/usr/bin/docker-registry", "--version"]),
    }


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except OSError:
        return "not installed"


def write_json(path: Path, meta: dict[str, Any], results: list[WorkloadResult], ceilings: list[Ceiling]) -> None:
    def summary(result: WorkloadResult) -> dict[str, Any]:
        return {
            "figures": {
                f.key: {
                    "label": f.label,
                    "unit": f.unit,
                    "higher_is_better": f.higher_is_better,
                    **{server: asdict(s) for server in CONTENDERS if (s := result.spread(server, f.key))},
                    "ratio": result.ratio(f.key),
                    **{f"ratio_{n}": result.ratio(f.key, n) for n in _others(result.contenders()) if n != OURS},
                }
                for f in result.figures
            },
            "resources": {server: result.resources(server) for server in result.contenders()},
            "samples": {server: [asdict(s) for s in samples] for server, samples in result.samples.items()},
        }

    document = {
        **meta,
        "workloads": {r.name: summary(r) for r in results},
        "ceilings": {c.name: {"unit": c.unit, **asdict(Spread.of(c.values)), "values": c.values} for c in ceilings},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
