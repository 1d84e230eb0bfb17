"""Removing abandoned uploads (the Go registry's ``PurgeUploads``), as a plain function over a driver.

An upload is stale when its last activity is older than the cut-off. The last activity is the newest of its
``startedat`` time and the modification times of its files, so an upload that still receives chunks is never
removed however long ago it started. An orphaned upload directory without ``startedat`` is judged by its
files alone. Only ``_uploads`` directories are listed: the walk stops at each repository's ``_`` directories
and never lists blobs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from registry_core import paths
from registry_core.storage.driver import FileInfo, PathNotFoundError, StorageDriver, StorageError

log = logging.getLogger("registry.purger")

_REPOSITORY_MARKERS = ("_layers", "_manifests", "_uploads")


@dataclass
class PurgeReport:
    """What a purge removed (or, in a dry run, would have removed) and what failed."""

    purged: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)
    examined: int = 0


def parse_started_at(raw: bytes) -> datetime | None:
    """``startedat`` as the Go registry writes it (RFC 3339, possibly with nanoseconds); None if unreadable."""
    text = raw.decode("ascii", "replace").strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python accepts at most microseconds: trim a longer fraction.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


async def upload_directories(driver: StorageDriver) -> AsyncIterator[str]:
    """Every ``repositories/<name>/_uploads/<id>`` directory, found without descending into any ``_`` dir."""
    pending = [paths.REPOSITORIES]
    while pending:
        directory = pending.pop()
        try:
            children = await driver.list(directory)
        except PathNotFoundError:
            continue
        names = {c.rsplit("/", 1)[1] for c in children}
        if "_uploads" in names:
            try:
                for upload in await driver.list(f"{directory}/_uploads"):
                    yield upload
            except PathNotFoundError:
                pass
        pending.extend(sorted((c for c in children if not c.rsplit("/", 1)[1].startswith("_")), reverse=True))


async def _files(driver: StorageDriver, directory: str) -> list[FileInfo]:
    return [info async for info in driver.walk(directory) if not info.is_dir]


async def last_activity(driver: StorageDriver, directory: str) -> tuple[datetime | None, int]:
    """The newest of ``startedat`` and the directory's file times, and the bytes the directory holds.

    A directory without files is judged by its own time: it is an upload being created (its directory made, its
    ``startedat`` not written yet), which an empty file list once made look infinitely old, so a purge run
    deleted it under the request writing it (a 500 on ``POST /blobs/uploads/``)."""
    files = await _files(driver, directory)
    times = [f.modified for f in files]
    if not files:
        times.append((await driver.stat(directory)).modified)
    started_path = f"{directory}/startedat"
    if any(f.path == started_path for f in files):
        started = parse_started_at(await driver.get_content(started_path))
        if started is not None:
            times.append(started)
    return (max(times) if times else None), sum(f.size for f in files)


async def purge_uploads(driver: StorageDriver, older_than: datetime, *, dry_run: bool = False) -> PurgeReport:
    """Remove every upload whose last activity is before ``older_than``; with ``dry_run`` only report them."""
    report = PurgeReport()
    async for directory in upload_directories(driver):
        report.examined += 1
        try:
            latest, size = await last_activity(driver, directory)
            if latest is not None and latest >= older_than:
                continue
            if dry_run:
                log.info("dry run: would purge upload %s (%d bytes, last active %s)", directory, size, latest)
            else:
                await driver.delete(directory)
                log.info("purged upload %s (%d bytes, last active %s)", directory, size, latest)
            report.purged.append(directory)
            report.bytes_freed += size
        except PathNotFoundError:
            continue  # finished or cancelled meanwhile
        except StorageError as exc:
            log.warning("purging %s failed: %s", directory, exc)
            report.errors.append(f"{directory}: {exc}")
    return report
