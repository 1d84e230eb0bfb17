"""``registry garbage-collect --config FILE [--dry-run] [--delete-untagged] [--force | --online]``.

Runs :func:`registry_core.gc.collect_garbage` (or, with ``--online``, one
:class:`registry_core.online_gc.OnlineCollector` pass) on the storage the configuration names, prints each deletion on
stdout as it happens and a summary at the end; warnings and errors go to stderr. Exit status: 0 done, 1 errors
(the mark phase failed and nothing was deleted, or some deletions failed), 2 invalid configuration or refused.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from registry_core.config import ConfigError, Settings, load_settings
from registry_core.gc import Deletion, GcReport, Kind, collect_garbage
from registry_core.lease import RedisLease
from registry_core.online_gc import LEASE_KEY, OnlineCollector, OnlineGcReport, StillAllowed, always_allowed
from registry_core.storage.factory import create_driver
from registry_core.web.caches import create_descriptor_cache, redis_options, redis_url

COMMAND = "garbage-collect"
LEASE_TTL = 60.0
"""Seconds; renewed every third of it while the collection runs, so a crashed run frees it within a minute."""

DESCRIPTION = """\
Delete the blobs no manifest references (mark and sweep, as the Go registry's garbage-collect).

Every manifest revision of every repository is read; the blobs they reference (config, layers, index children)
are kept; every other blob is deleted, with the _layers links to it. With --delete-untagged, manifests no tag
points at are deleted first, unless a tagged manifest reaches them (the children of a tagged index, the
referrers of a kept manifest, the subject of a kept referrer); then what only they referenced goes too.

Run it while nothing writes: a blob pushed while it runs is referenced by no manifest yet and would be
deleted. So it refuses to delete unless the configuration sets storage.maintenance.readonly.enabled: true
(the registry serving this storage runs read-only meanwhile) or --force is given (every registry process
writing to this storage is stopped). With redis configured it also holds a Redis lease, so two collections
never run at once. --dry-run only reports, and needs neither.

A registry with an in-memory descriptor cache may still describe deleted blobs until restarted: restart it
afterwards. A Redis or remote cache is cleared of what is deleted.

With --online it runs beside serving registries instead (docs/online-gc.md): one pass of the online collector
the purgers run, which collects only what is older than storage.maintenance.garbagecollect.grace and checks
the claims writers leave before it deletes. The writers leave claims only when their configuration sets
storage.maintenance.garbagecollect.enabled: true, so --online refuses to run unless this configuration sets it
too (the same configuration as the serving registries). It takes the same Redis lease as the purgers' passes.
It also applies the retention rules (storage.maintenance.garbagecollect.retention): a repository a rule covers
follows its rule instead of --delete-untagged; with --dry-run the rules' plan is printed too. Without --online
the rules are ignored.
"""

REFUSAL = """\
registry garbage-collect: refusing to delete: storage.maintenance.readonly.enabled is not true in {config}.
Garbage collection must run while nothing writes to the storage: a blob pushed while it runs is not yet \
referenced by a manifest, so it would be deleted and the image being pushed left broken. Either restart every \
registry process on this storage with storage.maintenance.readonly.enabled: true and run this command with that \
configuration, or stop them all and pass --force. --dry-run only reports and needs neither."""

ONLINE_REFUSAL = """\
registry garbage-collect: refusing to run online: storage.maintenance.garbagecollect.enabled is not true in \
{config}. Online collection is safe only if every registry writing to this storage leaves claims for what it is \
about to reference, which it does only with storage.maintenance.garbagecollect.enabled: true: set it in the \
serving registries' configuration (restart them) and in the one given here."""

log = logging.getLogger("registry.gc")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        COMMAND,
        help="delete unreferenced blobs (run with writers stopped or read-only)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="the registry's config.yml (storage, cache and redis are used)")
    p.add_argument("-d", "--dry-run", action="store_true", help="only print what would be deleted")
    p.add_argument(
        "-m", "--delete-untagged", action="store_true", help="also delete manifests no tag reaches, and their blobs"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="run even if the configuration is not read-only")
    mode.add_argument(
        "--online", action="store_true", help="one online pass beside serving registries (garbagecollect.enabled)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"registry garbage-collect: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.online:
        if not settings.storage.maintenance.garbagecollect.enabled:
            print(ONLINE_REFUSAL.format(config=args.config), file=sys.stderr)
            return 2
    elif not (args.dry_run or args.force or settings.storage.maintenance.readonly.enabled):
        print(REFUSAL.format(config=args.config), file=sys.stderr)
        return 2
    _configure_logging(settings.log.level)
    return asyncio.run(
        _collect(settings, dry_run=args.dry_run, delete_untagged=args.delete_untagged, online=args.online)
    )


def _configure_logging(level: str) -> None:
    """Tool-style lines on stderr (the server's timestamped format is for logs; this is a command's output)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="registry garbage-collect: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


async def _collect(settings: Settings, *, dry_run: bool, delete_untagged: bool, online: bool = False) -> int:
    driver = create_driver(settings.storage)
    descriptors = None if dry_run else create_descriptor_cache(settings)
    try:
        async with _exclusive(settings, needed=not dry_run) as lease:
            if lease is None:
                print(
                    f"registry garbage-collect: another garbage collection holds the lease {LEASE_KEY} in Redis"
                    f" ({settings.redis.addr}), or Redis is unreachable: not running",
                    file=sys.stderr,
                )
                return 2
            on_delete = functools.partial(_print_deletion, dry_run=dry_run)
            if online:
                collector = OnlineCollector(
                    driver,
                    descriptors,
                    grace=settings.storage.maintenance.garbagecollect.grace,
                    delete_untagged=delete_untagged,
                    retention=settings.storage.maintenance.garbagecollect.retention,
                    dry_run=dry_run,
                )
                report: GcReport = await collector.run(lease, on_delete)
                if dry_run:
                    for line in report.retention.lines():
                        print(f"retention: {line}")
            else:  # no retention offline: only the online pass applies the rules
                report = await collect_garbage(
                    driver,
                    delete_untagged=delete_untagged,
                    dry_run=dry_run,
                    descriptors=descriptors,
                    on_delete=on_delete,
                )
    finally:
        await _close(descriptors)
        await driver.aclose()
    print(summary(report))
    return 1 if report.errors else 0


@asynccontextmanager
async def _exclusive(settings: Settings, *, needed: bool) -> AsyncIterator[StillAllowed | None]:
    """Hold the GC lease while the body runs (when ``needed`` and Redis is configured). Yields None if not granted,
    else whether the lease is still held (renewing it; always True without a lease)."""
    if not needed or not settings.redis.addr:
        yield always_allowed
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url(settings.redis), **redis_options(settings.redis))
    lease = RedisLease(client, LEASE_KEY, LEASE_TTL)
    try:
        if not await lease.acquire():
            yield None
            return
        try:
            async with lease.renewed():
                yield lease.acquire
        finally:
            await lease.release()
    finally:
        await client.aclose()


async def _close(resource: object) -> None:
    aclose = getattr(resource, "aclose", None)
    if aclose is not None:
        await aclose()


def _print_deletion(deletion: Deletion, *, dry_run: bool) -> None:
    print(f"{'would delete' if dry_run else 'deleted'} {deletion}", flush=True)


def summary(report: GcReport) -> str:
    """The last lines: what was marked, deleted (or would be) and reclaimed, and the errors' count."""
    errors = _plural(len(report.errors), "error")
    if report.aborted:
        return f"aborted, nothing deleted: {errors}"
    marked = (
        f"marked {_plural(report.marked, 'blob')} ({_plural(report.manifests, 'manifest')} read in"
        f" {_plural(report.repositories, 'repository', 'repositories')}, {_plural(len(report.warnings), 'warning')})"
    )
    tags = f"{_plural(report.count(Kind.TAG), 'tag')}, " if isinstance(report, OnlineGcReport) else ""
    counts = (
        f"{tags}{_plural(report.count(Kind.MANIFEST), 'manifest')},"
        f" {_plural(report.count(Kind.LAYER_LINK), 'layer link')},"
        f" {_plural(report.count(Kind.TAG_HISTORY), 'tag history entry', 'tag history entries')}"
        f" and {_plural(report.count(Kind.BLOB), 'blob')}"
    )
    if report.dry_run:
        done = f"dry run: would delete {counts}, reclaiming {report.bytes_freed} bytes"
    else:
        done = f"deleted {counts}: {report.bytes_freed} bytes reclaimed"
    if isinstance(report, OnlineGcReport):
        done += f"; {_plural(report.rescued, 'candidate')} rescued by claims" + (
            ", stopped: the lease was lost" if report.stopped else ""
        )
    return f"{marked}\n{done}" + (f"; {errors} (see above)" if report.errors else "")


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
