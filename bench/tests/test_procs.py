"""Reading what processes cost from /proc, when some of them exit during the measurement."""

from __future__ import annotations

import os
import subprocess

from bench import procs


def test_a_process_that_exits_during_a_measurement_drops_out() -> None:
    helper = subprocess.Popen(["sleep", "30"])
    meter = procs.UsageMeter([os.getpid(), helper.pid])
    meter.start()
    sum(i * i for i in range(2_000_000))  # ~0.1 s of CPU of our own: many clock ticks
    helper.kill()
    helper.wait()
    usage = meter.stop()
    assert len(usage.peak_rss_mib) == 1 and usage.peak_rss_mib[0] > 1
    assert usage.cpu_s > 0


def test_growth_counts_the_processes_that_lived_through_it() -> None:
    helper = subprocess.Popen(["sleep", "30"])
    baseline = procs.resident_kib([os.getpid(), helper.pid])
    assert set(baseline) == {os.getpid(), helper.pid}
    procs.reset_peaks(baseline)
    grown = bytearray(64 << 20)
    grown[::4096] = b"\x01" * (len(grown) // 4096)  # every page touched: resident
    helper.kill()
    helper.wait()
    assert procs.resident_kib([helper.pid]) == {}
    assert 60 < procs.peak_growth_mib(baseline) < 200  # ours grew by 64 MiB; the helper's RSS is not subtracted
    del grown
