"""``registry garbage-collect`` against a root a real ``registry serve all`` wrote: images pushed with skopeo, one
deleted through the API, the server stopped, the command run as a subprocess; the deleted image's blobs go, and
the tagged image still pulls intact from a restarted server."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from images import OciLayout, build_image
from test_skopeo import push, skopeo

from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.blobs.redis_cache import RedisDescriptorCache
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, RedisServer, registry_command, start_registry, stop
from registry_server.gc_command import LEASE_KEY

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs("skopeo"),
]

REDIS_DB = 5
REPOSITORY = "gc/app"
GC_TIMEOUT = 120


@dataclass
class Site:
    """One registry root on disk, its two configurations (read-write and read-only), and a server over it."""

    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "data"

    def config(self, *, readonly: bool, redis: str | None = None) -> Path:
        """A configuration of this root, read-only or not, with a Redis descriptor cache at ``redis`` if given."""
        path = self.directory / f"config-{'ro' if readonly else 'rw'}{'-redis' if redis else ''}.yml"
        path.write_text(filesystem_config(self.root, redis, log_level="info", readonly=readonly, redis_db=REDIS_DB))
        return path

    def serve(self, *, readonly: bool) -> Process:
        return start_registry("all", self.config(readonly=readonly), self.directory)

    def blob_file(self, digest: str) -> Path:
        algorithm, encoded = digest.split(":", 1)
        return self.root / "docker/registry/v2/blobs" / algorithm / encoded[:2] / encoded / "data"

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(self.root.rglob("*")) if p.is_file()}


@dataclass
class Pushed:
    """What the scenario left: the image tagged ``keep`` and the one deleted by digest, each as its manifest's
    digest and the sizes of its blobs (manifest, config, layers)."""

    site: Site
    layout: OciLayout
    kept_manifest: str
    kept: dict[str, int]
    gone_manifest: str
    gone: dict[str, int]

    @property
    def gone_layer_links(self) -> set[str]:
        """What the deleted image linked as layers in the repository: all but its manifest."""
        return set(self.gone) - {self.gone_manifest}


def authority(server: Process) -> str:
    """``host:port``, as image references name the registry."""
    return server.url.split("://", 1)[1]


def garbage_collect(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [registry_command(), "garbage-collect", "--config", str(config), *flags]
    return subprocess.run(argv, capture_output=True, text=True, timeout=GC_TIMEOUT, check=False)


def image_blobs(layout: OciLayout, digest: str) -> dict[str, int]:
    """The manifest ``digest`` of ``layout`` and its config and layers, with their sizes."""
    manifest = json.loads(layout.blob(digest))
    blobs = {d["digest"]: d["size"] for d in [manifest["config"], *manifest["layers"]]}
    return {digest: len(layout.blob(digest)), **blobs}


def listed(stdout: str, verb: str) -> dict[str, int]:
    """The blobs the output says it deleted (``verb`` = ``deleted`` / ``would delete``), with their sizes."""
    found = re.findall(rf"^{verb} blob (\S+) \((\d+) bytes\)$", stdout, re.MULTILINE)
    return {digest: int(size) for digest, size in found}


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[Pushed]:
    """Two images pushed with skopeo to one repository, then one deleted by digest; the server is stopped."""
    site = Site(tmp_path)
    layout = OciLayout(tmp_path / "src")
    kept = build_image(layout, tag="keep", layers=3)
    gone = build_image(layout, tag="gone", layers=2)
    server = site.serve(readonly=False)
    try:
        for tag in ("keep", "gone"):
            push(f"oci:{layout.root}:{tag}", f"docker://{authority(server)}/{REPOSITORY}:{tag}", tmp_path)
        response = httpx.delete(f"{server.url}/v2/{REPOSITORY}/manifests/{gone['digest']}")
        assert response.status_code == 202, response.text
    finally:
        stop(server.proc)
    kept_blobs, gone_blobs = image_blobs(layout, kept["digest"]), image_blobs(layout, gone["digest"])
    yield Pushed(site, layout, kept["digest"], kept_blobs, gone["digest"], gone_blobs)


def test_refuses_unless_read_only_or_forced(pushed: Pushed) -> None:
    before = pushed.site.files()

    refused = garbage_collect(pushed.site.config(readonly=False))

    assert refused.returncode == 2
    assert "storage.maintenance.readonly.enabled" in refused.stderr and "--force" in refused.stderr
    assert pushed.site.files() == before
    forced = garbage_collect(pushed.site.config(readonly=False), "--force")
    assert forced.returncode == 0, forced.stderr
    assert listed(forced.stdout, "deleted") == pushed.gone


def test_a_dry_run_lists_what_would_go_and_removes_nothing(pushed: Pushed) -> None:
    before = pushed.site.files()

    dry = garbage_collect(pushed.site.config(readonly=False), "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert listed(dry.stdout, "would delete") == pushed.gone
    assert f"reclaiming {sum(pushed.gone.values())} bytes" in dry.stdout
    assert pushed.site.files() == before


def test_collects_the_deleted_image_and_the_tagged_one_pulls_intact(pushed: Pushed, tmp_path: Path) -> None:
    site = pushed.site

    result = garbage_collect(site.config(readonly=True), "--delete-untagged")

    assert result.returncode == 0, result.stderr
    assert listed(result.stdout, "deleted") == pushed.gone
    assert f"{sum(pushed.gone.values())} bytes reclaimed" in result.stdout
    layer_links = re.findall(rf"^deleted layer link {REPOSITORY}@(\S+)$", result.stdout, re.MULTILINE)
    assert set(layer_links) == pushed.gone_layer_links
    assert not any(site.blob_file(d).exists() for d in pushed.gone)
    assert all(site.blob_file(d).stat().st_size == size for d, size in pushed.kept.items())

    server = site.serve(readonly=True)
    try:
        out = tmp_path / "out"
        skopeo("copy", "--src-tls-verify=false", f"docker://{authority(server)}/{REPOSITORY}:keep", f"oci:{out}:keep")
        gone_layer = min(pushed.gone_layer_links)
        missing = httpx.get(f"{server.url}/v2/{REPOSITORY}/blobs/{gone_layer}")
    finally:
        stop(server.proc)
    assert missing.status_code == 404
    pulled = OciLayout(out)
    assert pulled.tagged("keep")["digest"] == pushed.kept_manifest
    for digest in pushed.kept:
        assert pulled.blob(digest) == pushed.layout.blob(digest)


@pytest.mark.redis
async def test_with_redis_one_collection_at_a_time_and_the_cache_forgets_what_goes(
    pushed: Pushed, redis_server: RedisServer
) -> None:
    config = pushed.site.config(readonly=True, redis=redis_server.addr)
    client = aioredis.Redis.from_url(f"redis://{redis_server.addr}/{REDIS_DB}")
    cache = RedisDescriptorCache(client)
    try:
        for digest, size in pushed.gone.items():
            descriptor = Descriptor(Digest.parse(digest), size)
            await cache.repository(REPOSITORY).set_descriptor(descriptor.digest, descriptor)
        await client.set(LEASE_KEY, "another collection's token")
        before = pushed.site.files()

        held = garbage_collect(config)

        assert held.returncode == 2 and LEASE_KEY in held.stderr
        assert pushed.site.files() == before
        await client.delete(LEASE_KEY)
        collected = garbage_collect(config)
        assert collected.returncode == 0, collected.stderr
        assert listed(collected.stdout, "deleted") == pushed.gone
        for digest in pushed.gone:
            with pytest.raises(BlobUnknownError):
                await cache.stat(Digest.parse(digest))
        for digest in pushed.gone_layer_links:
            with pytest.raises(BlobUnknownError):
                await cache.repository(REPOSITORY).stat(Digest.parse(digest))
        assert await client.get(LEASE_KEY) is None  # released
    finally:
        await client.flushdb()
        await client.aclose()
