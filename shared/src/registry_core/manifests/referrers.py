"""The referrer index: for each subject digest, the manifests in the repository whose ``subject`` names it.

Stored beside the Go layout (which has no place for it; its catalog and GC skip ``_`` directories)::

    _referrers/subjects/<alg>/<hex>/<ralg>/<rhex>/link     the referrer's descriptor, as JSON

Each link holds exactly the descriptor the referrers API returns (``mediaType``, ``digest``, ``size``,
``artifactType``, ``annotations``), so listing reads only these small files and never the manifests, and never
scans the repository. The manifest store keeps it: an entry is written after the manifest's revision link and
removed before it. A registry that does not keep the index (the Go registry, on a shared root) may delete the
manifest and leave the entry: listing skips an entry whose revision link is gone.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from registry_core import paths
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.manifests.concurrency import bounded_map
from registry_core.manifests.links import delete_if_present
from registry_core.manifests.parser import Manifest
from registry_core.storage.driver import PathNotFoundError, StorageDriver

log = logging.getLogger("registry.manifests")

ReferrerDescriptor = dict[str, Any]
"""A descriptor as the referrers API lists it (JSON-ready)."""


def referrer_descriptor(manifest: Manifest, digest: Digest, size: int) -> ReferrerDescriptor:
    """The referrers-API descriptor of ``manifest``: ``artifactType`` omitted when it has none (an index without
    one), annotations copied from the manifest."""
    entry: ReferrerDescriptor = {"mediaType": manifest.media_type, "digest": str(digest), "size": size}
    if manifest.artifact_type:
        entry["artifactType"] = manifest.artifact_type
    if manifest.annotations:
        entry["annotations"] = dict(manifest.annotations)
    return entry


class ReferrerIndex:
    def __init__(self, driver: StorageDriver, name: str) -> None:
        self.driver = driver
        self.name = name

    async def add(self, subject: Digest, referrer: Digest, descriptor: ReferrerDescriptor) -> None:
        content = json.dumps(descriptor, separators=(",", ":"), sort_keys=True).encode()
        await self.driver.put_content(paths.referrer_link(self.name, subject, referrer), content)

    async def remove(self, subject: Digest, referrer: Digest) -> None:
        """Forget ``referrer`` under ``subject`` (idempotent)."""
        await delete_if_present(self.driver, paths.referrer_link(self.name, subject, referrer))

    async def list(self, subject: Digest, artifact_type: str | None = None) -> list[ReferrerDescriptor]:
        """The referrers of ``subject``, optionally only those of ``artifact_type``; ``[]`` if there are none."""
        entries = await bounded_map(lambda referrer: self._read(subject, referrer), await self._referrers(subject))
        found = [entry for entry in entries if entry is not None]
        return found if artifact_type is None else [e for e in found if e.get("artifactType") == artifact_type]

    async def _referrers(self, subject: Digest) -> list[Digest]:
        """The referrer digests under ``subject``: two listings (algorithms, then digests), no reads."""
        try:
            algorithms = await self.driver.list(paths.referrers(self.name, subject))
        except PathNotFoundError:
            return []
        found: list[Digest] = []
        for listing in await bounded_map(self._list_or_empty, algorithms):
            found.extend(d for d in map(_digest_of_dir, listing) if d is not None)
        return found

    async def _list_or_empty(self, path: str) -> list[str]:
        try:
            return await self.driver.list(path)
        except PathNotFoundError:
            return []

    async def _read(self, subject: Digest, referrer: Digest) -> ReferrerDescriptor | None:
        path = paths.referrer_link(self.name, subject, referrer)
        try:
            await self.driver.stat(paths.manifest_revision_link(self.name, referrer))
            content = await self.driver.get_content(path)
        except PathNotFoundError:  # the manifest was deleted (maybe by another registry), or the entry removed
            return None
        try:
            entry = json.loads(content)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            log.warning("referrer link %s is not a descriptor: ignoring it", path)
            return None
        return entry


def _digest_of_dir(path: str) -> Digest | None:
    """``.../<alg>/<hex>`` as a digest, or ``None`` for a stray entry."""
    algorithm, encoded = path.rsplit("/", 2)[-2:]
    try:
        return Digest.parse(f"{algorithm}:{encoded}")
    except RegistryError:
        return None
