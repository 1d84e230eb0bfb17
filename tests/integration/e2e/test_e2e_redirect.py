"""Blob GETs in the stack: redirected to a presigned S3 URL that the gateway serves from S3 (no Python in the
data path), or streamed through blob-read. Both must deliver the exact bytes; the configured default
(deploy/compose/config.yml, storage.redirect.disable) must be the faster of the two on a 64 MiB blob.
The figures are printed at the end of the run."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import time
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from e2e_stack import Stack

pytestmark = pytest.mark.e2e

SIZE = 64 * 1024 * 1024
RUNS = 7
REDIRECT_VARIABLE = "REGISTRY_STORAGE_REDIRECT_DISABLE"


def fetch_seconds(url: str) -> float:
    """Seconds to GET ``url`` (following redirects) to the end, by curl when there is one."""
    if curl := shutil.which("curl"):
        out = subprocess.run(
            [curl, "-sfL", "-o", "/dev/null", "-w", "%{time_total}", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return float(out.stdout)
    start = time.perf_counter()
    with httpx.stream("GET", url, follow_redirects=True, timeout=120) as response:
        response.raise_for_status()
        for _ in response.iter_raw(1 << 20):
            pass
    return time.perf_counter() - start


def mode_of(stack: Stack, url: str) -> str:
    status = httpx.get(url, follow_redirects=False, timeout=60).status_code
    return {307: "redirect", 200: "stream"}.get(status, f"HTTP {status}")


def switch_readers(stack: Stack, url: str, *, redirect: bool) -> None:
    """Recreate the blob-read replicas with redirects on or off; wait until every request is served that way."""
    env = {k: v for k, v in os.environ.items() if k != REDIRECT_VARIABLE}
    if not redirect:
        env[REDIRECT_VARIABLE] = "true"
    argv = [*stack.compose_argv, "up", "-d", "--no-deps", "--no-build", "--scale", "blob-read=2", "blob-read"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    stack.wait_healthy("blob-read", 2)
    wanted = "redirect" if redirect else "stream"
    deadline = time.monotonic() + 60
    streak = 0
    while streak < 10:  # both replicas, through a gateway that may still be reloading
        assert time.monotonic() < deadline, f"blob-read did not switch to {wanted}"
        streak = streak + 1 if mode_of(stack, url) == wanted else 0
        time.sleep(0.1 if streak else 1)


def measure(url: str, digest: str) -> list[float]:
    with httpx.stream("GET", url, follow_redirects=True, timeout=120) as response:
        hasher = hashlib.sha256()
        for chunk in response.iter_raw(1 << 20):
            hasher.update(chunk)
    assert f"sha256:{hasher.hexdigest()}" == digest, "the bytes served are not the blob's"
    fetch_seconds(url)  # warm: connections, caches
    return [SIZE / fetch_seconds(url) / 1e6 for _ in range(RUNS)]


def test_redirect_and_stream_throughput(stack: Stack, report: list[str]) -> None:
    content = os.urandom(SIZE)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    pushed = httpx.post(
        f"{stack.gateway}/v2/e2e/throughput/blobs/uploads/?digest={digest}", content=content, timeout=300
    )
    assert pushed.status_code == 201, pushed.text
    url = f"{stack.gateway}/v2/e2e/throughput/blobs/{digest}"

    default = mode_of(stack, url)
    assert default in ("redirect", "stream")
    other = "stream" if default == "redirect" else "redirect"
    location = httpx.get(url, follow_redirects=False, timeout=60).headers.get("location", "")
    if default == "redirect":
        assert location.startswith("/_s3/"), f"presigned URLs must point at the gateway, not {location!r}"

    figures = {default: measure(url, digest)}
    switch_readers(stack, url, redirect=other == "redirect")
    try:
        figures[other] = measure(url, digest)
    finally:
        switch_readers(stack, url, redirect=default == "redirect")

    medians = {mode: statistics.median(values) for mode, values in figures.items()}
    for mode, values in figures.items():
        report.append(
            f"blob GET 64 MiB, {mode:8s}{' (default)' if mode == default else '          '}: median "
            f"{medians[mode]:6.0f} MB/s  (runs: {', '.join(f'{v:.0f}' for v in values)})"
        )
    # Speed is reported, never asserted (no timing thresholds in tests): both modes must serve the right bytes,
    # which measure() checks; the figures go to the report for the issue note and bench/RESULTS.md.
