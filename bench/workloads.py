"""The workloads, identical against every server: pushes, pulls, HEAD and manifest load, skopeo, memory.

Each one is bounded in count (pushes, pulls) or time (load tests), and every socket and tool has a timeout.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench import api, loadgen, procs
from bench.api import Blob, BlobMaker
from bench.client import Connection, new_sink
from bench.measure import Figure, timed
from bench.servers import Server

MIB = 1 << 20
PULL_SIZE = 64 * MIB
PUSH_REPO = "bench/push"
PULL_REPO = "bench/pull"
TAG = "latest"
OCI_MANIFEST = api.OCI_MANIFEST


def connect(server: Server) -> Connection:
    return Connection(server.host, server.port)


def mb_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


@dataclass
class Fixtures:
    """Content every server serves the read workloads: one 64 MiB blob and a manifest tagged ``latest``.

    Pushed once per server, through the API (nginx instead gets the blob as a file: :meth:`serve_file`).
    """

    blob_paths: dict[str, str] = field(default_factory=dict)
    manifest_paths: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._maker = BlobMaker(PULL_SIZE)
        self._lock = threading.Lock()

    def ensure(self, server: Server) -> None:
        with self._lock:
            if server.name in self.blob_paths:
                return
            blob = self._maker.make()
            conn = connect(server)
            try:
                api.push_monolithic(conn, PULL_REPO, blob)
                api.push_image(conn, PULL_REPO, TAG, [blob])
                api.verify(conn, api.blob_path(PULL_REPO, blob), blob.digest)
            finally:
                conn.close()
            self.blob_paths[server.name] = api.blob_path(PULL_REPO, blob)
            self.manifest_paths[server.name] = f"/v2/{PULL_REPO}/manifests/{TAG}"

    def serve_file(self, server: Server, root: Path) -> None:
        """Write the blob under ``root`` (before ``server``, an nginx over ``root``, reads it) as ``/blob``."""
        blob = self._maker.make()
        with open(root / "blob", "wb") as f:
            for piece in blob.pieces:
                f.write(piece)
        api.verify(connect(server), "/blob", blob.digest)
        self.blob_paths[server.name] = "/blob"


class PushBlobs:
    """``count`` distinct blobs of ``size`` bytes, monolithic (``POST`` + ``PUT``) or in ``chunk``-byte PATCHes."""

    def __init__(self, name: str, size: int, count: int, chunk: int | None = None) -> None:
        self.name = name
        self.size, self.count, self.chunk = size, count, chunk
        self.figures = (Figure("mb_s", name, "MB/s"),)
        self._maker: BlobMaker | None = None

    def prepare(self, server: Server) -> None:
        if self._maker is None:
            self._maker = BlobMaker(self.size)
        conn = connect(server)
        try:
            self._push(conn, self._maker.make())  # warm: the first request of a route pays for lazy set-up
        finally:
            conn.close()

    def _push(self, conn: Connection, blob: Blob) -> None:
        if self.chunk is None:
            api.push_monolithic(conn, PUSH_REPO, blob)
        else:
            api.push_chunked(conn, PUSH_REPO, blob, self.chunk)

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        assert self._maker is not None
        blobs = [self._maker.make() for _ in range(self.count)]
        conn = connect(server)
        try:
            seconds = sum(timed(lambda b=blob: self._push(conn, b)) for blob in blobs)
        finally:
            conn.close()
        return {"mb_s": mb_s(self.size * self.count, seconds)}


class PullBlob:
    """``clients`` connections, each pulling the 64 MiB fixture blob ``pulls`` times (keep-alive)."""

    def __init__(self, name: str, fixtures: Fixtures, clients: int, pulls: int) -> None:
        self.name = name
        self.fixtures, self.clients, self.pulls = fixtures, clients, pulls
        self.figures = (Figure("mb_s", name, "MB/s"),)

    def prepare(self, server: Server) -> None:
        if server.name not in self.fixtures.blob_paths:
            self.fixtures.ensure(server)

    def _client(self, server: Server, path: str) -> None:
        conn, sink = connect(server), new_sink()
        try:
            for _ in range(self.pulls):
                api.pull(conn, path, PULL_SIZE, sink)
        finally:
            conn.close()

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        path = self.fixtures.blob_paths[server.name]
        with ThreadPoolExecutor(self.clients) as pool:

            def all_clients() -> None:
                for future in [pool.submit(self._client, server, path) for _ in range(self.clients)]:
                    future.result()

            seconds = timed(all_clients)
        return {"mb_s": mb_s(PULL_SIZE * self.clients * self.pulls, seconds)}


class LoadTest:
    """oha: ``connections`` keep-alive connections sending ``method`` to a fixture for ``seconds``."""

    def __init__(
        self, name: str, fixtures: Fixtures, method: str, manifest: bool, connections: int, seconds: float
    ) -> None:
        self.name = name
        self.fixtures, self.method, self.manifest = fixtures, method, manifest
        self.connections, self.seconds = connections, seconds
        self.figures = (
            Figure("rps", name, "req/s"),
            Figure("p50_ms", "  p50", "ms", higher_is_better=False),
            Figure("p99_ms", "  p99", "ms", higher_is_better=False),
        )

    def prepare(self, server: Server) -> None:
        self.fixtures.ensure(server)
        self._load(server, min(self.seconds, 1.0))  # warm: connections, caches, the allocator

    def _load(self, server: Server, seconds: float) -> loadgen.LoadResult:
        paths = self.fixtures.manifest_paths if self.manifest else self.fixtures.blob_paths
        headers = {"Accept": OCI_MANIFEST} if self.manifest else {}
        return loadgen.oha(server.url + paths[server.name], self.method, self.connections, seconds, headers)

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        result = self._load(server, self.seconds)
        return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


class Skopeo:
    """``skopeo copy`` of an image of ``layers`` x ``layer_size`` between an OCI layout and the server.

    One fresh image per push (skopeo would otherwise mount or skip blobs it has seen on that registry). The
    pulls copy the image that repeat's push sent into fresh layouts, ``pulls`` times (cheap to repeat, unlike a
    push, and noisy: skopeo's own work dominates them).
    """

    def __init__(self, name: str, workdir: Path, repeats: int, layers: int, layer_size: int, pulls: int = 3) -> None:
        self.name = name
        self.workdir, self.repeats, self.layers, self.layer_size = workdir, repeats, layers, layer_size
        self.pulls = pulls
        self.figures = (Figure("push_mb_s", f"{name} push", "MB/s"), Figure("pull_mb_s", f"{name} pull", "MB/s"))

    def _layout(self, server: Server, repeat: int) -> Path:
        return self.workdir / f"{server.name}-{repeat}"

    def prepare(self, server: Server) -> None:
        loadgen.images_module()  # once, before the threads
        with ThreadPoolExecutor(2) as pool:  # gzip of random layers: 2 cores, ~25 MB/s each
            for future in [
                pool.submit(loadgen.build_oci_image, self._layout(server, r), self.layers, self.layer_size)
                for r in range(self.repeats)
            ]:
                future.result()

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        layout = self._layout(server, repeat)
        size = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        remote = f"docker://{server.host}:{server.port}/bench/skopeo-{repeat}:{TAG}"
        push = timed(lambda: loadgen.skopeo_copy(f"oci:{layout}:{TAG}", remote))
        pull = 0.0
        for _ in range(self.pulls):
            with tempfile.TemporaryDirectory(dir=self.workdir) as out:
                pull += timed(lambda out=out: loadgen.skopeo_copy(remote, f"oci:{out}/image:{TAG}"))  # type: ignore[misc]
        shutil.rmtree(layout)
        return {"push_mb_s": mb_s(size, push), "pull_mb_s": mb_s(size * self.pulls, pull)}


class MemoryGrowth:
    """RSS growth (peak over the baseline before the push, summed over the server's processes) across one
    ``size`` push and one pull of it; the throughputs on the way."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.figures = (
            Figure("push_mb_s", f"{name} push", "MB/s"),
            Figure("pull_mb_s", f"{name} pull", "MB/s"),
            Figure("push_growth_mib", f"{name} push: RSS growth", "MiB", higher_is_better=False, goal=False),
            Figure("pull_growth_mib", f"{name} pull: RSS growth", "MiB", higher_is_better=False, goal=False),
        )
        self._maker: BlobMaker | None = None

    def prepare(self, server: Server) -> None:
        if self._maker is None:
            self._maker = BlobMaker(self.size)

    def run(self, server: Server, repeat: int) -> dict[str, float]:
        assert self._maker is not None
        blob, pids, conn = self._maker.make(), server.pids(), connect(server)
        baseline = procs.resident_kib(pids)

        def peak_during(action: Callable[[], object]) -> tuple[float, float]:
            procs.reset_peaks(baseline)
            seconds = timed(action)
            return seconds, procs.peak_growth_mib(baseline)

        try:
            push_s, push_growth = peak_during(lambda: api.push_monolithic(conn, PUSH_REPO, blob))
            pull_s, pull_growth = peak_during(lambda: api.pull(conn, api.blob_path(PUSH_REPO, blob), self.size))
        finally:
            conn.close()
        return {
            "push_mb_s": mb_s(self.size, push_s),
            "pull_mb_s": mb_s(self.size, pull_s),
            "push_growth_mib": push_growth,
            "pull_growth_mib": pull_growth,
        }
