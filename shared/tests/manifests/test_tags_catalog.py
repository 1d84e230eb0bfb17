"""Tag listing, catalog walk and pagination: order, page boundaries, unknown repositories, storage cost."""

from __future__ import annotations

import pytest
from manifest_helpers import Content

from registry_core import paths
from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests.catalog import list_repositories
from registry_core.manifests.pagination import MAX_PAGE, page_after, parse_page_size
from registry_core.manifests.tags import TagStore
from registry_core.storage.driver import StorageDriver
from registry_core.storage.inmemory import InMemoryDriver


# -- pagination ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0),
        ("000", 0),
        ("7", 7),
        ("007", 7),
        ("0" * 50 + "12", 12),
        ("99999999", MAX_PAGE),
        ("9" * 5000, MAX_PAGE),
    ],
)
def test_parse_page_size(value: str | None, expected: int | None) -> None:
    assert parse_page_size(value, None) == expected


def test_parse_page_size_default() -> None:
    assert parse_page_size(None, 100) == 100


@pytest.mark.parametrize("value", ["-1", "", "x", "1.5", " 1", "1e3", "٣"])
def test_invalid_page_size(value: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_page_size(value, None)
    assert info.value.code is ErrorCode.PAGINATION_NUMBER_INVALID
    assert info.value.status == 400


ITEMS = ["a", "b", "c", "d", "e", "f", "g"]


@pytest.mark.parametrize(
    ("n", "last", "items", "more"),
    [
        (None, None, ITEMS, False),
        (3, None, ["a", "b", "c"], True),
        (3, "c", ["d", "e", "f"], True),
        (3, "f", ["g"], False),
        (3, "g", [], False),
        (7, None, ITEMS, False),
        (0, None, [], False),
        (None, "e", ["f", "g"], False),
        (2, "cc", ["d", "e"], True),  # `last` need not be an entry
        (2, "0", ["a", "b"], True),
    ],
)
def test_page_after(n: int | None, last: str | None, items: list[str], more: bool) -> None:
    page = page_after(ITEMS, n, last)
    assert (page.items, page.more) == (items, more)


# -- tags ------------------------------------------------------------------------------------------------------------
async def test_tags_sorted_asciibetically(content: Content) -> None:
    payload = await content.image("repo")
    names = ["b", "B", "a", "_z", "10", "9", "latest", "a.b", "a-b"]
    await content.put("repo", payload, names[0], tags=names[1:])
    assert await content.manifests("repo").tags.all() == sorted(names)


async def test_tags_of_unknown_repository(driver: StorageDriver) -> None:
    with pytest.raises(RegistryError) as info:
        await TagStore(driver, "nope").all()
    assert info.value.code is ErrorCode.NAME_UNKNOWN


async def test_repository_without_tags_lists_none(content: Content) -> None:
    await content.blob("repo", b"a layer only")
    assert await content.manifests("repo").tags.all() == []


async def test_lookup(content: Content) -> None:
    one = await content.put("repo", await content.image("repo", "1"), "a", tags=["b"])
    await content.put("repo", await content.image("repo", "2"), "c")
    tags = content.manifests("repo").tags
    assert await tags.lookup(one) == ["a", "b"]
    assert await tags.lookup(Digest.from_bytes(b"none")) == []
    assert await TagStore(content.registry.driver, "nope").lookup(one) == []


class CountingDriver(InMemoryDriver):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.lists = 0

    async def get_content(self, path: str) -> bytes:
        self.reads += 1
        return await super().get_content(path)

    async def list(self, path: str) -> list[str]:
        self.lists += 1
        return await super().list(path)


async def test_tag_listing_is_one_list_call() -> None:
    driver = CountingDriver()
    digest = Digest.from_bytes(b"m")
    for i in range(300):
        await driver.put_content(paths.tag_current_link("repo", f"t{i:04}"), str(digest).encode())
    driver.reads = driver.lists = 0
    tags = await TagStore(driver, "repo").all()
    assert len(tags) == 300
    assert (driver.lists, driver.reads) == (1, 0)


# -- catalog ---------------------------------------------------------------------------------------------------------
REPOS = ["a", "a/b", "a/b/c", "a-b", "a0", "b", "library/ubuntu", "z/deep/down/here"]


async def make_repos(driver: StorageDriver, names: list[str]) -> None:
    for name in names:
        digest = Digest.from_bytes(name.encode())
        await driver.put_content(paths.layer_link(name, digest), b"x")
        await driver.put_content(paths.manifest_revision_link(name, digest), b"x")


async def test_catalog_order_is_component_wise(driver: StorageDriver) -> None:
    await make_repos(driver, REPOS)
    await driver.put_content(paths.repository("not/a/repo") + "/stray", b"x")
    page = await list_repositories(driver, 100)
    assert (page.items, page.more) == (REPOS, False)


async def test_a_repository_is_one_with_manifests(driver: StorageDriver) -> None:
    """As the Go registry (3.0): blobs or an upload alone, a push in progress, do not make a repository."""
    await make_repos(driver, ["pushed"])
    await driver.put_content(paths.upload_started_at("uploads/only", "u1"), b"2024-01-01T00:00:00Z")
    await driver.put_content(paths.layer_link("layers/only", Digest.from_bytes(b"l")), b"x")
    await driver.put_content(paths.tag_current_link("tagged/only", "t"), b"x")
    assert (await list_repositories(driver, 100)).items == ["pushed", "tagged/only"]


async def test_catalog_pages(driver: StorageDriver) -> None:
    await make_repos(driver, REPOS)
    seen: list[str] = []
    last: str | None = None
    pages = 0
    while True:
        page = await list_repositories(driver, 3, last)
        seen += page.items
        pages += 1
        if not page.more:
            break
        last = page.last
    assert seen == REPOS
    assert pages == 3


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("a", ["a/b", "a/b/c"]),
        ("a/b", ["a/b/c", "a-b"]),
        ("a/b/c", ["a-b", "a0"]),
        ("a/a", ["a/b", "a/b/c"]),  # need not exist
        ("a/zzz", ["a-b", "a0"]),
        ("library", ["library/ubuntu", "z/deep/down/here"]),
        ("z/deep/down/here", []),
        ("zz", []),
    ],
)
async def test_catalog_after(driver: StorageDriver, last: str, expected: list[str]) -> None:
    await make_repos(driver, REPOS)
    assert (await list_repositories(driver, 2, last)).items == expected


async def test_empty_catalog(driver: StorageDriver) -> None:
    assert (await list_repositories(driver, 10)).items == []
    await make_repos(driver, ["a"])
    assert (await list_repositories(driver, 0)).items == []


async def test_catalog_never_descends_into_repository_internals() -> None:
    driver = CountingDriver()
    await make_repos(driver, ["x"])
    for i in range(50):
        await driver.put_content(paths.tag_current_link("x", f"t{i}"), b"x")
    driver.lists = 0
    await list_repositories(driver, 10)
    assert driver.lists == 2  # repositories/, repositories/x


async def test_catalog_page_cost_does_not_grow_with_the_registry() -> None:
    driver = CountingDriver()
    await make_repos(driver, [f"org{i:03}/repo{j}" for i in range(100) for j in range(3)])
    driver.lists = 0
    page = await list_repositories(driver, 5, "org050/repo2")
    assert page.items == ["org051/repo0", "org051/repo1", "org051/repo2", "org052/repo0", "org052/repo1"]
    assert driver.lists < 20
