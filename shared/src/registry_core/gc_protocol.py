"""The records of online garbage collection in the storage: writers' claims and collectors' tombstones.

The protocol is ``docs/online-gc.md``. A writer calls :func:`write_claim` before it links or references anything,
then :func:`read_tombstones`, and acts on what is tombstoned. A collector calls :func:`write_tombstones` for a batch,
then :func:`read_claims` (what a claim names is rescued), deletes the rest, then :func:`remove_tombstones`.
Either side may crash at any point: a claim left behind only delays a collection; a tombstone left behind is
finished by the next run (a writer waits for it or fails cleanly, never links through it).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from registry_core import paths
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.storage.driver import FileInfo, PathNotFoundError, StorageDriver


@dataclass(frozen=True)
class Claim:
    """What a writer is about to reference or link in ``repository``."""

    repository: str
    digests: frozenset[Digest] = frozenset()
    tags: frozenset[str] = frozenset()
    deadline: float = 0.0
    """Seconds after writing the claim by which its writer has linked everything or given up (its ``grace / 2``);
    0 when unknown (the collector then assumes its own)."""
    name: str = ""
    """The claim file's name (``<unix-ns>-<uuid>``), to remove it."""
    modified: datetime | None = None
    """When the storage wrote it, by the storage's clock (the one run records are dated by)."""

    def encode(self) -> bytes:
        return json.dumps(
            {
                "repository": self.repository,
                "digests": sorted(map(str, self.digests)),
                "tags": sorted(self.tags),
                "deadline": self.deadline,
            }
        ).encode()

    @classmethod
    def decode(cls, data: bytes, name: str, modified: datetime | None) -> Claim:
        doc = json.loads(data)
        return cls(
            str(doc["repository"]),
            frozenset(Digest.parse(d) for d in doc["digests"]),
            frozenset(str(t) for t in doc["tags"]),
            float(doc.get("deadline", 0.0)),
            name,
            modified,
        )


@dataclass
class Claims:
    """Every claim found, and whether some could not be read (then the collector must rescue everything)."""

    claims: list[Claim] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def digests(self) -> set[Digest]:
        return {d for claim in self.claims for d in claim.digests}

    @property
    def tags(self) -> set[tuple[str, str]]:
        return {(claim.repository, tag) for claim in self.claims for tag in claim.tags}


@dataclass
class Tombstones:
    """What some collector run is deleting: digests and ``(repository, tag)`` pairs, with the runs behind each."""

    digests: dict[Digest, set[str]] = field(default_factory=dict)
    tags: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    """Every tombstone file, with its run."""

    @property
    def runs(self) -> set[str]:
        return {run for runs in (*self.digests.values(), *self.tags.values()) for run in runs}

    def __bool__(self) -> bool:
        return bool(self.digests or self.tags)


def new_run_id() -> str:
    """A collector run's id: a tombstone's file name."""
    return uuid.uuid4().hex


async def write_claim(
    driver: StorageDriver,
    repository: str,
    digests: Iterable[Digest] = (),
    tags: Iterable[str] = (),
    deadline: float = 0.0,
) -> Claim:
    """Write a claim (one atomic whole-file write) and return it."""
    name = f"{time.time_ns()}-{uuid.uuid4().hex}"
    claim = Claim(repository, frozenset(digests), frozenset(tags), deadline, name)
    await driver.put_content(paths.gc_claim(name), claim.encode())
    return claim


async def remove_claim(driver: StorageDriver, claim: Claim) -> None:
    """Remove a claim whose writer gave up before linking anything. Never after a link was written: a sweep whose
    mark ran before that link may tombstone what it names next, and only the claim would stop it (the collector
    removes claims once every running pass started after their writers finished)."""
    with contextlib.suppress(PathNotFoundError):
        await driver.delete(paths.gc_claim(claim.name))


async def _claim_files(driver: StorageDriver) -> list[FileInfo]:
    try:
        return [info async for info in driver.walk(paths.GC_CLAIMS) if not info.is_dir]
    except PathNotFoundError:
        return []


async def read_claims(driver: StorageDriver, known: dict[str, Claim] | None = None) -> Claims:
    """Every claim in the storage. A claim that cannot be parsed is listed in ``unreadable``; a storage error
    is raised (the caller must then keep everything it was about to delete).

    ``known``: claims read before, by name (a claim never changes): only new ones are read, and ``known`` is
    updated to what exists now."""
    found = Claims()
    seen: dict[str, Claim] = {}
    for info in await _claim_files(driver):
        name = info.path.rsplit("/", 1)[1]
        claim = None if known is None else known.get(name)
        if claim is None:
            try:
                claim = Claim.decode(await driver.get_content(info.path), name, info.modified)
            except PathNotFoundError:
                continue  # removed since the listing
            except (ValueError, KeyError, TypeError, RegistryError):
                found.unreadable.append(name)
                continue
        seen[name] = claim
        found.claims.append(claim)
    if known is not None:
        known.clear()
        known.update(seen)
    return found


