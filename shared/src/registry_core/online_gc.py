"""Online garbage collection: one collector pass beside serving writers, as ``docs/online-gc.md`` ("A collector
pass") describes, built from :mod:`registry_core.gc`'s mark and sweep.

1. **Recover**: the digest tombstones found at the start are an earlier run's (this run's id is new): after the
   mark and this pass's tag deletions, their digests go through the sweep first (a grace check, the claims, then
   deletion if still garbage), then those tombstones are removed. Tag tombstones of earlier runs are only removed,
   at the end of the pass: the tag deletion they announced happened or not, and this pass decided again.
2. **Mark** at ``T0`` with :func:`registry_core.gc._mark`, reusing the collector's parsed manifests. In a
   repository a retention rule covers (:func:`registry_core.retention.rule_for`), the rule decides
   (:func:`~registry_core.retention.plan_repository`): its doomed tags go, its doomed manifests are not kept,
   everything else there is; ``delete_untagged`` applies to the other repositories only.
3. **Candidates**: the tags retention removes; manifests not kept whose revision link is older than ``grace``;
   layer links to unmarked digests older than ``grace``; unmarked blobs whose data is older than ``grace`` and
   that no layer link younger than ``grace`` names. Nothing under ``_uploads/`` is looked at.
4. **Sweep** in batches (tags, then manifests, then layer links and stale tag history entries, then blobs):
   tombstones written, claims read, what a claim names rescued (all of the batch if a claim cannot be read), the
   rest deleted as the offline sweep does, the tombstones removed. A tag is rescued by a claim naming the same
   repository and tag; a rescued tag (or one that could not be deleted) keeps every manifest of its repository
   for this pass, with what they reference: its target, and what that reaches, stay without recomputing the
   closure. ``still_allowed`` (the lease) is asked before each batch and before its deletions: when it says no,
   the pass stops and leaves the batch's tombstones to the next run's recovery.
5. Claims older than ``T0 - grace / 2`` are removed.

A dry run reads, reports what it would delete, and writes nothing (no tombstone either).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from registry_core import gc_protocol, paths
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider
from registry_core.config.storage import RetentionRule
from registry_core.digest import Digest
from registry_core.gc import (
    _STORAGE_ERRORS,
    SETTLED,
    Deletion,
    GcReport,
    Kind,
    MarkError,
    OnDelete,
    Parsed,
    Retained,
    TagTargets,
    _Doomed,
    _Garbage,
    _mark,
    _Scan,
    _Sweep,
)
from registry_core.retention import RetentionPlan, TagState, plan_repository
from registry_core.storage.driver import PathNotFoundError, StorageDriver

log = logging.getLogger("registry.gc")

LEASE_KEY = "registry::gc::lease"
"""The Redis lease every collector (the purgers' loop, ``registry garbage-collect``) takes: one pass at a time."""
BATCH = 100
BEAT_INTERVAL = 30.0
"""Seconds between two heartbeats of a pass while it deletes (and before every batch): far below
:data:`~registry_core.gc_protocol.STALE_RUN`, after which other passes take it for dead."""
"""Candidates tombstoned, checked against the claims and deleted together."""

StillAllowed = Callable[[], Awaitable[bool]]
T = TypeVar("T")
Key = Digest | tuple[str, str]
"""What a candidate is tombstoned and claimed as: a digest, or a ``(repository, tag)``."""


@dataclass
class OnlineGcReport(GcReport):
    """A :class:`GcReport` and what is particular to an online pass."""

    rescued: int = 0
    """Candidates a writer's claim named (or all of a batch when a claim could not be read): kept."""
    recovered: int = 0
    """Tombstones of earlier runs found at the start and finished."""
    claims_removed: int = 0
    stopped: bool = False
    """``still_allowed`` said no: the pass stopped before its end."""
    duration: float = 0.0
    """Seconds."""
    retention: RetentionPlan = field(default_factory=RetentionPlan)
    """What the retention rules remove, as decided at the mark (grace and claims may keep some of it)."""


async def always_allowed() -> bool:
    """The ``still_allowed`` of a pass that needs no lease (no Redis: one collector)."""
    return True


class OnlineCollector:
    """Online passes over one storage (see the module docstring).

    It keeps every manifest it parsed, by digest, for the life of the process: a manifest's content never changes
    for its digest, so a long-running collector (the purger) reads and parses each manifest once, and a pass
    costs the listings plus the new manifests. The cache lives in this process, not in Redis: only the lease
    holder uses it, it is rebuilt for free by the next pass of whichever process takes over, and Redis is needed
    for nothing here but the lease.
    """

    def __init__(
        self,
        driver: StorageDriver,
        descriptors: BlobDescriptorCacheProvider | None = None,
        *,
        grace: timedelta,
        delete_untagged: bool = False,
        retention: Sequence[RetentionRule] = (),
        dry_run: bool = False,
        batch: int = BATCH,
    ) -> None:
        self.driver = driver
        self.descriptors = descriptors
        self.grace = grace
        self.delete_untagged = delete_untagged
        self.retention = retention
        self.dry_run = dry_run
        self.batch = batch
        self.parsed: Parsed = {}
        self.tag_targets = TagTargets()
        """Tag links read by earlier passes (re-read only when their modification time changes)."""

    async def run(
        self, still_allowed: StillAllowed = always_allowed, on_delete: OnDelete | None = None
    ) -> OnlineGcReport:
        """One pass; ``on_delete`` is called for each deletion (or, in a dry run, each that would happen)."""
        started = time.monotonic()
        report = OnlineGcReport(dry_run=self.dry_run)
        try:
            await _Pass(self, report, still_allowed, on_delete).run()
        finally:
            report.duration = time.monotonic() - started
        return report


class _Pass:
    def __init__(
        self,
        collector: OnlineCollector,
        report: OnlineGcReport,
        still_allowed: StillAllowed,
        on_delete: OnDelete | None,
    ) -> None:
        self.collector = collector
        self.driver = collector.driver
        self.report = report
        self.still_allowed = still_allowed
        self.on_delete = on_delete
        self.run_id = gc_protocol.new_run_id()
        self.marked: set[Digest] = set()
        self.known_claims: dict[str, gc_protocol.Claim] = {}
        """Claims read by earlier batches (a claim never changes): each batch reads only the new ones."""
        self.alive = True
        self.last_beat = time.monotonic()

    def _deleted(self, deletion: Deletion) -> None:
        log.info("%s %s", "would delete" if self.report.dry_run else "deleted", deletion)
        if self.on_delete is not None:
            self.on_delete(deletion)

    def _retain(self, name: str, scan: _Scan) -> Retained | None:
        """The retention policy given to the mark: what the rule covering ``name`` (if any) keeps and removes."""
        tags = [TagState(tag, target, pushed) for tag, (target, pushed) in scan.tags.items()]
        plan = plan_repository(name, self.collector.retention, tags, scan.revisions, scan.revised, self.t0)
        if plan is None:
            return None
        self.report.retention.add(plan)
        doomed = {deletion.digest for deletion in plan.manifests}
        return Retained(set(scan.revisions) - doomed, {tag.name: tag.digest for tag in plan.tags})

    async def run(self) -> None:
        """The pass, with its run record: written first (its time is ``T0``, by the storage's clock, the one file
        times are compared with), removed last, whatever happens (a crash leaves it to go stale)."""
        if self.report.dry_run:
            await self._run(datetime.now(UTC), {})
            return
        try:
            record = await gc_protocol.start_run(self.driver, self.run_id)
            others = await gc_protocol.read_runs(self.driver)
        except _STORAGE_ERRORS as exc:
            self._abort(f"recording the run failed, nothing deleted: {exc}")
            return
        try:
            await self._run(record.started, gc_protocol.live_runs(others, record.started))
        finally:
            if self.alive:
                with contextlib.suppress(*_STORAGE_ERRORS):
                    await gc_protocol.end_run(self.driver, self.run_id)

    def _abort(self, message: str) -> None:
        self.report.aborted = True
        self.report.errors.append(message)
        log.error("%s", message)

    async def _run(self, t0: datetime, live: dict[str, gc_protocol.RunRecord]) -> None:
        report, grace = self.report, self.collector.grace
        self.t0 = t0
        self.cutoff = self.t0 - grace
        # a dry run's T0 is this host's clock, not the storage's: it remembers no tag target
        self.collector.tag_targets.settled_before = None if report.dry_run else t0 - SETTLED
        try:
            if not report.dry_run:
                await self._fence()
            found = await gc_protocol.read_tombstones(self.driver)
            self.marked, garbage = await _mark(
                self.driver,
                report,
                delete_untagged=self.collector.delete_untagged,
                parsed=self.collector.parsed,
                tag_targets=self.collector.tag_targets,
                policy=self._retain if self.collector.retention else None,
            )
        except (MarkError, *_STORAGE_ERRORS) as exc:
            self._abort(f"mark phase failed, nothing deleted: {exc}")
            return
        # Tombstones of runs still going are theirs to finish; those of dead runs (fenced above) are recovered.
        old = _of_runs(found, lambda run: run not in live)
        self.sweep = _Sweep(self.driver, report, self.marked, self.collector.descriptors, self._deleted)
        for repository in garbage:  # young manifests stay, with what they reference
            for doomed in repository.manifests:
                if doomed.modified is None or doomed.modified > self.cutoff:
                    self.sweep.keep(repository, doomed.digest)
        self.young = {d for g in garbage for d, modified in g.layers.items() if modified > self.cutoff}
        for digest in _of_runs(found, lambda run: run in live).digests:  # another live run is deleting it
            self.marked.add(digest)

        # Tags first, before any manifest (a recovered one too) goes: never a tag left naming a deleted manifest.
        tags = [(g, tag, target) for g in garbage for tag, target in g.tags.items()]
        if not await self._batches(
            tags, lambda item: (item[0].name, item[1]), _always_pending, self._tag, self._keep_tag
        ):
            return
        old_digests = [path for path in old.paths if path.startswith(f"{paths.GC_DELETING_DIGESTS}/")]
        old_tags = [path for path in old.paths if path.startswith(f"{paths.GC_DELETING_TAGS}/")]
        recovering = set(old.digests)
        if recovering:
            if not await self._phases(garbage, lambda d: d in recovering, recovering):
                return
            await self._untombstone(old_digests)
            report.recovered = len(old_digests)
        if not await self._phases(garbage, lambda d: d not in recovering, None):
            return
        await self._untombstone(old_tags)
        report.recovered += len(old_tags)
        if not report.dry_run:
            with contextlib.suppress(*_STORAGE_ERRORS):
                report.claims_removed = await self._remove_finished_claims()

    async def _fence(self) -> None:
        """Remove the records of dead runs (a stale heartbeat): one that was only stalled finds its record gone
        at its next heartbeat and stops before it deletes anything more."""
        runs = await gc_protocol.read_runs(self.driver)
        live = gc_protocol.live_runs(runs, self.t0)
        for run in runs:
            if run not in live:
                await gc_protocol.end_run(self.driver, run)

    async def _remove_finished_claims(self) -> int:
        """Claims whose writers were done before the oldest live pass started: every live pass's mark saw their
        links. Each claim's own deadline counts (its writer's ``grace / 2``), not this collector's."""
        runs = await gc_protocol.read_runs(self.driver)
        now = max((record.heartbeat for record in runs.values()), default=self.t0)
        oldest = min((record.started for record in gc_protocol.live_runs(runs, now).values()), default=self.t0)
        return await gc_protocol.remove_finished_claims(
            self.driver, min(oldest, self.t0), self.collector.grace.total_seconds() / 2
        )

    async def _phases(
        self, garbage: Sequence[_Garbage], select: Callable[[Digest], bool], only: Collection[Digest] | None
    ) -> bool:
        """The sweep's three phases over the candidates ``select`` admits; False when the pass stopped. ``only``:
        the blobs to look at (stat each), else all (a walk)."""
        manifests = [(g, doomed) for g in garbage for doomed in g.manifests if select(doomed.digest)]
        if not await self._batches(
            manifests,
            lambda item: item[1].digest,
            lambda item: item[1].digest not in item[0].survivors,
            self._manifest,
            self._keep_manifest,
        ):
            return False
        links = [
            (g.name, d) for g in garbage for d, modified in g.layers.items() if select(d) and modified <= self.cutoff
        ]
        if not await self._batches(
            links, lambda item: item[1], lambda item: item[1] not in self.marked, self._layer_link, self._keep_link
        ):
            return False
        entries = [(g.name, d, tags) for g in garbage for d, tags in g.history.items() if select(d)]
        if not await self._batches(
            entries, lambda item: item[1], lambda item: item[1] not in self.marked, self._history, self._keep_link
        ):
            return False
        blobs = [d for d in await self._blobs(only) if select(d.digest)]
        return await self._batches(
            blobs,
            lambda item: item.digest,
            lambda item: item.digest not in self.marked,
            self.sweep.blob,
            self._keep_blob,
        )

    async def _tag(self, item: tuple[_Garbage, str, Digest]) -> None:
        garbage, tag, target = item
        if not await self.sweep.tag(garbage.name, tag, target):
            self._keep_tag(item)

    def _keep_tag(self, item: tuple[_Garbage, str, Digest]) -> None:
        """A tag stays after all: conservatively, every manifest of its repository stays for this pass (its target
        and whatever that reaches among them), rather than recomputing the rule's closure."""
        garbage = item[0]
        for doomed in garbage.manifests:
            self.sweep.keep(garbage, doomed.digest)

    async def _manifest(self, item: tuple[_Garbage, _Doomed]) -> None:
        await self.sweep.manifest(*item)

    def _keep_manifest(self, item: tuple[_Garbage, _Doomed]) -> None:
        self.sweep.keep(item[0], item[1].digest)

    async def _layer_link(self, item: tuple[str, Digest]) -> None:
        await self.sweep.layer_link(*item)

    async def _history(self, item: tuple[str, Digest, tuple[str, ...]]) -> None:
        await self.sweep.history_entries(*item)

    def _keep_link(self, item: tuple[str, Digest] | tuple[str, Digest, tuple[str, ...]]) -> None:
        self.marked.add(item[1])

    def _keep_blob(self, item: Deletion) -> None:
        self.marked.add(item.digest)

    async def _blobs(self, only: Collection[Digest] | None) -> list[Deletion]:
        """Unmarked blobs older than grace that no young layer link names."""

        def eligible(digest: Digest, modified: datetime) -> bool:
            return modified <= self.cutoff and digest not in self.young

        if only is None:
            return await self.sweep.unmarked_blobs(eligible)
        found = []
        for digest in only:
            if digest in self.marked:
                continue
            try:
                info = await self.driver.stat(paths.blob_data(digest))
            except PathNotFoundError:
                continue
            except _STORAGE_ERRORS as exc:
                self.sweep._fail(f"stat of blob {digest} failed, it stays: {exc}")
                continue
            if eligible(digest, info.modified):
                found.append(Deletion(Kind.BLOB, digest, size=info.size))
        return found

    async def _batches(
        self,
        items: list[T],
        key_of: Callable[[T], Key],
        pending: Callable[[T], bool],
        delete: Callable[[T], Awaitable[None]],
        keep: Callable[[T], None],
    ) -> bool:
        """Sweep ``items`` a batch at a time (those still ``pending``: a rescue keeps later ones); ``keep`` rescues
        one. False when the pass stopped."""
        for start in range(0, len(items), self.collector.batch):
            batch = [item for item in items[start : start + self.collector.batch] if pending(item)]
            if batch and not await self._batch(batch, key_of, delete, keep):
                self.report.stopped = True
                log.warning(
                    "online gc: the lease or this run's record is lost, stopping (the next run finishes what is"
                    " tombstoned)"
                )
                return False
        return True

    async def _batch(
        self,
        batch: list[T],
        key_of: Callable[[T], Key],
        delete: Callable[[T], Awaitable[None]],
        keep: Callable[[T], None],
    ) -> bool:
        if not await self._allowed():
            return False
        keys = list(dict.fromkeys(key_of(item) for item in batch))
        digests = [key for key in keys if isinstance(key, Digest)]
        tags = [key for key in keys if not isinstance(key, Digest)]
        tombstones: dict[Key, str] = {}
        try:
            if not self.report.dry_run:
                written = await gc_protocol.write_tombstones(self.driver, self.run_id, digests, tags)
                tombstones = dict(zip([*digests, *tags], written, strict=True))
            claims = await gc_protocol.read_claims(self.driver, self.known_claims)
        except _STORAGE_ERRORS as exc:
            # Whatever a claim might have named is unknown: the whole batch stays, and keeps what it references.
            self.sweep._fail(f"tombstoning or reading claims failed, {len(keys)} candidates kept: {exc}")
            for item in batch:
                keep(item)
            await self._untombstone(await self._own_tombstones())
            return True
        if claims.unreadable:
            log.warning("online gc: unreadable claims %s: the batch of %d is kept", claims.unreadable, len(keys))
            rescued = set(keys)
        else:
            rescued = set(keys) & (claims.digests | claims.tags)
        for item in batch:
            if key_of(item) in rescued:
                keep(item)
        self.report.rescued += len(rescued)
        await self._untombstone(tombstones[k] for k in rescued if k in tombstones)
        if len(rescued) < len(keys) and not await self._allowed():
            # nothing of the batch is deleted yet: its tombstones go, so that no writer waits on them
            if self.alive:
                await self._untombstone(tombstones.values())
            return False
        for item in batch:
            if key_of(item) not in rescued:
                if not await self._still_alive():
                    return False  # our record is gone: another pass recovers our tombstones
                await delete(item)
        await self._untombstone(path for k, path in tombstones.items() if k not in rescued)
        return True

    async def _allowed(self) -> bool:
        """The caller's ``still_allowed`` (the lease), then this run's heartbeat: False once either is lost (our
        run record removed means another pass took us for dead and recovers our tombstones)."""
        if not await self.still_allowed():
            return False
        if self.report.dry_run:
            return True
        try:
            beat = await gc_protocol.beat(self.driver, self.run_id)
        except _STORAGE_ERRORS as exc:
            self.sweep._fail(f"renewing the run's heartbeat failed, stopping: {exc}")
            return False
        if beat is None:
            self.alive = False
            return False
        self.last_beat = time.monotonic()
        return True

    async def _still_alive(self) -> bool:
        """Before each deletion: beat again when the last beat is older than :data:`BEAT_INTERVAL`, so that a pass
        that stalls (a slow storage) never deletes after another pass took it for dead."""
        if self.report.dry_run or time.monotonic() - self.last_beat < BEAT_INTERVAL:
            return True
        return await self._allowed()

    async def _own_tombstones(self) -> list[str]:
        """This run's tombstones in storage (after a failed write, to remove what was written of a batch; the
        earlier batches' are gone already)."""
        try:
            found = await gc_protocol.read_tombstones(self.driver)
        except _STORAGE_ERRORS:
            return []  # left to the next run's recovery
        return [path for path, run in found.paths.items() if run == self.run_id]

    async def _untombstone(self, written: Iterable[str]) -> None:
        if self.report.dry_run:
            return
        try:
            await gc_protocol.remove_tombstones(self.driver, list(written))
        except _STORAGE_ERRORS as exc:
            self.sweep._fail(f"removing tombstones failed (the next run removes them): {exc}")


def _always_pending(_: object) -> bool:
    return True


def _of_runs(found: gc_protocol.Tombstones, chosen: Callable[[str], bool]) -> gc_protocol.Tombstones:
    """The tombstones of the runs ``chosen`` admits."""
    kept = gc_protocol.Tombstones()
    for digest, runs in found.digests.items():
        if mine := {run for run in runs if chosen(run)}:
            kept.digests[digest] = mine
    for key, runs in found.tags.items():
        if mine := {run for run in runs if chosen(run)}:
            kept.tags[key] = mine
    kept.paths = {path: run for path, run in found.paths.items() if chosen(run)}
    return kept
