"""purge_uploads over real drivers: what is stale goes, what is active or fresh stays, dry runs keep all."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_core import paths
from registry_core.digest import Digest
from registry_core.purge import parse_started_at, purge_uploads
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageDriver
from registry_core.storage.filesystem import FilesystemDriver

NOW = datetime.now(UTC)
KEEP = Digest.from_bytes(b"keep")
DAY = timedelta(days=1)


@pytest.fixture(params=["inmemory", "filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def driver(request: pytest.FixtureRequest) -> StorageDriver:
    raw: StorageDriver = request.getfixturevalue(f"{request.param}_driver")
    return CheckedDriver(raw)


async def make_upload(driver: StorageDriver, name: str, upload_id: str, started: datetime | None, data: bytes) -> None:
    if started is not None:
        await driver.put_content(paths.upload_started_at(name, upload_id), started.isoformat().encode())
    await driver.put_content(paths.upload_data(name, upload_id), data)


async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFoundError:
        return False
    return True


async def test_purges_everything_older_than_the_cut_off_and_nothing_else(driver: StorageDriver) -> None:
    await make_upload(driver, "library/app", "old", NOW - 3 * DAY, b"x" * 10)
    await make_upload(driver, "other", "fresh", NOW, b"y" * 5)
    await driver.put_content(paths.layer_link("other", KEEP), b"keep")

    report = await purge_uploads(driver, NOW + DAY)  # everything is older than tomorrow
    assert sorted(report.purged) == [paths.upload_dir("library/app", "old"), paths.upload_dir("other", "fresh")]
    assert report.bytes_freed == 10 + 5 + len((NOW - 3 * DAY).isoformat()) + len(NOW.isoformat())
    assert await exists(driver, paths.layer_link("other", KEEP)), "only uploads may be purged"

    await driver.delete(paths.REPOSITORIES)


async def test_keeps_uploads_active_after_the_cut_off(driver: StorageDriver) -> None:
    # Started long ago, but its data was written now: still active.
    await make_upload(driver, "repo", "busy", NOW - 30 * DAY, b"chunk")
    report = await purge_uploads(driver, NOW - DAY)
    assert report.purged == [] and report.examined == 1
    assert await exists(driver, paths.upload_data("repo", "busy"))


async def test_dry_run_removes_nothing(driver: StorageDriver) -> None:
    await make_upload(driver, "repo", "u1", NOW - 3 * DAY, b"abc")
    report = await purge_uploads(driver, NOW + DAY, dry_run=True)
    assert report.purged == [paths.upload_dir("repo", "u1")]
    assert await exists(driver, paths.upload_data("repo", "u1"))


async def test_no_repositories_is_not_an_error(driver: StorageDriver) -> None:
    report = await purge_uploads(driver, NOW)
    assert report.purged == [] and report.errors == [] and report.examined == 0


async def test_stale_start_and_stale_data_is_purged_on_disk(tmp_path: Path) -> None:
    driver = CheckedDriver(FilesystemDriver(tmp_path))
    await make_upload(driver, "repo", "stale", NOW - 10 * DAY, b"old bytes")
    await make_upload(driver, "repo", "orphan", None, b"orphaned")
    await make_upload(driver, "repo", "active", NOW - 10 * DAY, b"new bytes")
    old = (NOW - 9 * DAY).timestamp()
    for upload in ("stale", "orphan"):
        for f in Path(tmp_path, paths.upload_dir("repo", upload).lstrip("/")).rglob("*"):
            os.utime(f, (old, old))

    report = await purge_uploads(driver, NOW - DAY)
    assert sorted(report.purged) == [paths.upload_dir("repo", "orphan"), paths.upload_dir("repo", "stale")]
    assert await exists(driver, paths.upload_data("repo", "active"))


async def test_an_upload_being_created_is_not_purged(tmp_path: Path) -> None:
    """Its directory exists, with no file in it yet: judged by the directory's own time, not purged; an empty
    directory left long ago is."""
    driver = CheckedDriver(FilesystemDriver(tmp_path))
    creating = Path(tmp_path, paths.upload_dir("repo", "creating").lstrip("/"))
    left = Path(tmp_path, paths.upload_dir("repo", "left").lstrip("/"))
    creating.mkdir(parents=True)
    left.mkdir(parents=True)
    old = (NOW - 9 * DAY).timestamp()
    os.utime(left, (old, old))

    report = await purge_uploads(driver, NOW - DAY)
    assert report.purged == [paths.upload_dir("repo", "left")]
    assert creating.is_dir()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"2015-04-16T10:57:34.123456789Z", datetime(2015, 4, 16, 10, 57, 34, 123456, UTC)),
        (b"2015-04-16T10:57:34Z", datetime(2015, 4, 16, 10, 57, 34, tzinfo=UTC)),
        (b"2015-04-16T12:57:34+02:00", datetime(2015, 4, 16, 10, 57, 34, tzinfo=UTC)),
        (b"", None),
        (b"yesterday", None),
        (b"2015-04-16T10:57:34", None),
    ],
)
def test_parse_started_at(raw: bytes, expected: datetime | None) -> None:
    assert parse_started_at(raw) == expected
