"""The tables and JSON of ``make bench``: every contender a column, every other registry divided by Go."""

from __future__ import annotations

import json
from pathlib import Path

from bench.measure import Figure, Sample
from bench.report import WorkloadResult, figures_table, resources_table, write_json

RPS = Figure("rps", "HEAD blob", "req/s")
P99 = Figure("p99_ms", "  p99", "ms", higher_is_better=False)


def sample(rps: float, p99: float) -> Sample:
    return Sample(
        {"rps": rps, "p99_ms": p99}, wall_s=2.0, client_cpu_s=0.5, server_cpu_s=1.0, server_peak_rss_mib=(10, 5)
    )


def result(**medians: tuple[float, float]) -> WorkloadResult:
    found = WorkloadResult("HEAD blob", (RPS, P99))
    for name, (rps, p99) in medians.items():
        found.samples[name] = [sample(rps * 0.9, p99), sample(rps, p99), sample(rps * 1.5, p99)]
    return found


def row(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(label))
    return line.split()


def test_three_contenders_each_divided_by_go() -> None:
    table = figures_table([result(ours=(3000, 20), compose=(1500, 40), go=(1000, 30))])
    header = table.splitlines()[0]
    assert header.index("ours:") < header.index("compose:") < header.index("go:")
    assert header.index("ours/go") < header.index("compose/go")
    # medians with min-max, then ours/go and compose/go
    assert row(table, "HEAD blob") == ["HEAD", "blob", "req/s", "3,000", "(2,700-4,500)", "1,500", "(1,350-2,250)",
                                       "1,000", "(900-1,500)", "3.00", "1.50", "."]  # fmt: skip
    # lower is better for latency: ours meets its goal (no mark); the stack is reported, not judged ('.')
    assert row(table, "  p99")[-3:] == ["0.67", "1.33", "."]


def test_a_missed_goal_is_marked_for_the_all_in_one_server_only() -> None:
    table = figures_table([result(ours=(900, 50), compose=(500, 60), go=(1000, 30))])
    assert row(table, "HEAD blob")[-4:] == ["0.90", "<", "0.50", "."]
    assert row(table, "  p99")[-4:] == ["1.67", "<", "2.00", "."]


def test_figures_that_are_not_judged_show_no_ratio() -> None:
    growth = Figure("growth_mib", "RSS growth", "MiB", higher_is_better=False, goal=False)
    found = WorkloadResult("1 GiB", (growth,))
    for name, value in (("ours", 0.13), ("compose", 0.03), ("go", 0.02)):
        found.samples[name] = [Sample({"growth_mib": value}, wall_s=1.0)]
    assert row(figures_table([found]), "RSS growth")[-2:] == [".", "."]


def test_two_contenders_keep_the_two_column_table() -> None:
    table = figures_table([result(ours=(2000, 10), go=(1000, 30))])
    assert "compose" not in table.splitlines()[0]
    assert row(table, "HEAD blob")[-1] == "2.00"
    resources = resources_table([result(ours=(2000, 10), go=(1000, 30))])
    assert "ours | go" in resources and row(resources, "HEAD blob")[2:] == ["0.25", "|", "0.25", "0.50", "|", "0.50",
                                                                            "15.0", "|", "15.0"]  # fmt: skip


def test_json_carries_every_contender_and_both_ratios(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json(path, {"command": "x"}, [result(ours=(3000, 20), compose=(1500, 40), go=(1000, 30))], [])
    figures = json.loads(path.read_text())["workloads"]["HEAD blob"]["figures"]["rps"]
    assert figures["ours"]["median"] == 3000 and figures["compose"]["median"] == 1500
    assert figures["ratio"] == 3.0 and figures["ratio_compose"] == 1.5
