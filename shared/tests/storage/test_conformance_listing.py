"""Trees: list, walk, move and delete over nested directories (prefixes of file paths)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError

# Names chosen to trip prefix bugs: "/tree" vs "/tree-x", "/tree/a" vs "/tree/ab", "a/1" vs "a/10".
TREE = {
    "/tree/a/1": b"one",
    "/tree/a/10": b"ten",
    "/tree/a/2": b"two",
    "/tree/ab": b"ab",
    "/tree/b/c/3": b"three",
    "/tree/d": b"",
    "/tree-x/e": b"e",
}
TOPS = ("/tree", "/tree-x")

# Every file and directory below /tree, as walk must produce them: depth first, children sorted.
TREE_WALK = [
    ("/tree/a", True),
    ("/tree/a/1", False),
    ("/tree/a/10", False),
    ("/tree/a/2", False),
    ("/tree/ab", False),
    ("/tree/b", True),
    ("/tree/b/c", True),
    ("/tree/b/c/3", False),
    ("/tree/d", False),
]
ROOT_WALK = [("/tree", True), *TREE_WALK, ("/tree-x", True), ("/tree-x/e", False)]


@pytest.fixture
async def tree(driver: CheckedDriver) -> AsyncIterator[CheckedDriver]:
    """``driver`` holding :data:`TREE`; whatever the test left of it is deleted afterwards."""
    for path, content in TREE.items():
        await driver.put_content(path, content)
    yield driver
    for top in await driver.list("/"):
        await driver.delete(top)


async def _walk(driver: CheckedDriver, path: str) -> list[tuple[str, bool]]:
    return [(info.path, info.is_dir) async for info in driver.walk(path)]


async def _files(driver: CheckedDriver) -> dict[str, bytes]:
    """Path -> content of every file left in the driver."""
    return {p: await driver.get_content(p) for p, is_dir in await _walk(driver, "/") if not is_dir}


@pytest.mark.parametrize(
    ("path", "children"),
    [
        ("/", ["/tree", "/tree-x"]),
        ("/tree", ["/tree/a", "/tree/ab", "/tree/b", "/tree/d"]),
        ("/tree/a", ["/tree/a/1", "/tree/a/10", "/tree/a/2"]),
        ("/tree/b", ["/tree/b/c"]),
        ("/tree-x", ["/tree-x/e"]),
    ],
)
async def test_list_direct_children(tree: CheckedDriver, path: str, children: list[str]) -> None:
    assert await tree.list(path) == children


async def test_list_empty_root(driver: CheckedDriver) -> None:
    assert await driver.list("/") == []


async def test_list_shows_names_like_temporary_files(driver: CheckedDriver) -> None:
    """A driver's scratch files must never shadow a valid path."""
    names = ["/tmp/a.tmp-1", "/tmp/b.tmp", "/tmp/c.part", "/tmp/.d"]
    for path in names:
        await driver.put_content(path, b"x")
    assert await driver.list("/tmp") == sorted(names)
    await driver.delete("/tmp")


@pytest.mark.parametrize("path", ["/tree", "/tree/b", "/"])
async def test_walk_yields_everything_once(tree: CheckedDriver, path: str) -> None:
    expected = {(p, d) for p, d in ROOT_WALK if p.startswith(f"{path.rstrip('/')}/")}
    walked = await _walk(tree, path)
    assert len(walked) == len(set(walked)), "walk yielded a path twice"
    assert set(walked) == expected


async def test_walk_order_is_depth_first_sorted(tree: CheckedDriver) -> None:
    assert await _walk(tree, "/tree") == TREE_WALK


async def test_walk_reports_file_sizes(tree: CheckedDriver) -> None:
    sizes = {info.path: info.size async for info in tree.walk("/tree") if not info.is_dir}
    assert sizes == {p: len(c) for p, c in TREE.items() if p.startswith("/tree/")}


async def test_walk_empty_root(driver: CheckedDriver) -> None:
    assert await _walk(driver, "/") == []


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        ("/tree/a/1", "/tree/a/moved"),
        ("/tree/a/1", "/tree/ab"),  # overwrites a file
        ("/tree/a/1", "/tree/new/dir/file"),  # into directories that do not exist yet
        ("/tree/a/1", "/elsewhere"),
        ("/tree/b/c/3", "/tree/b"),  # replaces the tree the source lives in
        ("/tree/ab", "/tree/a"),  # replaces a sibling tree
        ("/tree/a/1", "/tree/a/1"),  # onto itself
    ],
)
async def test_move(tree: CheckedDriver, source: str, dest: str) -> None:
    expected = {p: c for p, c in TREE.items() if p != source and p != dest and not p.startswith(f"{dest}/")}
    expected[dest] = TREE[source]
    await tree.move(source, dest)
    assert await _files(tree) == expected
    if source != dest and not dest.startswith(f"{source}/"):
        with pytest.raises(PathNotFoundError):
            await tree.stat(source)


@pytest.mark.parametrize("source", ["/tree/nope", "/tree/a", "/tre"], ids=["missing", "directory", "prefix"])
@pytest.mark.parametrize("dest", ["/tree/dest", "/tree/new/dir/dest", "/tree/ab"])
async def test_move_missing_source(tree: CheckedDriver, source: str, dest: str) -> None:
    with pytest.raises(PathNotFoundError):
        await tree.move(source, dest)
    assert await _walk(tree, "/") == ROOT_WALK, "a failed move changed the tree"
    assert await _files(tree) == TREE


@pytest.mark.parametrize("path", ["/tree/a/1", "/tree/d", "/tree/ab", "/tree/a", "/tree/b", "/tree/b/c", "/tree"])
async def test_delete(tree: CheckedDriver, path: str) -> None:
    await tree.delete(path)
    assert await _files(tree) == {p: c for p, c in TREE.items() if p != path and not p.startswith(f"{path}/")}
    with pytest.raises(PathNotFoundError):
        await tree.stat(path)
    with pytest.raises(PathNotFoundError):
        await tree.list(path)


async def test_delete_prunes_emptied_directories(tree: CheckedDriver) -> None:
    """A directory is a prefix of some file's path: removing its last file removes it."""
    await tree.delete("/tree/b/c/3")
    for gone in ("/tree/b/c", "/tree/b"):
        with pytest.raises(PathNotFoundError):
            await tree.stat(gone)
    assert await tree.list("/tree") == ["/tree/a", "/tree/ab", "/tree/d"]


async def test_delete_missing(tree: CheckedDriver) -> None:
    for missing in ("/nope", "/tree/nope", "/tree/a/1/below", "/tre", "/tree/a/3"):
        with pytest.raises(PathNotFoundError):
            await tree.delete(missing)
    assert await _walk(tree, "/") == ROOT_WALK
    assert await _files(tree) == TREE
