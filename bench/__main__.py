"""``python -m bench``: our registry against the Go registry 2.8, the same workloads interleaved (ours, Go, Go,
ours, ours, Go...) so that machine noise and drift hit both alike; medians, ranges and ratios; the ceilings.
When Docker answers, the compose stack with replicas (``bench/stack.py``) is a third contender in the rotation.

Usage: python -m bench [--repeats 5] [--only SUBSTRING ...] [--quick] [--no-ceilings] [--json PATH] [--keep]
                       [--stack auto|yes|no] [--readers 2] [--writers 2]

The ceiling of a pull, nginx sending the same 64 MiB file with ``sendfile``, is measured inside the pull
workloads, interleaved with the registries; the hashlib ceiling at the end.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import servers, stack
from bench.measure import Workload, measure
from bench.memory import hashing_mb_s
from bench.report import (
    Ceiling,
    WorkloadResult,
    ceilings_table,
    figures_table,
    machine,
    resources_table,
    write_json,
)
from bench.workloads import MIB, Fixtures, LoadTest, MemoryGrowth, PullBlob, PushBlobs, Skopeo

RESULTS = Path(__file__).resolve().parent / "results"
NGINX = "nginx"


def workloads(fixtures: Fixtures, workdir: Path, repeats: int, quick: bool) -> list[Workload]:
    scale, seconds = (2, 2.0) if quick else (1, 5.0)
    return [
        PushBlobs("push 1 MiB", 1 * MIB, count=32 // scale),
        PushBlobs("push 16 MiB", 16 * MIB, count=8 // scale),
        PushBlobs("push 64 MiB", 64 * MIB, count=4 // scale),
        PushBlobs("push 64 MiB chunked (5 MiB PATCHes)", 64 * MIB, count=4 // scale, chunk=5 * MIB),
        PullBlob("pull 64 MiB, 1 client", fixtures, clients=1, pulls=16 // scale),
        PullBlob("pull 64 MiB, 4 clients", fixtures, clients=4, pulls=8 // scale),
        LoadTest("HEAD blob, 32 connections", fixtures, "HEAD", manifest=False, connections=32, seconds=seconds),
        LoadTest("GET manifest by tag, 32 conns", fixtures, "GET", manifest=True, connections=32, seconds=seconds),
        Skopeo("skopeo 5 x 16 MiB", workdir / "skopeo", repeats, layers=5, layer_size=16 * MIB // scale),
        MemoryGrowth("1 GiB", 1024 * MIB // scale),
    ]


def run_workload(workload: Workload, contenders: Sequence[servers.Server], repeats: int) -> WorkloadResult:
    for server in contenders:
        workload.prepare(server)
    result = WorkloadResult(workload.name, workload.figures, {s.name: [] for s in contenders})
    for repeat in range(repeats):
        order = contenders if repeat % 2 == 0 else contenders[::-1]  # interleaved A B, B A, A B: no order bias
        for server in order:
            sample = measure(lambda s=server, r=repeat: workload.run(s, r), server)  # type: ignore[misc]
            result.samples[server.name].append(sample)
            if (failure := server.failure()) is not None:
                raise RuntimeError(failure)
    _progress(result)
    return result


def _progress(result: WorkloadResult) -> None:
    key = result.figures[0].key
    medians = {name: result.spread(name, key) for name in result.samples}
    shown = ", ".join(f"{name} {s.median:,.1f}" for name, s in medians.items() if s)
    print(f"  {result.name}: {shown} {result.figures[0].unit}", file=sys.stderr, flush=True)


def start_nginx(fixtures: Fixtures, workdir: Path) -> servers.Server:
    """nginx serving the pull fixture's bytes as a file: the ceiling of the pull workloads."""
    root = workdir / "nginx-root"
    root.mkdir()
    nginx = servers.start_nginx(workdir / NGINX, root)
    fixtures.serve_file(nginx, root)
    return nginx


def ceilings(results: list[WorkloadResult], repeats: int, quick: bool) -> list[Ceiling]:
    found = [
        Ceiling(f"nginx sendfile, {r.name}", "MB/s", [s.figures["mb_s"] for s in r.samples[NGINX]])
        for r in results
        if r.samples.get(NGINX)
    ]
    size = 64 * MIB if quick else 256 * MIB
    found.append(Ceiling("hashlib.sha256", "MB/s", [hashing_mb_s(size) for _ in range(repeats)]))
    return found


