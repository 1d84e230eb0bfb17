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

OURS, GO = "ours", "go"


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

    def ratio(self, key: str) -> float | None:
        ours, go = self.spread(OURS, key), self.spread(GO, key)
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


def _goal_met(figure: Figure, ratio: float) -> str:
    if not figure.goal:
        return "  ."
    return "" if (ratio >= 1.0 if figure.higher_is_better else ratio <= 1.0) else "  <"


def figures_table(results: list[WorkloadResult]) -> str:
    header = f"{'workload':<36} {'unit':<6} {'ours: median (min-max)':>28} {'go: median (min-max)':>28} {'ours/go':>8}"
    lines = [header, "-" * len(header)]
    for result in results:
        for figure in result.figures:
            ours, go, ratio = result.spread(OURS, figure.key), result.spread(GO, figure.key), result.ratio(figure.key)
            cells = [ours.show() if ours else "-", go.show() if go else "-"]
            shown = f"{ratio:.2f}{_goal_met(figure, ratio)}" if ratio is not None else "-"
            lines.append(f"{figure.label:<36} {figure.unit:<6} {cells[0]:>28} {cells[1]:>28} {shown:>8}")
    lines.append("(ours/go: for MB/s and req/s higher is better, for ms and MiB lower is; '<' marks a goal missed,")
    lines.append(" '.' a figure reported but not judged)")
    return "\n".join(lines)


def resources_table(results: list[WorkloadResult]) -> str:
    header = f"{'workload':<36} {'client cores':>14} {'server cores':>14} {'server peak RSS MiB':>20}"
    lines = [header, f"{'':<36} {'ours | go':>14} {'ours | go':>14} {'ours | go':>20}", "-" * len(header)]
    for result in results:
        ours, go = result.resources(OURS), result.resources(GO)
        if ours is None or go is None:
            continue
        cells = [f"{_num(ours[k])} | {_num(go[k])}" for k in ("client_cores", "server_cores", "peak_rss_mib")]
        lines.append(f"{result.name:<36} {cells[0]:>14} {cells[1]:>14} {cells[2]:>20}")
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
                    **{server: asdict(s) for server in (OURS, GO) if (s := result.spread(server, f.key))},
                    "ratio": result.ratio(f.key),
                }
                for f in result.figures
            },
            "resources": {server: result.resources(server) for server in (OURS, GO)},
            "samples": {server: [asdict(s) for s in samples] for server, samples in result.samples.items()},
        }

    document = {
        **meta,
        "workloads": {r.name: summary(r) for r in results},
        "ceilings": {c.name: {"unit": c.unit, **asdict(Spread.of(c.values)), "values": c.values} for c in ceilings},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
