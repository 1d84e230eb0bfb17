"""Garbage collection (the Go registry's ``MarkAndSweep``), as a plain function over a driver.

Deletes through the API remove links only (DESIGN §5); this is what removes the bytes. It must run while nothing
writes: a blob pushed during the mark phase is referenced by no manifest yet and would be swept.

**Mark** (reads only; any failure aborts the run before anything is deleted). For every repository, every
manifest revision is read and parsed (manifests are the only blobs whose bytes are read). The manifests *kept*
in a repository are:

- without ``delete_untagged``: all of them (as the Go registry);
- with ``delete_untagged``: those a tag's ``current`` link points at, and everything reachable from them in the
  same repository: the children of a kept index (recursively; the Go registry 2.8 deletes them and breaks
  multi-platform images, 3.0 keeps them), the referrers of a kept manifest (a signature or SBOM lives as long
  as its subject, the OCI spec's intent for referrers), and the subject of a kept referrer if present (so a kept
  referrer is never listed under a subject GC removed). Kept is decided per repository: a manifest untagged
  here is removed here even if another repository tags the same digest (its blob then stays, marked there).

The online pass may give the mark a retention ``Policy`` (:class:`Retained`): where it decides, it replaces
``delete_untagged`` and names tags for the sweep to remove first (``Kind.TAG``); ``collect_garbage`` has none.

A kept manifest marks its own digest, its config, its layers and its children's digests (even a child absent
from the repository, as Go's ``References``). A revision whose blob is missing marks nothing and is reported
as a warning; a manifest that does not parse (Docker schema 1) aborts the run, since what it references is
unknown.

**Sweep** (errors are reported and the sweep goes on), links before bytes so that a crash leaves garbage at
worst, never a dangling reference:

1. with ``delete_untagged``, every manifest not kept: its entries in the tags' history, its referrer index entry,
   then its revision link. Manifests naming others (indexes, referrers) go first; if one cannot be deleted,
   what it names stays, and all of it stays marked;
2. every ``_layers`` link to an unmarked digest (if a link cannot be removed, its blob stays), and every tag history
   entry naming an unmarked digest that is no manifest of its repository any more (deleted through the API: the
   Go registry leaves those entries, which then name no blob);
3. every unmarked blob (its ``blobs/<alg>/<xx>/<hex>`` directory), counting the bytes reclaimed.

Each deletion clears the descriptor cache given: the global entry of a blob, the repository's scoped entry of a
manifest or layer link. A dry run reports the same deletions and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from registry_core import paths
from registry_core.blobs.interfaces import BlobDescriptorCacheProvider, BlobUnknownError, DescriptorCacheError
from registry_core.blobs.store import BlobStore
from registry_core.digest import Digest
from registry_core.errors import RegistryError
from registry_core.manifests.concurrency import bounded_map
from registry_core.manifests.links import read_link
from registry_core.manifests.parser import Manifest, parse_manifest
from registry_core.storage.driver import PathNotFoundError, StorageDriver, StorageError

log = logging.getLogger("registry.gc")

_REPOSITORY_CONTENT = frozenset({"_manifests", "_layers"})

_STORAGE_ERRORS = (StorageError, OSError)
"""What a failed storage call raises: the drivers' errors, and the ``OSError`` s the filesystem lets through."""


class Kind(StrEnum):
    TAG = "tag"
    MANIFEST = "manifest"
    LAYER_LINK = "layer link"
    TAG_HISTORY = "tag history entry"
    BLOB = "blob"


@dataclass(frozen=True, slots=True)
class Deletion:
    """One thing the sweep removed (or, in a dry run, would remove). ``size`` is the bytes of a blob's data; a
    tag's ``digest`` is its target."""

    kind: Kind
    digest: Digest
    repository: str | None = None
    size: int = 0
    tag: str | None = None

    def __str__(self) -> str:
        if self.kind is Kind.BLOB:
            return f"blob {self.digest} ({self.size} bytes)"
        if self.kind is Kind.TAG:
            return f"tag {self.repository}:{self.tag} ({self.digest})"
        return f"{self.kind} {self.repository}@{self.digest}"


