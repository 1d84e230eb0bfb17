"""The blob service vocabulary: small role protocols, composed upward, and the typed errors beside them.

As the Go registry's ``blobs.go``: depend on the smallest role you need. Everything is async, so the same
protocols fit the in-memory implementations here and the Redis / remote ones that come later::

    BlobStatter                 stat(digest) -> Descriptor                 (BlobUnknownError if absent)
     └── BlobDescriptorService  + generation, fill, set_descriptor, clear  (caches and the truth behind them)
          └── BlobDescriptorCacheProvider  + repository(name) -> scoped BlobDescriptorService
    BlobProvider                get(digest) -> bytes, reader(descriptor, offset, length) -> byte stream
    BlobRedirector              url_for(descriptor) -> a direct URL, or None
    BlobIngester                put(content) -> Descriptor                 (small content: manifests)
    BlobLinker                  link, unlink, mount                        (repository membership)
    BlobService = BlobStatter + BlobProvider + BlobRedirector + BlobIngester
    BlobWriter                  one upload session: append, size, commit, cancel
    BlobUploadService           create() / resume(id) -> BlobWriter

Errors are :class:`~registry_core.errors.RegistryError` subclasses, so the web layer reports them with their
OCI code and callers can still tell them apart by type. The cache layer relies on that: a
:class:`BlobUnknownError` from a cache is a miss; any other exception from a cache is a cache *failure*.

Caches fill without races through *generations*: every clear in a scope (the global one, or one repository's)
raises its generation; a miss (:class:`CacheMiss`) carries the generation seen, and ``fill`` sets an entry
only if the scope's generation has not moved since. So an answer read from storage before a delete can never
be cached after that delete's clear, in any process.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from registry_core.descriptor import DEFAULT_MEDIA_TYPE, Descriptor
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError

# -- errors ----------------------------------------------------------------------------------------------


class BlobUnknownError(RegistryError):
    """No such blob (globally, or linked in the repository asked about)."""

    def __init__(self, digest: Digest) -> None:
        self.digest = digest
        super().__init__(ErrorCode.BLOB_UNKNOWN, detail={"digest": str(digest)})


class BlobUploadUnknownError(RegistryError):
    """No such upload in this repository: never created, already committed or cancelled, or a malformed id."""

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        super().__init__(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id})


class BlobUploadOffsetError(RegistryError):
    """A chunk that does not start where the upload ends: 416 with the upload's current ``Range``."""

    def __init__(self, upload_id: str, offset: int, start: int) -> None:
        self.upload_id = upload_id
        self.offset = offset
        super().__init__(
            ErrorCode.BLOB_UPLOAD_INVALID,
            detail={"uuid": upload_id, "offset": offset, "start": start},
            message=f"chunk starts at {start} but the upload has {offset} bytes",
            status=416,
            headers={"Range": upload_range(offset)},
        )


class DigestMismatchError(RegistryError):
    """The uploaded content does not hash to the digest the client gave (the upload is then discarded)."""

    def __init__(self, expected: Digest, actual: Digest) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(ErrorCode.DIGEST_INVALID, detail={"expected": str(expected), "actual": str(actual)})


class CacheMiss(BlobUnknownError):
    """A cache has no entry for ``digest``; ``generation`` is its scope's generation when it looked."""

    def __init__(self, digest: Digest, generation: int) -> None:
        super().__init__(digest)
        self.generation = generation


class DescriptorCacheError(Exception):
    """A cache backend failed (unreachable, timed out, bad answer). Never a client error: callers fall back."""


def upload_range(offset: int) -> str:
    """The ``Range`` header of an upload holding ``offset`` bytes: Docker's inclusive ``0-<last>``, ``0-0`` if empty."""
    return f"0-{max(offset - 1, 0)}"


# -- descriptors -----------------------------------------------------------------------------------------


class BlobStatter(Protocol):
    async def stat(self, digest: Digest) -> Descriptor:
        """The descriptor of ``digest``; ``BlobUnknownError`` if it is not there."""
        ...


