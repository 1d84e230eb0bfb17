"""The path grammar: CheckedDriver refuses bad paths before any driver sees them; good ones round-trip."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import InvalidPathError

Op = Callable[[CheckedDriver, str], Awaitable[object]]

DRIVER_METHODS = (
    *("get_content", "put_content", "reader", "writer", "stat", "list", "move", "delete", "walk", "url_for"),
    "open_local",
)


# Every entry point, with whether "/" (the root, for listing and walking) is a valid argument.
OPS: dict[str, tuple[Op, bool]] = {
    "get_content": (lambda d, p: d.get_content(p), False),
    "put_content": (lambda d, p: d.put_content(p, b"x"), False),
    "reader": (lambda d, p: anext(d.reader(p)), False),
    "writer": (lambda d, p: d.writer(p), False),
    "stat": (lambda d, p: d.stat(p), True),
    "list": (lambda d, p: d.list(p), True),
    "walk": (lambda d, p: anext(d.walk(p)), True),
    "move-source": (lambda d, p: d.move(p, "/ok"), False),
    "move-dest": (lambda d, p: d.move("/ok", p), False),
    "delete": (lambda d, p: d.delete(p), False),
    "url_for": (lambda d, p: d.url_for(p), False),
    "open_local": (lambda d, p: d.open_local(p), False),
}

INVALID = ["", "relative", "/a/../b", "/a/./b", "/..", "/a/.", "/a//b", "//a", "/a/", "/a b", "/a/b\x00", "/ä", "/a:b"]


@pytest.fixture
def spied(driver: CheckedDriver, monkeypatch: pytest.MonkeyPatch) -> tuple[CheckedDriver, list[str]]:
    """``driver`` whose wrapped driver records (and refuses) every call that gets through the check."""
    calls: list[str] = []
    for method in DRIVER_METHODS:

        def spy(*args: object, _method: str = method, **kwargs: object) -> None:
            calls.append(f"{_method}{args}")
            raise AssertionError(f"{_method} reached the driver with {args}")

        monkeypatch.setattr(driver.driver, method, spy)
    return driver, calls


async def _assert_refused(spied: tuple[CheckedDriver, list[str]], path: str, ops: list[str]) -> None:
    driver, calls = spied
    for op in ops:
        try:
            await OPS[op][0](driver, path)
        except InvalidPathError as exc:
            assert isinstance(exc, ValueError)
            assert driver.name in str(exc), f"{op}: {exc} is not tagged with the driver's name"
        else:
            pytest.fail(f"{op} accepted the invalid path {path!r}")
        assert calls == [], f"{op} called the driver with the invalid path {path!r}"


@pytest.mark.parametrize("path", INVALID, ids=repr)
async def test_invalid_path_refused(spied: tuple[CheckedDriver, list[str]], path: str) -> None:
    await _assert_refused(spied, path, list(OPS))


async def test_root_refused_by_file_operations(spied: tuple[CheckedDriver, list[str]]) -> None:
    await _assert_refused(spied, "/", [op for op, (_, root_ok) in OPS.items() if not root_ok])


async def test_trailing_newline_refused(spied: tuple[CheckedDriver, list[str]]) -> None:
    await _assert_refused(spied, "/a\n", list(OPS))


@pytest.mark.parametrize("path", ["/a", "/a-b_c.d/E9", "/...", "/_/-/.x", "/A/a", "/0/9" * 20])
async def test_valid_path_roundtrip(driver: CheckedDriver, path: str) -> None:
    await driver.put_content(path, path.encode())
    assert await driver.get_content(path) == path.encode()
    assert (await driver.stat(path)).path == path
    parent = path.rsplit("/", 1)[0] or "/"
    assert path in await driver.list(parent)
    top = "/" + path.split("/")[1]
    await driver.delete(top)
