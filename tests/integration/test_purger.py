"""Two purger processes sharing one storage and one real redis-server: a stale upload is purged exactly once,
an upload that keeps receiving chunks survives and completes, and a dry run removes nothing."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from registry_core import paths
from registry_core.testing.servers import Process, RedisServer, start_registry, stop

pytestmark = pytest.mark.integration

CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  maintenance:
    uploadpurging:
      enabled: true
      age: 3s
      interval: 1s
      jitter: 0s
      dryrun: {dryrun}
redis:
  addr: {redis}
"""


def make_stale_upload(root: Path, name: str) -> Path:
    """An upload abandoned a day ago, written as the Go registry lays it out."""
    upload = root / paths.upload_dir(name, str(uuid.uuid4())).lstrip("/")
    upload.mkdir(parents=True)
    (upload / "startedat").write_text((datetime.now(UTC) - timedelta(days=1)).isoformat())
    (upload / "data").write_bytes(b"abandoned bytes")
    old = time.time() - 86400
    for f in upload.iterdir():
        os.utime(f, (old, old))
    return upload


def start(tmp_path: Path, service: str, *, dryrun: bool, redis: RedisServer, root: Path) -> Process:
    config = tmp_path / f"{service}-{uuid.uuid4().hex[:6]}.yml"
    config.write_text(CONFIG.format(root=root, dryrun=str(dryrun).lower(), redis=redis.addr))
    return start_registry(service, config, tmp_path)


def test_two_purgers_purge_once_and_spare_an_active_upload(tmp_path: Path, redis_server: RedisServer) -> None:
    root = tmp_path / "root"
    stale = make_stale_upload(root, "abandoned/repo")
    writer = start(tmp_path, "blob-write", dryrun=False, redis=redis_server, root=root)
    purgers = [start(tmp_path, "purger", dryrun=False, redis=redis_server, root=root) for _ in range(2)]
    try:
        with httpx.Client(base_url=writer.url) as client:
            started = client.post("/v2/active/repo/blobs/uploads/")
            assert started.status_code == 202
            location = started.headers["Location"]
            content = b""
            deadline = time.monotonic() + 7  # more than twice the purge age
            while time.monotonic() < deadline:
                chunk = os.urandom(1000)
                assert client.patch(location, content=chunk).status_code == 202
                content += chunk
                time.sleep(0.5)
            assert not stale.exists(), "the stale upload should have been purged"
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            done = client.put(location, params={"digest": digest})
            assert done.status_code == 201, done.text
    finally:
        for p in (writer, *purgers):
            stop(p.proc)
    purge_lines = [line for p in purgers for line in p.output().splitlines() if "purged upload" in line]
    assert len(purge_lines) == 1, purge_lines


def test_dry_run_removes_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    root = tmp_path / "root"
    stale = make_stale_upload(root, "abandoned/dry")
    purger = start(tmp_path, "purger", dryrun=True, redis=redis_server, root=root)
    try:
        deadline = time.monotonic() + 10
        while "would purge" not in purger.output() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(purger.proc)
    assert "would purge" in purger.output()
    assert (stale / "data").read_bytes() == b"abandoned bytes"
