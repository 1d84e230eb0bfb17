"""The manifests of one repository: get, put and delete by tag or digest, over the blob layer.

Manifests are blobs (stored in the global blob store); a manifest is present in a repository through its revision
link (``_manifests/revisions/<alg>/<hex>/link``); tags point at revisions (:mod:`.tags`); manifests with a
``subject`` are listed in the referrer index (:mod:`.referrers`).

Order keeps every reference valid whatever point a crash stops at (DESIGN §5):

- put: verify the referenced blobs and child manifests are present -> blob -> revision link -> referrer entry
  -> tags (each: history entry, then current link);
- delete by digest: tags pointing at it -> referrer entry -> revision link (the bytes stay for GC).

With online garbage collection enabled (``gc_guard``), a put first claims its digest, references and tags and
checks the collectors' tombstones (:mod:`registry_core.gc_guard`), verifies in storage (``blobs`` is then an
uncached statter), and checks its claim's deadline before each link write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry_core import paths
from registry_core.blobs.interfaces import BlobStatter, BlobUnknownError
from registry_core.blobs.linked import LinkedBlobStore
from registry_core.blobs.store import BlobStore
from registry_core.descriptor import Descriptor
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.gc_guard import GcGuard, GuardedWrite
from registry_core.manifests.concurrency import DEFAULT_LIMIT, bounded_map
from registry_core.manifests.parser import ContentDescriptor, Manifest, parse_manifest, stored_media_type
from registry_core.manifests.reference import Reference
from registry_core.manifests.referrers import ReferrerIndex, referrer_descriptor
from registry_core.manifests.tags import TagStore

if TYPE_CHECKING:
    from registry_core.registry import Repository


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as served: its exact bytes, and the media type read from them."""

    digest: Digest
    media_type: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: Digest
    manifest: Manifest
    tags: tuple[str, ...]


def manifest_unknown(digest: Digest) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_UNKNOWN, {"digest": str(digest)})


def unsupported(message: str) -> RegistryError:
    return RegistryError(ErrorCode.UNSUPPORTED, message=message)


