"""Claims and tombstones in the storage (docs/online-gc.md), on every driver."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import test_gc

from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.digest import Digest
from registry_core.storage.base import CheckedDriver

A = Digest.parse("sha256:" + "a" * 64)
B = Digest.parse("sha256:" + "b" * 64)


driver = test_gc.driver  # every driver, checked


async def test_nothing_recorded_reads_empty(driver: CheckedDriver) -> None:
    assert (await gp.read_claims(driver)).claims == []
    assert not await gp.read_tombstones(driver)
    assert await gp.remove_finished_claims(driver, datetime.now(UTC), 0.0) == 0
    assert await gp.read_runs(driver) == {}


async def test_a_claim_names_what_its_writer_references(driver: CheckedDriver) -> None:
    claim = await gp.write_claim(driver, "team/app", [A, B], ["v1"], deadline=30.0)
    found = await gp.read_claims(driver)
    assert [(c.repository, c.digests, c.tags, c.deadline, c.name) for c in found.claims] == [
        ("team/app", {A, B}, {"v1"}, 30.0, claim.name)
    ]
    assert found.claims[0].modified is not None and found.unreadable == []
    assert found.digests == {A, B} and found.tags == {("team/app", "v1")}
    await gp.remove_claim(driver, claim)
    assert (await gp.read_claims(driver)).claims == []


async def test_claims_already_read_are_not_read_again(driver: CheckedDriver) -> None:
    first = await gp.write_claim(driver, "app", [A])
    known: dict[str, gp.Claim] = {}
    await gp.read_claims(driver, known)
    assert set(known) == {first.name}
    await driver.put_content(paths.gc_claim(first.name), b"changed, but claims never change: not read again")
    second = await gp.write_claim(driver, "app", [B])
    found = await gp.read_claims(driver, known)
    assert found.digests == {A, B} and found.unreadable == [] and set(known) == {first.name, second.name}
    await gp.remove_claim(driver, first)
    await gp.read_claims(driver, known)
    assert set(known) == {second.name}


async def test_finished_claims_are_removed_unfinished_ones_stay(driver: CheckedDriver) -> None:
    await gp.write_claim(driver, "app", [A], deadline=0.0)  # no deadline recorded: the default applies
    await gp.write_claim(driver, "app", [B], deadline=3600.0)
    later = datetime.now(UTC) + timedelta(seconds=60)
    assert await gp.remove_finished_claims(driver, later, default_deadline=1.0) == 1
    assert (await gp.read_claims(driver)).digests == {B}


async def test_an_unreadable_claim_is_reported_not_ignored(driver: CheckedDriver) -> None:
    await driver.put_content(paths.gc_claim(f"{time.time_ns()}-x"), b"not json")
    found = await gp.read_claims(driver)
    assert found.claims == [] and len(found.unreadable) == 1


async def test_tombstones_are_per_run_and_removed_by_their_run(driver: CheckedDriver) -> None:
    first, second = gp.new_run_id(), gp.new_run_id()
    written = await gp.write_tombstones(driver, first, [A], [("team/app", "v1")])
    await gp.write_tombstones(driver, second, [A])
    found = await gp.read_tombstones(driver)
    assert found.digests == {A: {first, second}} and found.tags == {("team/app", "v1"): {first}}
    assert found.runs == {first, second}
    await gp.remove_tombstones(driver, written)
    found = await gp.read_tombstones(driver)
    assert found.digests == {A: {second}} and found.tags == {}


async def test_runs_are_recorded_beat_and_end(driver: CheckedDriver) -> None:
    run = gp.new_run_id()
    record = await gp.start_run(driver, run)
    now = await gp.beat(driver, run)
    assert now is not None and now >= record.started
    runs = await gp.read_runs(driver)
    assert set(runs) == {run} and runs[run].started == record.started
    assert set(gp.live_runs(runs, now)) == {run}
    assert gp.live_runs(runs, now + gp.STALE_RUN + timedelta(seconds=1)) == {}
    await gp.end_run(driver, run)
    assert await gp.read_runs(driver) == {}
    assert await gp.beat(driver, run) is None, "a run whose record was removed must stop"
