"""The external clients: oha (HTTP load, Rust, built with cargo into ``bench/.tools`` when missing) and skopeo.

oha rather than wrk (wrk 4.1 hangs on HEAD, waiting for a body) or ab (HTTP/1.0 keep-alive, which h11-style
servers close); it runs far cheaper per request than either registry, and its JSON carries the percentiles.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parent / ".tools"
OHA_VERSION = "1.16.0"
IMAGES_MODULE = Path(__file__).resolve().parents[1] / "tests" / "integration" / "images.py"
BUILD_TIMEOUT = 1800
SKOPEO_TIMEOUT = 300
OHA_GRACE = 30


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


@cache
def ensure_oha() -> str:
    """oha's binary: on PATH, in ``bench/.tools/bin``, or ``cargo install``-ed there now (a few minutes)."""
    local = TOOLS / "bin" / "oha"
    if local.exists():
        return str(local)
    if found := shutil.which("oha"):
        return found
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    print(f"building oha {OHA_VERSION} into {TOOLS} (cargo install, a few minutes, once)", file=sys.stderr)
    subprocess.run(
        [cargo, "install", "oha", "--version", OHA_VERSION, "--locked", "--root", str(TOOLS)],
        check=True,
        timeout=BUILD_TIMEOUT,
    )
    return str(local)


def oha(url: str, method: str, connections: int, seconds: float, headers: dict[str, str]) -> LoadResult:
    """``connections`` keep-alive connections sending ``method url`` for ``seconds``; every answer must be 2xx."""
    argv = [ensure_oha(), "--no-tui", "--output-format", "json", "-m", method, "-c", str(connections)]
    argv += ["-z", f"{seconds}s", "--wait-ongoing-requests-after-deadline"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, check=True, timeout=seconds + OHA_GRACE).stdout
    report = json.loads(out)
    statuses = {int(k): v for k, v in report["statusCodeDistribution"].items()}
    if report.get("errorDistribution") or any(not 200 <= s < 300 for s in statuses):
        raise RuntimeError(f"{method} {url}: statuses {statuses}, errors {report.get('errorDistribution')}")
    percentiles = report["latencyPercentiles"]
    return LoadResult(
        rps=report["summary"]["requestsPerSec"],
        p50_ms=percentiles["p50"] * 1000,
        p99_ms=percentiles["p99"] * 1000,
        requests=sum(statuses.values()),
    )


def skopeo_copy(source: str, dest: str) -> None:
    argv = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", source, dest]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=SKOPEO_TIMEOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy {source} {dest}: {result.stderr[-2000:]}")


@cache
def images_module() -> ModuleType:
    """The integration tests' OCI layout builder (``tests/integration/images.py``, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_images", IMAGES_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def build_oci_image(path: Path, layers: int, layer_size: int) -> None:
    """An OCI layout at ``path`` holding one image of ``layers`` random gzip layers, tagged ``latest``."""
    images = images_module()
    images.build_image(images.OciLayout(path), tag="latest", layers=layers, layer_size=layer_size)
