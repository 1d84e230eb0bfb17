"""Blob content for pushes and the registry calls the workloads make (as a client such as docker makes them).

A :class:`BlobMaker` holds one random block and hands out distinct blobs of a fixed size without allocating
them: each blob is the block (repeated up to its size) followed by a unique 32-byte token, and its digest
comes from a copy of the hasher that has already seen the common part. So no push ever hits content the
server has (every push stores bytes) and no digest is computed while a push is timed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.client import Connection, new_sink, target_of, with_query

T = TypeVar("T")

TOKEN = 32
BLOCK = 64 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Blob:
    pieces: tuple[memoryview, ...]
    digest: str
    size: int

    def slice(self, start: int, length: int) -> list[memoryview]:
        """The pieces of bytes ``[start, start + length)``."""
        out, offset = [], 0
        for piece in self.pieces:
            lo, hi = max(start - offset, 0), min(start + length - offset, len(piece))
            if lo < hi:
                out.append(piece[lo:hi])
            offset += len(piece)
        return out


class BlobMaker:
    """Distinct blobs of ``size`` bytes (at least :data:`TOKEN`)."""

    def __init__(self, size: int) -> None:
        if size < TOKEN:
            raise ValueError(f"a blob needs at least {TOKEN} bytes")
        self.size = size
        block = memoryview(os.urandom(min(size - TOKEN, BLOCK)))
        common, rest = [], size - TOKEN
        while rest:
            common.append(block[: min(rest, len(block))])
            rest -= len(common[-1])
        self._common = tuple(common)
        self._hasher = hashlib.sha256()
        for piece in self._common:
            self._hasher.update(piece)
        self._counter = itertools.count()
        self._nonce = os.urandom(8).hex()

    def make(self) -> Blob:
        token = f"{self._nonce}-{next(self._counter):015d}".encode().ljust(TOKEN, b".")
        hasher = self._hasher.copy()
        hasher.update(token)
        return Blob((*self._common, memoryview(token)), f"sha256:{hasher.hexdigest()}", self.size)


def start_upload(conn: Connection, repository: str) -> str:
    response = conn.request("POST", f"/v2/{repository}/blobs/uploads/").expect(202)
    return target_of(response.headers["location"])


def push_monolithic(conn: Connection, repository: str, blob: Blob) -> None:
    """``POST`` an upload, then one ``PUT ?digest=`` with every byte (what docker does for a layer)."""
    location = start_upload(conn, repository)
    headers = {"Content-Type": "application/octet-stream"}
    conn.request("PUT", with_query(location, digest=blob.digest), headers, blob.pieces).expect(201)


def push_chunked(conn: Connection, repository: str, blob: Blob, chunk: int) -> None:
    """``POST``, a ``PATCH`` with ``Content-Range`` per ``chunk`` bytes, then an empty ``PUT ?digest=``."""
    location = start_upload(conn, repository)
    for start, length in _spans(blob.size, chunk):
        headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + length - 1}"}
        response = conn.request("PATCH", location, headers, blob.slice(start, length)).expect(202)
        location = target_of(response.headers["location"])
    conn.request("PUT", with_query(location, digest=blob.digest)).expect(201)


def pull(conn: Connection, path: str, size: int, sink: memoryview | None = None) -> None:
    """``GET path`` (a blob), its body drained into ``sink``; fails unless exactly ``size`` bytes came."""
    response = conn.request("GET", path, sink=sink if sink is not None else new_sink()).expect(200)
    if response.received != size:
        raise RuntimeError(f"GET {path}: {response.received} bytes, expected {size}")


def verify(conn: Connection, path: str, digest: str) -> None:
    """``GET path`` whole, in memory, and check that it hashes to ``digest`` (untimed: correctness first)."""
    body = conn.request("GET", path).expect(200).body
    actual = f"sha256:{hashlib.sha256(body).hexdigest()}"
    if actual != digest:
        raise RuntimeError(f"GET {path}: {len(body)} bytes hashing to {actual}, expected {digest}")


def push_image(conn: Connection, repository: str, tag: str, layers: list[Blob]) -> str:
    """Push ``layers`` (already pushed blobs), a config and a manifest tagged ``tag``; the manifest's digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    location = start_upload(conn, repository)
    conn.request("PUT", with_query(location, digest=config_digest), body=[config]).expect(201)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": b.digest, "size": b.size} for b in layers],
    }
    payload = json.dumps(manifest).encode()
    headers = {"Content-Type": OCI_MANIFEST}
    conn.request("PUT", f"/v2/{repository}/manifests/{tag}", headers, [payload]).expect(201)
    return f"sha256:{hashlib.sha256(payload).hexdigest()}"


def blob_path(repository: str, blob: Blob) -> str:
    return f"/v2/{repository}/blobs/{blob.digest}"


def _spans(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(size, total - start)


def seconds_in_threads(work: Callable[[T], None], shares: Sequence[T]) -> float:
    """Wall seconds to run ``work`` on each of ``shares`` at once, a thread each (a client connection each)."""
    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - begin
