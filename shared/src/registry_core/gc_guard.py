"""The writer's side of online garbage collection (``docs/online-gc.md``, "A writer").

A :class:`GcGuard` exists only when ``storage.maintenance.garbagecollect.enabled`` is true (``Registry.gc_guard``,
None otherwise: then no write path calls anything here). Each guarded write begins with one call that writes its
claim and lists the tombstones once, and acts on what is tombstoned:

- :meth:`GcGuard.begin_manifest_put`: a tombstoned referenced blob or child manifest fails
  ``MANIFEST_BLOB_UNKNOWN``; a tombstoned own digest or ``(repository, tag)`` is waited out;
- :meth:`GcGuard.begin_blob_commit`: a tombstoned blob is waited out (the commit then goes on as for a new blob);
- :meth:`GcGuard.begin_mount`: a tombstoned blob is not mounted (``BlobUnknownError``: the client gets an
  upload session).

Each returns a :class:`GuardedWrite`, whose :meth:`~GuardedWrite.check_deadline` the writer calls before each link
write: past ``grace / 2`` since the claim was begun it fails (``UNAVAILABLE``, 503), which bounds how long a claim
is needed. Waits poll every ``poll_interval`` seconds and give up (503 too) after ``wait_limit`` seconds or at
that deadline, whichever comes first.

A claim is left in place after a successful write: the collector removes it once a mark started after the write
(removing it at once would let a sweep that wrote its tombstone after this writer's listing, and lists claims
after the removal, delete what the new links reference, since its mark ran before them). A write refused before
it linked anything removes its claim: it protects nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from registry_core import gc_protocol
from registry_core.blobs.interfaces import BlobUnknownError
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.storage.driver import StorageDriver

DEFAULT_POLL_INTERVAL = 0.05
DEFAULT_WAIT_LIMIT = 30.0

Hook = Callable[[str, "GuardedWrite"], Awaitable[None]]
"""``(stage, write)``, awaited at ``"claimed"`` (claim written, tombstones not yet listed) and ``"checked"``
(tombstones listed and found clear, nothing verified or linked yet): a pause point for tests of the races."""


def unavailable(message: str) -> RegistryError:
    return RegistryError(ErrorCode.UNAVAILABLE, message=message, headers={"Retry-After": "1"})


@dataclass
class GuardedWrite:
    """One write under a claim: the claim and when (``time.monotonic``) it was begun."""

    guard: GcGuard
    claim: gc_protocol.Claim
    started: float

    @property
    def elapsed(self) -> float:
        return self.guard.clock() - self.started

    def check_deadline(self) -> None:
        """``UNAVAILABLE`` (503) if ``grace / 2`` has passed since the claim: call before each link write."""
        if self.elapsed > self.guard.grace / 2:
            raise unavailable("the write took too long to be safe beside garbage collection; retry it")

    async def abandon(self) -> None:
        """Remove the claim of a write that linked nothing (best effort: the collector removes old claims)."""
        with contextlib.suppress(Exception):  # the refusal being raised matters more than this cleanup
            await gc_protocol.remove_claim(self.guard.driver, self.claim)


@dataclass
class GcGuard:
    """Claims and tombstone checks for the writes of a registry over ``driver``; ``grace`` in seconds."""

    driver: StorageDriver
    grace: float
    poll_interval: float = DEFAULT_POLL_INTERVAL
    wait_limit: float = DEFAULT_WAIT_LIMIT
    clock: Callable[[], float] = time.monotonic
    hook: Hook | None = field(default=None, repr=False)

    async def begin_manifest_put(
        self,
        repository: str,
        digest: Digest,
        references: Iterable[Digest],
        tags: Iterable[str],
        subject: Digest | None = None,
    ) -> GuardedWrite:
        """Claim a manifest put of ``digest`` referencing ``references`` and setting ``tags`` in ``repository``.

        ``subject`` is claimed too (a collector then keeps it, so a referrer is not listed under a subject it
        removes) but never blocks: a subject may be missing, as the spec allows."""
        refs = frozenset(references)
        tag_set = frozenset(tags)
        claimed = {digest, *refs} | ({subject} if subject is not None else set())
        write = await self._claim(repository, claimed, tag_set)

        def blocking(tombstones: gc_protocol.Tombstones) -> bool:
            gone = sorted((d for d in refs if d in tombstones.digests), key=str)
            if gone:
                raise RegistryError(
                    ErrorCode.MANIFEST_BLOB_UNKNOWN,
                    {"digest": str(gone[0])},
                    message=f"manifest references {gone[0]}, which is being garbage collected",
                )
            return digest in tombstones.digests or any((repository, t) in tombstones.tags for t in tag_set)

        await self._wait(write, blocking)
        return write

    async def begin_blob_commit(self, repository: str, digest: Digest) -> GuardedWrite:
        """Claim an upload commit of ``digest``; wait while it is tombstoned."""
        write = await self._claim(repository, {digest}, frozenset())
        await self._wait(write, lambda tombstones: digest in tombstones.digests)
        return write

    async def begin_mount(self, repository: str, digest: Digest) -> GuardedWrite:
        """Claim a mount of ``digest``; ``BlobUnknownError`` (no mount: an upload session) if it is tombstoned."""
        write = await self._claim(repository, {digest}, frozenset())

        def blocking(tombstones: gc_protocol.Tombstones) -> bool:
            if digest in tombstones.digests:
                raise BlobUnknownError(digest)
            return False

        await self._wait(write, blocking)
        return write

    # -- internals -----------------------------------------------------------------------------------------------
    async def _claim(self, repository: str, digests: Iterable[Digest], tags: Iterable[str]) -> GuardedWrite:
        started = self.clock()  # before the write: the deadline errs on the safe side
        claim = await gc_protocol.write_claim(self.driver, repository, digests, tags, deadline=self.grace / 2)
        write = GuardedWrite(self, claim, started)
        await self._pause("claimed", write)
        return write

    async def _wait(self, write: GuardedWrite, blocking: Callable[[gc_protocol.Tombstones], bool]) -> None:
        """List the tombstones until ``blocking`` says none is in the way (it may raise a refusal instead);
        ``UNAVAILABLE`` after ``wait_limit`` seconds or past the claim's deadline. A refusal removes the claim."""
        limit = min(self.wait_limit, self.grace / 2)
        try:
            while blocking(await gc_protocol.read_tombstones(self.driver)):
                if write.elapsed + self.poll_interval > limit:
                    raise unavailable("garbage collection is deleting what this write names; retry it")
                await asyncio.sleep(self.poll_interval)
        except RegistryError:  # a refusal (BlobUnknownError is one too)
            await write.abandon()
            raise
        await self._pause("checked", write)

    async def _pause(self, stage: str, write: GuardedWrite) -> None:
        if self.hook is not None:
            await self.hook(stage, write)
