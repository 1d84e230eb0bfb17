"""Choose the blob descriptor cache the configuration asks for."""

from __future__ import annotations

import logging

from registry_core.blobs.cache import InMemoryDescriptorCache
from registry_core.blobs.interfaces import BlobDescriptorService
from registry_core.config import Settings

log = logging.getLogger("registry.cache")


def create_descriptor_cache(settings: Settings) -> BlobDescriptorService:
    kind = settings.storage.cache.blobdescriptor
    if kind not in (None, "inmemory"):
        log.warning("blob descriptor cache %r is not available yet; using the in-memory cache", kind)
    return InMemoryDescriptorCache(settings.storage.cache.blobdescriptorsize)
