"""Claims and tombstones in the storage (docs/online-gc.md), on every driver."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from registry_core import gc_protocol as gp
from registry_core import paths
from registry_core.digest import Digest
from registry_core.storage.base import CheckedDriver

A = Digest.parse("sha256:" + "a" * 64)
B = Digest.parse("sha256:" + "b" * 64)


@pytest.fixture(params=["inmemory", "filesystem", pytest.param("s3", marks=pytest.mark.s3)])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[CheckedDriver]:
    checked = CheckedDriver(request.getfixturevalue(f"{request.param}_driver"))
    yield checked
    await checked.aclose()


async def test_nothing_recorded_reads_empty(driver: CheckedDriver) -> None:
    assert (await gp.read_claims(driver)).claims == []
    assert not await gp.read_tombstones(driver)
    assert await gp.remove_claims_before(driver, time.time_ns()) == 0


async def test_a_claim_names_what_its_writer_references(driver: CheckedDriver) -> None:
    claim = await gp.write_claim(driver, "team/app", [A, B], ["v1"])
    found = await gp.read_claims(driver)
    assert found.claims == [claim] and found.unreadable == []
    assert found.digests == {A, B} and found.tags == {("team/app", "v1")}
    await gp.remove_claim(driver, claim)
    assert (await gp.read_claims(driver)).claims == []


async def test_old_claims_are_removed_young_ones_stay(driver: CheckedDriver) -> None:
    old = await gp.write_claim(driver, "app", [A])
    cutoff = time.time_ns()
    young = await gp.write_claim(driver, "app", [B])
    assert old.written_ns < cutoff <= young.written_ns
    assert await gp.remove_claims_before(driver, cutoff) == 1
    assert [c.name for c in (await gp.read_claims(driver)).claims] == [young.name]


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
