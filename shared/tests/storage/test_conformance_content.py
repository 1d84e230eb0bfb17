"""Whole-file content, stat, missing paths, url_for and open_local: the conformance suite's small-file half."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, UnsupportedMethodError

Op = Callable[[CheckedDriver, str], Awaitable[object]]


# Each operation that must report a missing path (the path as its only or first argument); streams
# report it on their first iteration.
MISSING_OPS: dict[str, Op] = {
    "get_content": lambda d, p: d.get_content(p),
    "reader": lambda d, p: anext(d.reader(p)),
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "walk": lambda d, p: anext(d.walk(p)),
    "delete": lambda d, p: d.delete(p),
    "move": lambda d, p: d.move(p, "/dir/moved"),
}


@pytest.mark.parametrize(
    "content",
    [b"", b"x", b"hello, registry\n", bytes(range(256)) * 4, b"\0" * 100_001],
    ids=["empty", "one-byte", "text", "all-bytes", "zeros-100k"],
)
async def test_put_get_content(driver: CheckedDriver, content: bytes) -> None:
    await driver.put_content("/content/file", content)
    assert await driver.get_content("/content/file") == content
    assert (await driver.stat("/content/file")).size == len(content)
    await driver.delete("/content")


@pytest.mark.parametrize("second", [b"short", b"a much longer replacement than the original", b""])
async def test_put_content_replaces(driver: CheckedDriver, second: bytes) -> None:
    await driver.put_content("/replace/file", b"the original content")
    await driver.put_content("/replace/file", second)
    assert await driver.get_content("/replace/file") == second
    assert (await driver.stat("/replace/file")).size == len(second)
    assert await driver.list("/replace") == ["/replace/file"]
    await driver.delete("/replace")


async def test_put_content_creates_parents(driver: CheckedDriver) -> None:
    await driver.put_content("/a/b/c/d/e", b"deep")
    assert await driver.get_content("/a/b/c/d/e") == b"deep"
    for parent in ("/a", "/a/b", "/a/b/c", "/a/b/c/d"):
        assert (await driver.stat(parent)).is_dir, parent
    await driver.delete("/a")


async def test_stat_file(driver: CheckedDriver) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    await driver.put_content("/stat/file", b"12345")
    info = await driver.stat("/stat/file")
    assert (info.path, info.size, info.is_dir) == ("/stat/file", 5, False)
    assert info.modified.tzinfo is not None
    assert before < info.modified < datetime.now(UTC) + timedelta(minutes=5)
    await driver.delete("/stat")


@pytest.mark.parametrize("directory", ["/stat", "/stat/dir", "/stat/dir/sub"])
async def test_stat_directory(driver: CheckedDriver, directory: str) -> None:
    await driver.put_content("/stat/dir/sub/file", b"12345")
    await driver.put_content("/stat-sibling", b"x")
    info = await driver.stat(directory)
    assert (info.path, info.is_dir) == (directory, True)
    await driver.delete("/stat")
    await driver.delete("/stat-sibling")


@pytest.mark.parametrize(
    "missing",
    ["/nope", "/dir/nope", "/dir/file/below", "/di", "/dir/fil", "/dir/file-longer"],
)
async def test_missing_path_raises_not_found(driver: CheckedDriver, missing: str) -> None:
    await driver.put_content("/dir/file", b"present")
    for op, call in MISSING_OPS.items():
        with pytest.raises(PathNotFoundError) as info:
            await call(driver, missing)
        assert isinstance(info.value, FileNotFoundError)
        assert (info.value.path, info.value.driver) == (missing, driver.name), op
        assert driver.name in str(info.value), op
        assert await driver.list("/") == ["/dir"], f"a failed {op} changed the tree"
        assert await driver.list("/dir") == ["/dir/file"], f"a failed {op} changed the tree"
    assert await driver.get_content("/dir/file") == b"present"
    await driver.delete("/dir")


async def test_url_for(driver: CheckedDriver) -> None:
    content = b"served directly by the backend"
    await driver.put_content("/url/file", content)
    if driver.name == "s3":
        url = await driver.url_for("/url/file")
        assert url.startswith(("http://", "https://"))
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200, response.text
        assert response.content == content
    else:
        with pytest.raises(UnsupportedMethodError) as info:
            await driver.url_for("/url/file")
        assert driver.name in str(info.value)
    await driver.delete("/url")


async def test_open_local(driver: CheckedDriver) -> None:
    """The filesystem driver hands out its file (for the server to send); the others say they cannot."""
    content = b"sent by the server itself"
    await driver.put_content("/local/file", content)
    if driver.name == "filesystem":
        with await driver.open_local("/local/file") as f:
            assert f.read() == content
        with pytest.raises(PathNotFoundError):
            await driver.open_local("/local/missing")
    else:
        with pytest.raises(UnsupportedMethodError) as info:
            await driver.open_local("/local/file")
        assert driver.name in str(info.value)
    await driver.delete("/local")