async def remove_finished_claims(driver: StorageDriver, before: datetime, default_deadline: float) -> int:
    """Remove the claims whose writers were done (written, plus their deadline) before ``before`` (a time by the
    storage's clock: the start of the oldest running pass), so every running pass's mark saw their links.
    ``default_deadline`` stands in for a claim that records none, or cannot be read."""
    removed = 0
    for info in await _claim_files(driver):
        try:
            deadline = Claim.decode(await driver.get_content(info.path), "", None).deadline or default_deadline
        except PathNotFoundError:
            continue
        except (ValueError, KeyError, TypeError, RegistryError):
            deadline = default_deadline
        if info.modified + timedelta(seconds=deadline) < before:
            with contextlib.suppress(PathNotFoundError):
                await driver.delete(info.path)
                removed += 1
    return removed


# -- runs: each pass's record, so that overlapping passes know of each other ----------------------------------------
STALE_RUN = timedelta(minutes=10)
"""A run whose heartbeat is this much older than the newest one is dead: its tombstones are recovered, its record
removed (which stops it, should it wake up: it checks its record before each batch)."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    started: datetime
    """When the storage wrote its record (the pass's ``T0`` by the storage's clock)."""
    heartbeat: datetime


async def start_run(driver: StorageDriver, run: str) -> RunRecord:
    """Record a pass that starts now; returns the record as the storage dated it."""
    await driver.put_content(paths.gc_run_started(run), b"")
    await driver.put_content(paths.gc_run_heartbeat(run), b"")
    started = await driver.stat(paths.gc_run_started(run))
    return RunRecord(run, started.modified, started.modified)


async def beat(driver: StorageDriver, run: str) -> datetime | None:
    """Renew the run's heartbeat; the storage's time of it, or None if the run's record is gone (another pass
    found it dead and recovered its tombstones: it must stop)."""
    try:
        await driver.stat(paths.gc_run_started(run))
    except PathNotFoundError:
        return None
    await driver.put_content(paths.gc_run_heartbeat(run), b"")
    return (await driver.stat(paths.gc_run_heartbeat(run))).modified


async def end_run(driver: StorageDriver, run: str) -> None:
    with contextlib.suppress(PathNotFoundError):
        await driver.delete(paths.gc_run(run))


async def read_runs(driver: StorageDriver) -> dict[str, RunRecord]:
    """Every run recorded (a run without its start file is left out: it is being removed)."""
    started: dict[str, datetime] = {}
    heartbeats: dict[str, datetime] = {}
    try:
        async for info in driver.walk(paths.GC_RUNS):
            parts = info.path[len(paths.GC_RUNS) + 1 :].split("/")
            if not info.is_dir and len(parts) == 2:
                (started if parts[1] == "started" else heartbeats)[parts[0]] = info.modified
    except PathNotFoundError:
        return {}
    return {run: RunRecord(run, at, heartbeats.get(run, at)) for run, at in started.items()}


def live_runs(runs: dict[str, RunRecord], now: datetime) -> dict[str, RunRecord]:
    """The runs whose heartbeat is within :data:`STALE_RUN` of ``now`` (the storage's time of a fresh beat)."""
    return {run: record for run, record in runs.items() if record.heartbeat >= now - STALE_RUN}


async def write_tombstones(
    driver: StorageDriver, run: str, digests: Collection[Digest] = (), tags: Collection[tuple[str, str]] = ()
) -> list[str]:
    """Tombstone ``digests`` and ``(repository, tag)`` pairs for ``run``; returns the files written (to remove)."""
    written: list[str] = []
    for digest in digests:
        path = paths.gc_digest_tombstone(digest, run)
        await driver.put_content(path, b"")
        written.append(path)
    for repository, tag in tags:
        path = paths.gc_tag_tombstone(run, uuid.uuid4().hex)
        await driver.put_content(path, json.dumps({"repository": repository, "tag": tag}).encode())
        written.append(path)
    return written


async def remove_tombstones(driver: StorageDriver, written: Iterable[str]) -> None:
    """Remove tombstones :func:`write_tombstones` wrote."""
    for path in written:
        with contextlib.suppress(PathNotFoundError):
            await driver.delete(path)


async def read_tombstones(driver: StorageDriver) -> Tombstones:
    """Every tombstone in the storage (two listings of directories that are empty but during a sweep)."""
    found = Tombstones()
    for path in await _listed(driver, paths.GC_DELETING_DIGESTS):
        run, _, rest = path.rsplit("/", 1)[1].partition("-")
        algorithm, _, encoded = rest.rpartition("-")
        try:
            digest = Digest.parse(f"{algorithm}:{encoded}")
        except RegistryError:
            continue
        found.digests.setdefault(digest, set()).add(run)
        found.paths[path] = run
    for path in await _listed(driver, paths.GC_DELETING_TAGS):
        run = path.rsplit("/", 1)[1].partition("-")[0]
        try:
            doc = json.loads(await driver.get_content(path))
            key = (str(doc["repository"]), str(doc["tag"]))
        except PathNotFoundError:
            continue
        except (ValueError, KeyError, TypeError):
            key = ("", "")  # unreadable: a run's, all the same (recovery removes it)
        found.tags.setdefault(key, set()).add(run)
        found.paths[path] = run
    return found


async def _listed(driver: StorageDriver, directory: str) -> list[str]:
    try:
        return await driver.list(directory)
    except PathNotFoundError:
        return []
