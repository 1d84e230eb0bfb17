"""The storage check finds what it must (a blob that does not hash to its name, a stray file under ``blobs/``, a
link to no blob or to another digest than its path's) and nothing on healthy storage. Files only: no server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from storage_check import LAYOUT, check_storage

CONTENT = b"layer bytes"
HEX = hashlib.sha256(CONTENT).hexdigest()


def write(root: Path, path: str, content: bytes) -> None:
    target = root / LAYOUT / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    write(tmp_path, f"blobs/sha256/{HEX[:2]}/{HEX}/data", CONTENT)
    write(tmp_path, f"repositories/app/_layers/sha256/{HEX}/link", f"sha256:{HEX}".encode())
    write(tmp_path, "repositories/app/_uploads/0d8b/data", b"half an upload")  # in progress: not checked
    return tmp_path


def test_healthy_storage_passes(healthy: Path) -> None:
    check_storage(healthy)
    check_storage(healthy / "empty")  # nothing stored at all


@pytest.mark.parametrize(
    ("path", "content", "found"),
    [
        (f"blobs/sha256/{HEX[:2]}/{HEX}/data", b"other bytes", "content hashes to"),
        (f"blobs/sha256/{HEX[:2]}/{HEX}/data~tmp-1", b"x", "not a blob's data file"),
        (f"blobs/sha256/00/{HEX}/data", CONTENT, "not a sha256 blob path"),
        ("repositories/app/_manifests/tags/v1/current/link", b"sha256:" + b"0" * 64, "which is no stored blob"),
        (f"repositories/app/_layers/sha256/{'1' * 64}/link", f"sha256:{HEX}".encode(), "not the digest of its path"),
    ],
)
def test_problems_are_reported(healthy: Path, path: str, content: bytes, found: str) -> None:
    write(healthy, path, content)
    with pytest.raises(AssertionError, match=found):
        check_storage(healthy)
