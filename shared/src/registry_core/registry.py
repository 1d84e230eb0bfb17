"""The registry (the Go registry's "namespace"): one driver, one descriptor cache, the stores wired over them.

A :class:`Registry` lives as long as the process (built in the app's lifespan); a :class:`Repository` is a
cheap per-request view of one repository. Manifests, tags and referrers attach to :class:`Repository` later.
"""

from __future__ import annotations

from functools import cached_property

from registry_core import paths
from registry_core.blobs.cache import CacheStats
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider
from registry_core.blobs.linked import LinkedBlobStore, LinkPath
from registry_core.blobs.store import BlobStore
from registry_core.blobs.writer import DEFAULT_IDLE_TIMEOUT, BlobUploads, UploadHashers
from registry_core.gc_guard import GcGuard
from registry_core.manifests.concurrency import DEFAULT_LIMIT
from registry_core.names import validate_name
from registry_core.storage.driver import StorageDriver

DEFAULT_BLOB_MAX_AGE = 7 * 24 * 3600


class Registry:
    """Every repository over ``driver``, with descriptors cached in ``descriptors``.

    Parameters:
        delete_enabled: whether blobs (links) and manifests may be deleted.
        readonly: refuse every write (maintenance mode).
        redirect: serve blob GETs by redirecting to the driver's ``url_for`` where it has one.
        blob_max_age: ``Cache-Control: max-age`` of blob responses, in seconds.
        tag_concurrency: tag links read at once when looking up a manifest's tags (``storage.tag.concurrencylimit``).
        upload_idle_timeout: seconds after which an unused upload's live hasher is dropped (see ``writer``).
        gc_grace: online garbage collection's ``grace`` in seconds when it is enabled (writes then leave claims
            and respect tombstones through ``gc_guard``, see :mod:`registry_core.gc_guard`); None when it is not.
    """

    def __init__(
        self,
        driver: StorageDriver,
        descriptors: BlobDescriptorCacheProvider,
        *,
        delete_enabled: bool = False,
        readonly: bool = False,
        redirect: bool = False,
        blob_max_age: int = DEFAULT_BLOB_MAX_AGE,
        upload_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        tag_concurrency: int = DEFAULT_LIMIT,
        gc_grace: float | None = None,
    ) -> None:
        self.driver = driver
        self.descriptors = descriptors
        self.delete_enabled = delete_enabled
        self.readonly = readonly
        self.redirect = redirect
        self.blob_max_age = blob_max_age
        self.tag_concurrency = tag_concurrency
        self.blob_store = BlobStore(driver)
        self.cache_stats = CacheStats()
        self.upload_hashers = UploadHashers(upload_idle_timeout)
        self.gc_guard = None if gc_grace is None else GcGuard(driver, gc_grace)

    def repository(self, name: str) -> Repository:
        """The repository ``name`` (validated: ``NAME_INVALID``). Touches no storage."""
        return Repository(self, validate_name(name))

    def linked_blob_store(self, name: str, link_path: LinkPath, *, cached: bool = True) -> LinkedBlobStore:
        """Repository ``name``'s blobs as seen through the links ``link_path`` builds.

        The repository-scoped cache answers "is it linked here" without saying through which kind of link,
        so use ``cached=True`` for one link kind per repository only (layers); other kinds (manifest
        revisions) go uncached or bring a cache scope of their own.
        """
        cache = self.descriptors.repository(name) if cached else None
        return LinkedBlobStore(
            name,
            self.blob_store,
            link_path=link_path,
            cache=cache,
            cache_stats=self.cache_stats,
            gc_guard=self.gc_guard,
        )


class Repository:
    """One repository: ``blobs`` (layers, linked and cached) and ``uploads``; more attaches here later."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = name

    @cached_property
    def blobs(self) -> LinkedBlobStore:
        return self.registry.linked_blob_store(self.name, paths.layer_link)

    @cached_property
    def uploads(self) -> BlobUploads:
        return BlobUploads(self.blobs, self.registry.upload_hashers)