class ManifestStore:
    """One repository's manifests.

    ``store`` is the global blob store, ``blobs`` the repository's linked layers (what a manifest may reference),
    ``revisions`` the repository's manifest revision links. ``readonly`` refuses puts and deletes,
    ``delete_enabled`` gates deletes (both ``UNSUPPORTED``, 405, as the Go registry). ``gc_guard`` (online
    garbage collection enabled) guards puts; ``blobs`` must then answer from storage, not from a cache.
    """

    def __init__(
        self,
        name: str,
        *,
        store: BlobStore,
        blobs: BlobStatter,
        revisions: LinkedBlobStore,
        delete_enabled: bool = False,
        readonly: bool = False,
        tag_concurrency: int = DEFAULT_LIMIT,
        gc_guard: GcGuard | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.blobs = blobs
        self.revisions = revisions
        self.tags = TagStore(store.driver, name, concurrency=tag_concurrency)
        self.referrers = ReferrerIndex(store.driver, name)
        self.delete_enabled = delete_enabled
        self.readonly = readonly
        self.gc_guard = gc_guard

    @classmethod
    def of(cls, repository: Repository) -> ManifestStore:
        """The manifests of ``repository``, with its registry's policies. Revision links go uncached: the
        repository-scoped descriptor cache belongs to layer links. With online garbage collection, layers are
        verified uncached too (a cache may still describe a blob a sweep deleted)."""
        registry = repository.registry
        guard = registry.gc_guard
        return cls(
            repository.name,
            store=registry.blob_store,
            blobs=repository.blobs
            if guard is None
            else registry.linked_blob_store(repository.name, paths.layer_link, cached=False),
            revisions=registry.linked_blob_store(repository.name, paths.manifest_revision_link, cached=False),
            delete_enabled=registry.delete_enabled,
            readonly=registry.readonly,
            tag_concurrency=registry.tag_concurrency,
            gc_guard=guard,
        )

    # -- read ----------------------------------------------------------------------------------------------------
    async def resolve(self, reference: Reference) -> Digest:
        """The digest ``reference`` names (a tag is looked up; ``MANIFEST_UNKNOWN`` if unknown)."""
        return reference if isinstance(reference, Digest) else await self.tags.resolve(reference)

    async def stat(self, reference: Reference) -> Descriptor:
        """The manifest's descriptor (digest and size) if present here; ``MANIFEST_UNKNOWN`` if not."""
        digest = await self.resolve(reference)
        try:
            return await self.revisions.stat(digest)
        except BlobUnknownError:
            raise manifest_unknown(digest) from None

    async def read(self, descriptor: Descriptor) -> StoredManifest:
        """The bytes and media type of a manifest :meth:`stat` found."""
        try:
            payload = await self.store.get(descriptor.digest)
        except BlobUnknownError:
            raise manifest_unknown(descriptor.digest) from None
        return StoredManifest(descriptor.digest, stored_media_type(payload), payload)

    async def get(self, reference: Reference) -> StoredManifest:
        return await self.read(await self.stat(reference))

    # -- write ---------------------------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """``UNSUPPORTED`` (405) in read-only mode: lets a route refuse before it reads a body."""
        if self.readonly:
            raise unsupported("the registry is in read-only mode")

    async def put(
        self, payload: bytes, content_type: str | None, reference: Reference, tags: Sequence[str] = ()
    ) -> PutResult:
        """Validate, verify and store ``payload``, then point the tag ``reference`` (if a tag) and ``tags`` at it.

        A digest ``reference`` must be the digest of ``payload`` in its algorithm (``DIGEST_INVALID``).
        """
        self.check_writable()
        manifest = parse_manifest(payload, content_type)
        digest = _digest(payload, reference)
        named = () if isinstance(reference, Digest) else (reference,)
        applied = tuple(dict.fromkeys((*named, *tags)))
        write = None if self.gc_guard is None else await self._claim(self.gc_guard, manifest, digest, applied)
        await self._verify(manifest)
        descriptor = await self.store.put(payload, manifest.media_type, digest.algorithm)
        if write is not None:
            write.check_deadline()
        await self.revisions.link(descriptor)
        if manifest.subject is not None:
            entry = referrer_descriptor(manifest, digest, len(payload))
            await self.referrers.add(manifest.subject.digest, digest, entry)
        for tag in applied:
            if write is not None:
                write.check_deadline()
            await self.tags.tag(tag, digest)
        return PutResult(digest, manifest, applied)

    async def delete(self, reference: Reference) -> tuple[str, ...]:
        """Delete a tag (the manifest stays), or a manifest with every tag pointing at it and its referrer entry.

        Returns the tags a manifest's delete removed (for its notification events, as Go sends one per tag)."""
        self.check_writable()
        if not self.delete_enabled:
            raise unsupported("deletes are disabled on this registry")
        if not isinstance(reference, Digest):
            await self.tags.untag(reference)
            return ()
        stored = await self.get(reference)
        untagged: list[str] = []
        for tag in await self.tags.lookup(reference):
            with contextlib.suppress(RegistryError):  # removed concurrently: the goal is reached
                await self.tags.untag(tag)
                untagged.append(tag)
        subject = _subject_of(stored.payload)
        if subject is not None:
            await self.referrers.remove(subject, reference)
        try:
            await self.revisions.unlink(reference)
        except BlobUnknownError:
            raise manifest_unknown(reference) from None
        return tuple(untagged)

    # -- internals -----------------------------------------------------------------------------------------------
    async def _claim(self, guard: GcGuard, manifest: Manifest, digest: Digest, tags: Sequence[str]) -> GuardedWrite:
        """Online GC: claim the put (its digest, what it references, its subject, its tags) and check the
        tombstones."""
        references = [d.digest for d in (*manifest.blobs, *manifest.manifests)]
        subject = None if manifest.subject is None else manifest.subject.digest
        return await guard.begin_manifest_put(self.name, digest, references, tags, subject)

    async def _verify(self, manifest: Manifest) -> None:
        """Every blob the manifest needs is linked here and every child manifest is present here, else
        ``MANIFEST_BLOB_UNKNOWN`` naming the first missing digest (the spec's code for both; a ``subject`` may be
        missing, as the spec requires)."""
        checks = [(d, self.blobs) for d in manifest.blobs] + [(d, self.revisions) for d in manifest.manifests]

        async def present(check: tuple[ContentDescriptor, BlobStatter]) -> bool:
            descriptor, statter = check
            try:
                await statter.stat(descriptor.digest)
            except BlobUnknownError:
                return False
            return True

        for (descriptor, _), ok in zip(checks, await bounded_map(present, checks), strict=True):
            if not ok:
                raise RegistryError(
                    ErrorCode.MANIFEST_BLOB_UNKNOWN,
                    {"digest": str(descriptor.digest)},
                    message=f"manifest references {descriptor.digest}, unknown to this repository",
                )


def _digest(payload: bytes, reference: Reference) -> Digest:
    if not isinstance(reference, Digest):
        return Digest.from_bytes(payload)
    actual = Digest.from_bytes(payload, reference.algorithm)
    if actual != reference:
        raise RegistryError(
            ErrorCode.DIGEST_INVALID,
            {"expected": str(reference), "actual": str(actual)},
            message="the manifest does not match the digest it was put by",
        )
    return actual


def _subject_of(payload: bytes) -> Digest | None:
    """The subject of stored bytes, if they parse (a manifest from another registry's root may not)."""
    try:
        subject = parse_manifest(payload, None).subject
    except RegistryError:
        return None
    return None if subject is None else subject.digest