@dataclass
class GcReport:
    """What a run marked, what it deleted (or would have), and what went wrong."""

    dry_run: bool = False
    repositories: int = 0
    manifests: int = 0
    """Manifest revisions read, in all repositories."""
    marked: int = 0
    """Distinct digests marked (blobs kept)."""
    deleted: list[Deletion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    aborted: bool = False
    """The mark phase failed: nothing was deleted."""

    def count(self, kind: Kind) -> int:
        return sum(1 for d in self.deleted if d.kind is kind)

    @property
    def bytes_freed(self) -> int:
        return sum(d.size for d in self.deleted if d.kind is Kind.BLOB)


OnDelete = Callable[[Deletion], None]


class MarkError(Exception):
    """The mark phase cannot complete safely: nothing may be swept."""


@dataclass(frozen=True, slots=True)
class _Doomed:
    """A manifest the sweep removes: its parsed content (None if its blob is missing) and the tags whose
    history lists it."""

    digest: Digest
    manifest: Manifest | None
    history: tuple[str, ...]
    modified: datetime | None = None
    """When its revision link was written."""


@dataclass
class _Garbage:
    """What the mark phase found in one repository for the sweep: manifests to remove (parents first), and every
    layer link with its modification time (the sweep removes those to unmarked digests). ``survivors`` are the
    manifests of ``manifests`` that stay after all (a failed delete, a rescue), with what they name."""

    name: str
    manifests: list[_Doomed]
    layers: dict[Digest, datetime]
    survivors: set[Digest] = field(default_factory=set)
    history: dict[Digest, tuple[str, ...]] = field(default_factory=dict)
    """Tag history entries naming digests that are no manifest here (deleted ones), with the tags listing them."""
    tags: dict[str, Digest] = field(default_factory=dict)
    """Tags a retention rule removes, with their targets (swept before the manifests)."""

    @property
    def by_digest(self) -> dict[Digest, _Doomed]:
        return {doomed.digest: doomed for doomed in self.manifests}


@dataclass
class _Scan:
    revisions: dict[Digest, Manifest | None]
    tags: dict[str, tuple[Digest, datetime]]
    """Each tag's ``current`` target, and when that link was written (the tag's last push)."""
    history: dict[Digest, list[str]]
    layers: dict[Digest, datetime]
    revised: dict[Digest, datetime]
    """When each revision link was written."""

    @property
    def tagged(self) -> set[Digest]:
        return {target for target, _ in self.tags.values()}


@dataclass(frozen=True, slots=True)
class Retained:
    """What a retention policy decides in one repository: the manifests that stay (closed under what they
    reach), and the tags that go, with their targets."""

    kept: set[Digest]
    tags: dict[str, Digest]


Policy = Callable[[str, _Scan], Retained | None]
"""A retention policy: for a repository and what the mark read of it, what stays (None: no policy there, the mark
keeps what ``delete_untagged`` says)."""


Parsed = MutableMapping[Digest, Manifest]
"""Manifests already parsed, by digest (a manifest's content never changes for its digest): given to the mark,
it reads and parses only the manifests it does not hold, and adds them."""

SETTLED = timedelta(seconds=2)
"""How much older than the pass reading it a tag link must be for its target to be remembered: more than the
coarsest modification-time resolution (S3 dates files to the second), so that a later rewrite always shows as a
new modification time."""


@dataclass
class TagTargets:
    """Tag targets read by earlier marks, by ``(repository, tag)``, with the link's modification time: a tag's
    ``current`` link listed with the same time is not read again. Only links already settled when read are
    remembered (older than the reading pass's ``T0`` by :data:`SETTLED`)."""

    known: dict[tuple[str, str], tuple[datetime, Digest]] = field(default_factory=dict)
    settled_before: datetime | None = None
    """The current pass's ``T0`` minus :data:`SETTLED` (None: remember nothing)."""

    def get(self, name: str, tag: str, modified: datetime) -> Digest | None:
        found = self.known.get((name, tag))
        return found[1] if found is not None and found[0] == modified else None

    def remember(self, name: str, tag: str, modified: datetime, target: Digest) -> None:
        if self.settled_before is not None and modified < self.settled_before:
            self.known[(name, tag)] = (modified, target)


async def collect_garbage(
    driver: StorageDriver,
    *,
    delete_untagged: bool = False,
    dry_run: bool = False,
    descriptors: BlobDescriptorCacheProvider | None = None,
    on_delete: OnDelete | None = None,
) -> GcReport:
    """Mark and sweep the registry stored in ``driver`` (see the module docstring); ``on_delete`` is called for
    each deletion as it happens (or would happen, in a dry run)."""
    report = GcReport(dry_run=dry_run)
    try:
        marked, garbage = await _mark(driver, report, delete_untagged=delete_untagged)
    except (MarkError, *_STORAGE_ERRORS) as exc:
        report.aborted = True
        report.errors.append(f"mark phase failed, nothing deleted: {exc}")
        log.error("%s", report.errors[-1])
        return report
    sweep = _Sweep(driver, report, marked, descriptors, on_delete)
    for repository in garbage:
        await sweep.manifests(repository)
    for repository in garbage:
        await sweep.layer_links(repository)
    await sweep.blobs()
    return report


# -- mark ----------------------------------------------------------------------------------------------------------
async def _mark(
    driver: StorageDriver,
    report: GcReport,
    *,
    delete_untagged: bool,
    parsed: Parsed | None = None,
    policy: Policy | None = None,
    tag_targets: TagTargets | None = None,
) -> tuple[set[Digest], list[_Garbage]]:
    """Every repository scanned: the digests kept manifests mark, and per repository what the sweep considers.
    Where ``policy`` decides (a retention rule), it replaces ``delete_untagged``."""
    marked: set[Digest] = set()
    garbage: list[_Garbage] = []
    store = BlobStore(driver)
    async for name in repository_names(driver):
        scan = await _scan(store, name, report, parsed, tag_targets)
        retained = None if policy is None else policy(name, scan)
        if retained is None:
            kept = kept_manifests(scan.revisions, scan.tagged if delete_untagged else None)
        else:
            kept = retained.kept
        for digest in kept:
            marked.update(references(digest, scan.revisions[digest]))
        doomed = {d: m for d, m in scan.revisions.items() if d not in kept}
        manifests = [
            _Doomed(d, doomed[d], tuple(scan.history.get(d, ())), scan.revised.get(d)) for d in _parents_first(doomed)
        ]
        stale = {d: tuple(tags) for d, tags in scan.history.items() if d not in scan.revisions}
        tags = {} if retained is None else retained.tags
        garbage.append(_Garbage(name, manifests, scan.layers, history=stale, tags=tags))
        report.repositories += 1
        report.manifests += len(scan.revisions)
    report.marked = len(marked)
    return marked, garbage


def kept_manifests(revisions: Mapping[Digest, Manifest | None], tagged: Iterable[Digest] | None) -> set[Digest]:
    """The manifests of one repository that stay: all of them if ``tagged`` is None, else the tagged ones and
    what they reach there (children, referrers, subjects)."""
    if tagged is None:
        return set(revisions)
    referrers = _referrers(revisions)
    return _closure((d for d in tagged if d in revisions), lambda d: _kept_neighbours(d, revisions, referrers))


async def repository_names(driver: StorageDriver) -> AsyncIterator[str]:
    """Every repository holding manifests or layer links, in sorted order, without descending into ``_`` dirs.

    Not the catalog's walk: that one lists repositories with manifests only, and a repository whose manifests
    were all deleted still holds layer links to sweep.
    """
    pending = [""]
    while pending:
        name = pending.pop()
        try:
            listing = await driver.list(paths.repository(name) if name else paths.REPOSITORIES)
        except PathNotFoundError:
            continue
        children = [path.rsplit("/", 1)[1] for path in listing]
        if name and not _REPOSITORY_CONTENT.isdisjoint(children):
            yield name
        nested = (f"{name}/{child}".lstrip("/") for child in children if not child.startswith("_"))
        pending.extend(sorted(nested, reverse=True))


async def _scan(
    store: BlobStore,
    name: str,
    report: GcReport,
    parsed: Parsed | None = None,
    tag_targets: TagTargets | None = None,
) -> _Scan:
    """One repository's revisions (read and parsed a few at a time, unless in ``parsed``), tags (their links read
    unless ``tag_targets`` knows them) and layer links."""
    driver = store.driver
    revised = await _linked(driver, paths.manifest_revisions(name), report)
    digests = list(revised)
    manifests = await bounded_map(lambda d: _read_manifest(store, name, d, report, parsed), digests)
    current: dict[str, datetime] = {}
    history: dict[Digest, list[str]] = {}
    async for parts, modified in _files(driver, paths.tags(name)):
        match parts:
            case [tag, "current", "link"]:
                current[tag] = modified
            case [tag, "index", algorithm, encoded, "link"]:
                if (digest := _digest(algorithm, encoded, paths.tag_index(name, tag), report)) is not None:
                    history.setdefault(digest, []).append(tag)

    async def target(tag: str) -> Digest | None:
        known = None if tag_targets is None else tag_targets.get(name, tag, current[tag])
        if known is not None:
            return known
        found = await read_link(driver, paths.tag_current_link(name, tag))
        if found is not None and tag_targets is not None:
            tag_targets.remember(name, tag, current[tag], found)
        return found

    targets = await bounded_map(target, list(current))
    layers = await _linked(driver, paths.layers(name), report)
    tags = {
        tag: (target, modified)
        for (tag, modified), target in zip(current.items(), targets, strict=True)
        if target is not None
    }
    return _Scan(dict(zip(digests, manifests, strict=True)), tags, history, layers, revised)


async def _files(driver: StorageDriver, root: str) -> AsyncIterator[tuple[list[str], datetime]]:
    """The path segments below ``root`` of every file there, with its modification time; nothing if ``root`` does
    not exist."""
    try:
        async for info in driver.walk(root):
            if not info.is_dir:
                yield info.path[len(root) + 1 :].split("/"), info.modified
    except PathNotFoundError:
        return


async def _linked(driver: StorageDriver, root: str, report: GcReport) -> dict[Digest, datetime]:
    """The digests of the ``<alg>/<hex>/link`` files below ``root`` (layer links, manifest revisions), with the
    links' modification times."""
    found: dict[Digest, datetime] = {}
    async for parts, modified in _files(driver, root):
        if len(parts) == 3 and parts[2] == "link" and (d := _digest(parts[0], parts[1], root, report)) is not None:
            found[d] = modified
    return found


def _digest(algorithm: str, encoded: str, where: str, report: GcReport) -> Digest | None:
    try:
        return Digest.parse(f"{algorithm}:{encoded}")
    except RegistryError:
        _warn(report, f"{where}/{algorithm}/{encoded}: not a digest, ignored")
        return None


async def _read_manifest(
    store: BlobStore, name: str, digest: Digest, report: GcReport, parsed: Parsed | None
) -> Manifest | None:
    if parsed is not None and (known := parsed.get(digest)) is not None:
        return known
    try:
        payload = await store.get(digest)
    except BlobUnknownError:
        _warn(report, f"{name}@{digest}: the revision's manifest blob is missing, so it marks nothing")
        return None
    try:
        manifest = parse_manifest(payload, None)
    except RegistryError as exc:
        raise MarkError(f"{name}@{digest} does not parse ({exc.message}): what it references is unknown") from None
    if parsed is not None:
        parsed[digest] = manifest
    return manifest


def references(digest: Digest, manifest: Manifest | None) -> Iterator[Digest]:
    """The digests a kept manifest keeps: its own, its config's, its layers' and its children's."""
    yield digest
    if manifest is None:
        return
    if manifest.config is not None:
        yield manifest.config.digest
    for descriptor in (*manifest.layers, *manifest.manifests):
        yield descriptor.digest


def _named(manifest: Manifest | None) -> list[Digest]:
    """The manifests ``manifest`` names: its children and its subject."""
    if manifest is None:
        return []
    subject = [] if manifest.subject is None else [manifest.subject.digest]
    return [child.digest for child in manifest.manifests] + subject


def _referrers(revisions: Mapping[Digest, Manifest | None]) -> dict[Digest, list[Digest]]:
    by_subject: dict[Digest, list[Digest]] = {}
    for digest, manifest in revisions.items():
        if manifest is not None and manifest.subject is not None:
            by_subject.setdefault(manifest.subject.digest, []).append(digest)
    return by_subject


def _kept_neighbours(
    digest: Digest, revisions: Mapping[Digest, Manifest | None], referrers: Mapping[Digest, list[Digest]]
) -> list[Digest]:
    """What keeping ``digest`` keeps in its repository: the manifests it names and its referrers, if present."""
    return [d for d in (*_named(revisions[digest]), *referrers.get(digest, ())) if d in revisions]


def _closure(roots: Iterable[Digest], neighbours: Callable[[Digest], Iterable[Digest]]) -> set[Digest]:
    reached: set[Digest] = set()
    pending = list(roots)
    while pending:
        digest = pending.pop()
        if digest not in reached:
            reached.add(digest)
            pending.extend(neighbours(digest))
    return reached


def _parents_first(doomed: Mapping[Digest, Manifest | None]) -> list[Digest]:
    """``doomed`` ordered so that a manifest comes before those it names (content addressing rules out cycles)."""
    order: list[Digest] = []
    visited: set[Digest] = set()

    def visit(digest: Digest) -> None:
        visited.add(digest)
        for named in _named(doomed[digest]):
            if named in doomed and named not in visited:
                visit(named)
        order.append(digest)

    for digest in sorted(doomed, key=str):
        if digest not in visited:
            visit(digest)
    return order[::-1]


def _warn(report: GcReport, message: str) -> None:
    report.warnings.append(message)
    log.warning("%s", message)


# -- sweep ---------------------------------------------------------------------------------------------------------
class _Sweep:
    """The sweep phase: deletes (or, in a dry run, reports) and keeps ``marked`` up to date with what survives."""

    def __init__(
        self,
        driver: StorageDriver,
        report: GcReport,
        marked: set[Digest],
        descriptors: BlobDescriptorCacheProvider | None,
        on_delete: OnDelete | None,
    ) -> None:
        self.driver = driver
        self.report = report
        self.marked = marked
        self.descriptors = descriptors
        self.on_delete = on_delete

    async def tag(self, name: str, tag: str, target: Digest) -> bool:
        """Delete a tag of ``name`` (its whole directory, history included, as ``TagStore.untag``; never the
        manifest); False if it could not be deleted (it stays, and so must its target)."""
        deletion = Deletion(Kind.TAG, target, name, tag=tag)
        if not await self._delete(paths.tag_dir(name, tag), deletion):
            return False
        await self._record(deletion)
        return True

    async def manifests(self, garbage: _Garbage) -> None:
        for doomed in garbage.manifests:
            await self.manifest(garbage, doomed)

    async def manifest(self, garbage: _Garbage, doomed: _Doomed) -> None:
        """Delete one manifest of ``garbage`` (in parents-first order), unless it survives; if it cannot be
        deleted, it survives."""
        if doomed.digest not in garbage.survivors and not await self._delete_manifest(garbage.name, doomed):
            self.keep(garbage, doomed.digest)

    def keep(self, garbage: _Garbage, digest: Digest) -> None:
        """A doomed manifest stays after all: so do the doomed manifests it names, and all of them mark what
        they reference (which keeps it from the layer-link and blob phases)."""
        by_digest = garbage.by_digest
        stay = _closure([digest], lambda d: [n for n in _named(by_digest[d].manifest) if n in by_digest])
        garbage.survivors |= stay
        for kept in stay:
            self.marked.update(references(kept, by_digest[kept].manifest))

    async def _delete_manifest(self, name: str, doomed: _Doomed) -> bool:
        """Its tag history entries, its referrer entry, then its revision link: the API's delete order."""
        directories = [_directory(paths.tag_index_link(name, tag, doomed.digest)) for tag in doomed.history]
        if doomed.manifest is not None and doomed.manifest.subject is not None:
            directories.append(_directory(paths.referrer_link(name, doomed.manifest.subject.digest, doomed.digest)))
        directories.append(_directory(paths.manifest_revision_link(name, doomed.digest)))
        deletion = Deletion(Kind.MANIFEST, doomed.digest, name)
        for directory in directories:
            if not await self._delete(directory, deletion):
                return False
        await self._record(deletion)
        return True

    async def layer_links(self, garbage: _Garbage) -> None:
        for digest in garbage.layers:
            await self.layer_link(garbage.name, digest)
        for digest, tags in garbage.history.items():
            await self.history_entries(garbage.name, digest, tags)

    async def history_entries(self, name: str, digest: Digest, tags: Iterable[str]) -> None:
        """Delete the history entries of ``tags`` naming ``digest`` (no manifest of ``name``) unless it is marked."""
        if digest in self.marked:
            return
        deletion = Deletion(Kind.TAG_HISTORY, digest, name)
        deleted = [await self._delete(_directory(paths.tag_index_link(name, tag, digest)), deletion) for tag in tags]
        if all(deleted):
            await self._record(deletion)
        else:
            self.marked.add(digest)  # never a history entry naming a blob that is gone

    async def layer_link(self, name: str, digest: Digest) -> None:
        """Delete a layer link of ``name`` unless its digest is marked."""
        if digest in self.marked:
            return
        deletion = Deletion(Kind.LAYER_LINK, digest, name)
        if await self._delete(_directory(paths.layer_link(name, digest)), deletion):
            await self._record(deletion)
        else:
            self.marked.add(digest)  # never a link to a blob that is gone

    async def blobs(self) -> None:
        for deletion in await self.unmarked_blobs():
            await self.blob(deletion)

    async def unmarked_blobs(self, eligible: Callable[[Digest, datetime], bool] | None = None) -> list[Deletion]:
        """Every unmarked blob (that is ``eligible``, given its data's modification time). They are listed first
        and deleted after the walk, which then never sees a tree that changes under it; only the garbage is held
        in memory."""
        garbage: list[Deletion] = []
        try:
            async for digest, size, modified in _blobs(self.driver, self.report):
                if digest not in self.marked and (eligible is None or eligible(digest, modified)):
                    garbage.append(Deletion(Kind.BLOB, digest, size=size))
        except _STORAGE_ERRORS as exc:
            self._fail(f"listing blobs failed, sweeping only the {len(garbage)} found so far: {exc}")
        return garbage

    async def blob(self, deletion: Deletion) -> None:
        """Delete a blob's directory unless it was marked since it was listed."""
        if deletion.digest not in self.marked and await self._delete(paths.blob_dir(deletion.digest), deletion):
            await self._record(deletion)

    async def _delete(self, path: str, deletion: Deletion) -> bool:
        if self.report.dry_run:
            return True
        try:
            await self.driver.delete(path)
        except PathNotFoundError:
            pass  # gone already: the goal is reached
        except _STORAGE_ERRORS as exc:
            self._fail(f"deleting {deletion} failed at {path}: {exc}")
            return False
        return True

    async def _record(self, deletion: Deletion) -> None:
        self.report.deleted.append(deletion)
        if self.on_delete is not None:
            self.on_delete(deletion)
        if not self.report.dry_run:
            await self._clear_cache(deletion)

    async def _clear_cache(self, deletion: Deletion) -> None:
        if self.descriptors is None or deletion.kind is Kind.TAG:  # a tag's target is still there
            return
        try:
            if deletion.repository is None:
                await self.descriptors.clear(deletion.digest)
            else:
                await self.descriptors.repository(deletion.repository).clear(deletion.digest)
        except DescriptorCacheError as exc:
            self._fail(f"clearing the cached descriptor of {deletion} failed (flush the cache): {exc}")

    def _fail(self, message: str) -> None:
        self.report.errors.append(message)
        log.error("%s", message)


async def _blobs(driver: StorageDriver, report: GcReport) -> AsyncIterator[tuple[Digest, int, datetime]]:
    """Every blob in the global store: ``blobs/<alg>/<hex[:2]>/<hex>/data``, with its size and modification time."""
    try:
        async for info in driver.walk(paths.BLOBS):
            parts = info.path[len(paths.BLOBS) + 1 :].split("/")
            if info.is_dir or len(parts) != 4 or parts[3] != "data":
                continue
            digest = _digest(parts[0], parts[2], paths.BLOBS, report)
            if digest is not None and parts[1] == digest.hex[:2]:
                yield digest, info.size, info.modified
    except PathNotFoundError:
        return


def _directory(link: str) -> str:
    """The directory of a link file: what the Go registry's vacuum deletes, so no empty directory is left."""
    return link.rsplit("/", 1)[0]