def with_stack(choice: str) -> bool:
    """Whether to run the compose stack: ``yes`` always (a failure to start it is reported), ``auto`` when Docker
    answers (otherwise said loudly), ``no`` never."""
    if choice == "auto" and not stack.docker_answers():
        print("!!! the compose stack is SKIPPED: 'docker info' does not answer (--stack yes insists)", file=sys.stderr)
        return False
    return choice != "no"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per workload and server (5 for decisions)")
    parser.add_argument("--only", nargs="*", default=(), help="workloads whose name contains one of these")
    parser.add_argument("--quick", action="store_true", help="half the bytes and shorter load tests")
    parser.add_argument("--no-ceilings", action="store_true", help="skip nginx and hashlib")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/<time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, storage)")
    parser.add_argument(
        "--stack",
        choices=("auto", "yes", "no"),
        default="auto",
        help="the compose stack as a third contender: auto = when 'docker info' answers (default)",
    )
    parser.add_argument("--readers", type=int, default=2, help="blob-read replicas of the stack")
    parser.add_argument("--writers", type=int, default=2, help="blob-write replicas of the stack")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.readers < 1 or args.writers < 1:
        parser.error("--repeats, --readers and --writers must be at least 1")

    started = time.strftime("%Y%m%dT%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    workdir.chmod(0o755)  # nginx's workers read the ceiling's file below it
    fixtures = Fixtures()
    chosen = [
        w
        for w in workloads(fixtures, workdir, args.repeats, args.quick)
        if not args.only or any(o in w.name for o in args.only)
    ]
    results: list[WorkloadResult] = []
    failures: list[str] = []
    running: list[servers.Server] = []
    try:
        running += [servers.start_ours(workdir / "ours")]
        if with_stack(args.stack):
            try:
                running.append(stack.start_stack(workdir / "compose", args.readers, args.writers))
            except Exception as exc:  # reported, and the other contenders still run
                failures.append(f"the compose stack did not start: {exc}")
                print(f"  the compose stack did not start: {exc}", file=sys.stderr, flush=True)
        running.append(servers.start_go(workdir / "go"))
        registries = list(running)
        if not args.no_ceilings and any(isinstance(w, PullBlob) for w in chosen):
            running.append(start_nginx(fixtures, workdir))
        print(", ".join(f"{s.name}: {s.url} (pids {s.pids()})" for s in running), file=sys.stderr)
        for workload in chosen:
            contenders = running if isinstance(workload, PullBlob) else registries
            try:
                results.append(run_workload(workload, contenders, args.repeats))
            except Exception as exc:  # one broken workload must not lose the others' figures
                failures.append(f"{workload.name}: {exc!r}")
                print(f"  {workload.name} FAILED: {exc!r}", file=sys.stderr, flush=True)
    finally:
        for server in running:
            server.stop()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    found = [] if args.no_ceilings else ceilings(results, args.repeats, args.quick)

    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    meta: dict[str, Any] = {
        "started": started,
        "command": command,
        "repeats": args.repeats,
        "quick": args.quick,
        "machine": machine(),
        "failures": failures,
    }
    print("\n".join(f"{k}: {v}" for k, v in meta["machine"].items()))
    print(f"command: {command} (repeats {args.repeats}, interleaved A B C, C B A, ...)")
    print("ours: registry serve all, 1 process; go: docker-registry; both with filesystem storage, in-memory cache")
    if any(s.name == "compose" for s in registries):
        print(
            f"compose: deploy/compose.yml, {args.readers} blob-read + {args.writers} blob-write behind the nginx"
            " gateway, descriptor-cache + Redis, filesystem storage on a shared volume (bench/compose.bench.yml)"
        )
    print()
    print(figures_table(results), end="\n\n")
    print(resources_table(results), end="\n\n")
    if found:
        print(ceilings_table(found))
    for failure in failures:
        print(f"FAILED {failure}")
    out = args.json or RESULTS / f"{started}.json"
    write_json(out, meta, results, found)
    print(f"\nwrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
