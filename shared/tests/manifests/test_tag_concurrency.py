"""``storage.tag.concurrencylimit``: the tag links a manifest delete reads to find the tags pointing at it are read
at most that many at a time (the registry is built from the settings, as the services build it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from manifest_helpers import Content

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.config import load_settings
from registry_core.manifests.concurrency import DEFAULT_LIMIT
from registry_core.storage.base import CheckedDriver
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.web.app import build_registry

TAGS = 40
"""More tags than any limit tested, the default included."""


class CountingDriver(InMemoryDriver):
    """Counts the reads of tag ``current/link`` files in flight; each read waits a little, so reads overlap
    as much as the caller lets them."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0
        self.reads = 0

    async def get_content(self, path: str) -> bytes:
        if "/_manifests/tags/" not in path or not path.endswith("/current/link"):
            return await super().get_content(path)
        self.in_flight += 1
        self.reads += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.005)  # any await lets the other reads start; a sleep makes them overlap surely
            return await super().get_content(path)
        finally:
            self.in_flight -= 1


def settings_text(limit: int | None) -> str:
    tag = "" if limit is None else f"  tag:\n    concurrencylimit: {limit}\n"
    return "version: 0.1\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n" + tag


@pytest.mark.parametrize("limit", [3, 1, None], ids=["limit-3", "limit-1-serialises", "unset-default"])
async def test_tag_lookup_reads_at_most_limit_links_at_once(tmp_path: Path, limit: int | None) -> None:
    config = tmp_path / "config.yml"
    config.write_text(settings_text(limit))
    settings = load_settings(config, env={})
    driver = CountingDriver()
    content = Content(build_registry(settings, CheckedDriver(driver), InMemoryDescriptorCache()))

    kept = await content.put("app", await content.image("app", "kept"), "kept")
    doomed = await content.put("app", await content.image("app", "doomed"))
    for i in range(TAGS):
        await content.manifests("app").tags.tag(f"v{i:02d}", doomed)
    driver.peak = driver.reads = 0

    await content.manifests("app").delete(doomed)  # reads every tag's current link to untag those on ``doomed``

    assert driver.reads == TAGS + 1  # every tag was read: the limit bounds the lookup, it does not cut it short
    assert driver.peak == (DEFAULT_LIMIT if limit is None else limit)
    store = content.manifests("app")
    assert await store.tags.all() == ["kept"]
    assert await store.tags.resolve("kept") == kept
