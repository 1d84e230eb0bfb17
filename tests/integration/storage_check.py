"""The storage invariants, checked on what a registry left at rest (after a fault, a crash, concurrent pushes).

- every file under ``blobs/`` is a blob's ``data`` at its path (``blobs/<alg>/<hex[:2]>/<hex>/data``) and hashes
  to that digest: nothing partial or foreign was ever published;
- every ``link`` under ``repositories/`` (uploads aside) names a blob that exists, and a layer, revision or tag
  index link names the digest of its own path.

:func:`check_storage` reads a filesystem root, :func:`check_s3_storage` a bucket; both raise ``AssertionError``
listing every problem found. Blobs are hashed as streams, never read whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

LAYOUT = "docker/registry/v2"
"""Where the registry keeps everything, below the storage root (the Go registry's layout)."""
CHUNK = 1 << 20
ALGORITHMS = {"sha256": 64, "sha512": 128}

_BLOB = re.compile(r"blobs/([a-z0-9]+)/([0-9a-f]{2})/([0-9a-f]+)/data")
_LINK_DIGEST = re.compile(
    r"repositories/.+/(?:_layers|_manifests/revisions|_manifests/tags/[^/]+/index)/([a-z0-9]+)/([0-9a-f]+)/link"
)


class StoredFiles(Protocol):
    """The files below :data:`LAYOUT`, by relative ``/``-separated path."""

    def paths(self) -> Iterable[str]: ...

    def chunks(self, path: str) -> Iterator[bytes]: ...


def storage_problems(files: StoredFiles) -> list[str]:
    """Every violation of the invariants above, one line each."""
    problems: list[str] = []
    blobs: set[str] = set()
    links: list[str] = []
    for path in sorted(files.paths()):
        if path.startswith("blobs/"):
            problem = _blob_problem(files, path)
            if problem is None:
                match = _BLOB.fullmatch(path)
                assert match is not None
                blobs.add(f"{match[1]}:{match[3]}")
            else:
                problems.append(problem)
        elif path.startswith("repositories/") and path.endswith("/link") and "/_uploads/" not in path:
            links.append(path)
    for path in links:
        target = b"".join(files.chunks(path)).decode(errors="replace").strip()
        if target not in blobs:
            problems.append(f"{path}: names {target!r}, which is no stored blob")
        if (match := _LINK_DIGEST.fullmatch(path)) and target != f"{match[1]}:{match[2]}":
            problems.append(f"{path}: names {target!r}, not the digest of its path")
    return problems


def _blob_problem(files: StoredFiles, path: str) -> str | None:
    match = _BLOB.fullmatch(path)
    if match is None:
        return f"{path}: not a blob's data file"
    algorithm, prefix, hex_digest = match.groups()
    if ALGORITHMS.get(algorithm) != len(hex_digest) or hex_digest[:2] != prefix:
        return f"{path}: not a {algorithm} blob path"
    hasher = hashlib.new(algorithm)
    for chunk in files.chunks(path):
        hasher.update(chunk)
    if hasher.hexdigest() != hex_digest:
        return f"{path}: content hashes to {algorithm}:{hasher.hexdigest()}"
    return None


def _raise_if_any(problems: list[str], where: str) -> None:
    if problems:
        raise AssertionError(f"storage at {where} breaks its invariants:\n  " + "\n  ".join(problems))


class _LocalFiles:
    def __init__(self, base: Path) -> None:
        self.base = base

    def paths(self) -> Iterator[str]:
        if self.base.is_dir():
            for file in self.base.rglob("*"):
                if file.is_file() or file.is_symlink():
                    yield file.relative_to(self.base).as_posix()

    def chunks(self, path: str) -> Iterator[bytes]:
        with open(self.base / path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk


def check_storage(root: Path) -> None:
    """Check the filesystem storage whose ``rootdirectory`` is ``root`` (the directory holding ``docker/``)."""
    _raise_if_any(storage_problems(_LocalFiles(root / LAYOUT)), str(root))


class _S3Files:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def paths(self) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix) :]

    def chunks(self, path: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + path)["Body"]
        with body:
            while chunk := body.read(CHUNK):
                yield chunk


def check_s3_storage(client: Any, bucket: str, rootdirectory: str = "") -> None:
    """Check the S3 storage in ``bucket`` under ``rootdirectory``, through a boto3 S3 ``client``."""
    root = rootdirectory.strip("/")
    prefix = f"{root}/{LAYOUT}/" if root else f"{LAYOUT}/"
    _raise_if_any(storage_problems(_S3Files(client, bucket, prefix)), f"s3://{bucket}/{prefix}")
