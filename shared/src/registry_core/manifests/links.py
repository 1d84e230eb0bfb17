"""Reading and writing the small link files of tags: ``<alg>:<hex>``, no newline (as the Go registry)."""

from __future__ import annotations

import logging

from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.storage.driver import PathNotFoundError, StorageDriver

log = logging.getLogger("registry.manifests")


async def read_link(driver: StorageDriver, path: str) -> Digest | None:
    """The digest a link file holds; ``None`` if there is no link (or it is unreadable, which is logged)."""
    try:
        content = await driver.get_content(path)
    except PathNotFoundError:
        return None
    try:
        return Digest.parse(content.decode("ascii").strip())
    except (UnicodeDecodeError, RegistryError):
        log.warning("link %s holds %r, not a digest: ignoring it", path, content[:200])
        return None


async def write_link(driver: StorageDriver, path: str, digest: Digest) -> None:
    await driver.put_content(path, str(digest).encode())


async def delete_if_present(driver: StorageDriver, path: str) -> bool:
    """Delete ``path``; ``False`` if nothing was there."""
    try:
        await driver.delete(path)
    except PathNotFoundError:
        return False
    return True
