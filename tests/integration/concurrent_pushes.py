"""Many pushes of one blob at once through one keep-alive ``httpx.AsyncClient``: half into one repository, half
into a repository each; half chunked (``PATCH`` then an empty ``PUT``), half monolithic (``POST`` then ``PUT``
with the body). The workload that once lost a push to "Server disconnected without sending a response".

Run against a registry of its own (filesystem storage under a temporary directory)::

    .venv/bin/python tests/integration/concurrent_pushes.py [--pushes 40] [--size-mib 32] [--rounds 9] [--pooled 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SHARED_REPOSITORY = "storm/shared"
REQUEST_TIMEOUT = 300.0


@dataclass(frozen=True)
class Push:
    repository: str
    chunked: bool


@dataclass(frozen=True)
class Outcome:
    push: Push
    status: int | None
    """The final response's status; ``None`` when the push raised."""
    error: str = ""
    seconds: float = 0.0


def plan(pushes: int) -> list[Push]:
    """Half into one repository, half into one repository each; chunked and monolithic alternating in both."""
    return [
        Push(SHARED_REPOSITORY if i % 2 == 0 else f"storm/own-{i}", chunked=(i // 2) % 2 == 0) for i in range(pushes)
    ]


async def push(client: httpx.AsyncClient, job: Push, data: bytes, digest: str) -> Outcome:
    started = time.monotonic()
    try:
        created = await client.post(f"/v2/{job.repository}/blobs/uploads/")
        if created.status_code != 202:
            return Outcome(job, created.status_code, created.text[:200], time.monotonic() - started)
        location = created.headers["Location"]
        if job.chunked:
            patched = await client.patch(location, content=data, headers={"Content-Type": "application/octet-stream"})
            if patched.status_code != 202:
                return Outcome(job, patched.status_code, patched.text[:200], time.monotonic() - started)
            done = await client.put(patched.headers["Location"], params={"digest": digest})
        else:
            done = await client.put(location, params={"digest": digest}, content=data)
        return Outcome(
            job, done.status_code, "" if done.status_code == 201 else done.text[:200], time.monotonic() - started
        )
    except httpx.HTTPError as exc:
        return Outcome(job, None, f"{type(exc).__name__}: {exc}", time.monotonic() - started)


async def storm(url: str, pushes: int, data: bytes, pooled: int | None = 20) -> list[Outcome]:
    """``pushes`` concurrent pushes of ``data`` through one client, keeping up to ``pooled`` idle connections
    (httpx's default is 20; ``None``: all of them) for ``keepalive_expiry`` (httpx's default, 5 s)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=pooled)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT, limits=limits) as client:
        return list(await asyncio.gather(*(push(client, job, data, digest) for job in plan(pushes))))


def rounds(url: str, args: argparse.Namespace) -> collections.Counter[str]:
    """Run the rounds against ``url``, print each, and count the failures by kind."""
    data = os.urandom(args.size_mib << 20)
    failures: collections.Counter[str] = collections.Counter()
    for number in range(args.rounds):
        started = time.monotonic()
        outcomes = asyncio.run(storm(url, args.pushes, data, args.pooled or None))
        bad = [o for o in outcomes if o.status != 201]
        took, slowest = time.monotonic() - started, max(o.seconds for o in outcomes)
        print(
            f"round {number}: {len(outcomes) - len(bad)}/{len(outcomes)} pushed in {took:.1f}s (slowest {slowest:.1f}s)"
        )
        for outcome in bad:
            print(f"  {outcome.push}: {outcome.status} {outcome.error} after {outcome.seconds:.1f}s")
            failures[outcome.error.split(":")[0]] += 1
    return failures


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from registry_process import serving

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=40)
    parser.add_argument("--size-mib", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--pooled", type=int, default=20, help="idle connections kept (0: as many as there are)")
    parser.add_argument("--url", help="a running registry instead of one of our own")
    args = parser.parse_args()
    if args.url:
        failures = rounds(args.url, args)
    else:
        with tempfile.TemporaryDirectory() as directory, serving(Path(directory)) as registry:
            try:
                failures = rounds(registry.url, args)
            finally:
                if registry.process is not None:
                    print(f"--- server log (the end) ---\n{registry.process.output()[-3000:]}")
    print("failures:", dict(failures) or "none")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
