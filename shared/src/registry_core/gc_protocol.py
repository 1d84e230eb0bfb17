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

from registry_core import paths
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.storage.driver import PathNotFoundError, StorageDriver


@dataclass(frozen=True)
class Claim:
    """What a writer is about to reference or link in ``repository``, written at ``written_ns`` (Unix ns)."""

    repository: str
    digests: frozenset[Digest] = frozenset()
    tags: frozenset[str] = frozenset()
    written_ns: int = 0
    name: str = ""
    """The claim file's name (``<unix-ns>-<uuid>``), to remove it."""

    def encode(self) -> bytes:
        return json.dumps(
            {"repository": self.repository, "digests": sorted(map(str, self.digests)), "tags": sorted(self.tags)}
        ).encode()


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
    driver: StorageDriver, repository: str, digests: Iterable[Digest] = (), tags: Iterable[str] = ()
) -> Claim:
    """Write a claim (one atomic whole-file write) and return it."""
    written_ns = time.time_ns()
    name = f"{written_ns}-{uuid.uuid4().hex}"
    claim = Claim(repository, frozenset(digests), frozenset(tags), written_ns, name)
    await driver.put_content(paths.gc_claim(name), claim.encode())
    return claim


async def remove_claim(driver: StorageDriver, claim: Claim) -> None:
    """Remove a claim whose writer gave up before linking anything. Never after a link was written: a sweep whose
    mark ran before that link may tombstone what it names next, and only the claim would stop it (the collector
    removes claims once a mark must have seen their links)."""
    with contextlib.suppress(PathNotFoundError):
        await driver.delete(paths.gc_claim(claim.name))


def _claim_time(name: str) -> int | None:
    head, sep, _ = name.partition("-")
    return int(head) if sep and head.isdigit() else None


async def read_claims(driver: StorageDriver) -> Claims:
    """Every claim in the storage. A claim that cannot be read or parsed is listed in ``unreadable``."""
    found = Claims()
    try:
        listing = await driver.list(paths.GC_CLAIMS)
    except PathNotFoundError:
        return found
    for path in listing:
        name = path.rsplit("/", 1)[1]
        try:
            doc = json.loads(await driver.get_content(path))
            claim = Claim(
                str(doc["repository"]),
                frozenset(Digest.parse(d) for d in doc["digests"]),
                frozenset(str(t) for t in doc["tags"]),
                _claim_time(name) or 0,
                name,
            )
        except PathNotFoundError:
            continue  # removed since the listing: its writer is done
        except (ValueError, KeyError, TypeError, RegistryError):
            found.unreadable.append(name)
            continue
        found.claims.append(claim)
    return found


async def remove_claims_before(driver: StorageDriver, cutoff_ns: int) -> int:
    """Remove the claims written before ``cutoff_ns``; returns how many."""
    try:
        listing = await driver.list(paths.GC_CLAIMS)
    except PathNotFoundError:
        return 0
    removed = 0
    for path in listing:
        written = _claim_time(path.rsplit("/", 1)[1])
        if written is not None and written < cutoff_ns:
            with contextlib.suppress(PathNotFoundError):
                await driver.delete(path)
                removed += 1
    return removed


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
