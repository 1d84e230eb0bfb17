"""Tags of one repository, stored exactly as the Go registry stores them::

    _manifests/tags/<tag>/current/link                  the digest the tag points at now
    _manifests/tags/<tag>/index/<alg>/<hex>/link        every digest it has pointed at

Listing is one ``list`` of ``_manifests/tags`` (no per-tag reads), so it stays fast with thousands of tags.
"""

from __future__ import annotations

from registry_core import paths
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests.concurrency import DEFAULT_LIMIT, bounded_map
from registry_core.manifests.links import delete_if_present, read_link, write_link
from registry_core.storage.driver import PathNotFoundError, StorageDriver


def tag_unknown(tag: str) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_UNKNOWN, {"tag": tag}, message="manifest tag unknown")


class TagStore:
    def __init__(self, driver: StorageDriver, name: str, *, concurrency: int = DEFAULT_LIMIT) -> None:
        self.driver = driver
        self.name = name
        self.concurrency = concurrency
        """Tag links read at once by :meth:`lookup` (``storage.tag.concurrencylimit``, as Go's tag lookups)."""

    async def resolve(self, tag: str) -> Digest:
        """The digest ``tag`` points at; ``MANIFEST_UNKNOWN`` if there is no such tag."""
        digest = await read_link(self.driver, paths.tag_current_link(self.name, tag))
        if digest is None:
            raise tag_unknown(tag)
        return digest

    async def tag(self, tag: str, digest: Digest) -> None:
        """Point ``tag`` at ``digest``: the history entry first, then the current link (as the Go registry)."""
        await write_link(self.driver, paths.tag_index_link(self.name, tag, digest), digest)
        await write_link(self.driver, paths.tag_current_link(self.name, tag), digest)

    async def untag(self, tag: str) -> None:
        """Remove ``tag`` and its history (never the manifest); ``MANIFEST_UNKNOWN`` if there is no such tag."""
        if not await delete_if_present(self.driver, paths.tag_dir(self.name, tag)):
            raise tag_unknown(tag)

    async def all(self) -> list[str]:
        """Every tag, sorted; ``NAME_UNKNOWN`` if the repository does not exist (an existing one may have none)."""
        try:
            children = await self.driver.list(paths.tags(self.name))
        except PathNotFoundError:
            await self._require_repository()
            return []
        return sorted(child.rsplit("/", 1)[1] for child in children)

    async def lookup(self, digest: Digest) -> list[str]:
        """The tags currently pointing at ``digest`` (reads every tag's current link: for deletes, not reads)."""
        try:
            tags = await self.all()
        except RegistryError:
            return []
        targets = await bounded_map(
            lambda t: read_link(self.driver, paths.tag_current_link(self.name, t)), tags, self.concurrency
        )
        return [tag for tag, target in zip(tags, targets, strict=True) if target == digest]

    async def _require_repository(self) -> None:
        try:
            await self.driver.stat(paths.repository(self.name))
        except PathNotFoundError:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, {"name": self.name}) from None
