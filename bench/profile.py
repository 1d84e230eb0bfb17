"""Where our server's time goes during one workload: ``py-spy record`` on every server process, summarized.

Usage: python -m bench.profile WORKLOAD_SUBSTRING [--runs 3] [--top 25] [--out DIR]

Starts ``registry serve all`` alone, prepares the workload, records it with py-spy (``pip install py-spy``)
while it runs ``--runs`` times, then prints the functions with the most samples (threads on CPU only: an idle
event loop or worker thread is not sampled), self and inclusive, and keeps the raw collapsed stacks (flamegraph
input) in ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.__main__ import workloads
from bench.servers import start_ours
from bench.workloads import Fixtures

RATE = 250  # samples per second
STOP_TIMEOUT = 60


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install py-spy")
    return found


def summarize(collapsed: Path, top: int) -> str:
    """Self and inclusive sample counts per function from py-spy's raw (collapsed stacks) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"

    def table(counter: collections.Counter[str], title: str) -> list[str]:
        rows = [f"{title} ({total} samples)"]
        rows += [f"  {100 * n / total:5.1f}%  {frame[:150]}" for frame, n in counter.most_common(top)]
        return rows

    return "\n".join([*table(own, "self"), "", *table(inclusive, "inclusive")])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="a substring of the workload's name, e.g. 'HEAD' or 'push 64'")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "registry-profile")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="registry-profile-"))
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [w for w in workloads(Fixtures(), workdir, args.runs, quick=False) if args.workload in w.name]
    if not chosen:
        raise SystemExit(f"no workload named like {args.workload!r}")
    workload = chosen[0]
    server = start_ours(workdir / "ours")
    recorders: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        workload.prepare(server)
        for pid in server.pids():
            out = args.out / f"{pid}.txt"
            argv_ = [py_spy(), "record", "-p", str(pid), "-r", str(RATE), "-f", "raw", "-o", str(out)]
            recorders.append((subprocess.Popen(argv_, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
        time.sleep(1.0)  # py-spy attaches
        for repeat in range(args.runs):
            figures = workload.run(server, repeat)
            print(f"run {repeat}: {figures}", file=sys.stderr)
    finally:
        for recorder, _ in recorders:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=STOP_TIMEOUT)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for _, out in recorders:
        if out.exists():
            print(f"== {out}\n{summarize(out, args.top)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