class BlobDescriptorService(BlobStatter, Protocol):
    """Descriptors by digest, settable: what caches implement (Go: left off ``BlobService`` on purpose).

    ``stat`` raises :class:`CacheMiss` (a ``BlobUnknownError``) for an absent entry.
    """

    async def generation(self) -> int:
        """This scope's generation: a number that grows (at least) with every ``clear`` in the scope."""
        ...

    async def fill(self, digest: Digest, descriptor: Descriptor, generation: int) -> bool:
        """Remember ``descriptor`` unless the scope was cleared since ``generation`` was read; whether it did.

        The way to cache what was read from storage: read ``generation`` (or take a miss's) *before* reading
        or writing storage, fill after.
        """
        ...

    async def set_descriptor(self, digest: Digest, descriptor: Descriptor) -> None:
        """Remember ``descriptor`` for ``digest``, unconditionally."""
        ...

    async def clear(self, digest: Digest) -> None:
        """Forget ``digest`` and raise the generation, atomically. Idempotent for an unknown digest."""
        ...


class BlobDescriptorCacheProvider(BlobDescriptorService, Protocol):
    """A global descriptor cache that also hands out repository-scoped views.

    A scoped view answers only for digests set through it (membership in that repository); setting through
    a scoped view also sets the global entry; clearing through it clears that repository's entry only.
    """

    def repository(self, name: str) -> BlobDescriptorService: ...


# -- content ---------------------------------------------------------------------------------------------


class BlobProvider(Protocol):
    async def get(self, digest: Digest) -> bytes:
        """The whole content (small blobs only: manifests). ``BlobUnknownError`` if absent."""
        ...

    async def reader(self, descriptor: Descriptor, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """A stream of ``length`` bytes (default: to the end) from ``offset``.

        Awaiting it opens the blob, so a blob that vanished raises ``BlobUnknownError`` here, before a
        response is started, and not in the middle of the stream.
        """
        ...


class BlobRedirector(Protocol):
    async def url_for(self, descriptor: Descriptor) -> str | None:
        """A URL the client can fetch the bytes from directly, or ``None`` if the storage offers none."""
        ...


class BlobIngester(Protocol):
    async def put(self, content: bytes, media_type: str = DEFAULT_MEDIA_TYPE) -> Descriptor:
        """Store small ``content`` as a blob (idempotent) and return its descriptor."""
        ...


class BlobLinker(Protocol):
    """Repository membership: a blob is visible in a repository only through its link there."""

    async def link(self, descriptor: Descriptor) -> None:
        """Link an existing blob (``BlobUnknownError`` if the global store lacks it)."""
        ...

    async def unlink(self, digest: Digest) -> None:
        """Remove the link (never the bytes); ``BlobUnknownError`` if not linked."""
        ...

    async def mount(self, digest: Digest, from_repository: str) -> Descriptor:
        """Link a blob that ``from_repository`` has, without copying; ``BlobUnknownError`` if it has not."""
        ...


class BlobService(BlobStatter, BlobProvider, BlobRedirector, BlobIngester, Protocol):
    """Stat, read and store blobs."""


# -- uploads ---------------------------------------------------------------------------------------------


class BlobWriter(Protocol):
    """One upload session. Its bytes stay invisible until :meth:`commit` has verified them."""

    @property
    def id(self) -> str: ...

    async def size(self) -> int:
        """Bytes received so far."""
        ...

    async def append(self, chunks: AsyncIterable[bytes], start: int | None = None) -> int:
        """Append a stream; with ``start``, refuse (``BlobUploadOffsetError``) unless it equals the size. New size."""
        ...

    async def commit(
        self, expected: Digest, chunks: AsyncIterable[bytes] | None = None, start: int | None = None
    ) -> Descriptor:
        """Append the last chunks, verify, then publish the blob and link it; ``DigestMismatchError`` if wrong."""
        ...

    async def cancel(self) -> None:
        """Discard the upload."""
        ...


class BlobUploadService(Protocol):
    async def create(self) -> BlobWriter: ...

    async def resume(self, upload_id: str) -> BlobWriter:
        """The session ``upload_id`` of this repository; ``BlobUploadUnknownError`` if there is none."""
        ...
