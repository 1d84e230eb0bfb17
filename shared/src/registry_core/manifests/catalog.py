"""The catalog: every repository, in the Go registry's order, a page at a time, without reading repositories.

A repository is a directory under ``repositories/`` holding ``_manifests``, as in the Go registry since 3.0
(``handleRepository``; 2.8 looked for ``_layers``): blobs or uploads alone, as a push in progress leaves them,
do not make a repository. Names nest (``a`` and ``a/b`` can both be repositories). The walk lists directories
only, never descends into a ``_`` directory, and skips whole subtrees that sort before ``last``, so a page costs
about as many ``list`` calls as it has entries, however many repositories there are.

Order is component-wise (``a/b`` before ``a-b``: the Go registry's ``lessPath``), which is what listing each
directory in sorted order yields, and what comparing names as tuples of components gives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from registry_core import paths
from registry_core.manifests.pagination import Page
from registry_core.storage.driver import PathNotFoundError, StorageDriver

REPOSITORY_MARKER = "_manifests"

Components = tuple[str, ...]


async def list_repositories(
    driver: StorageDriver, n: int, last: str | None = None, visible: Callable[[str], bool] | None = None
) -> Page:
    """At most ``n`` repository names after ``last`` (which need not exist), and whether more follow; only the
    names ``visible`` accepts, when given (the caller's, under access control)."""
    if n <= 0:
        return Page([], more=False)
    after = tuple(last.split("/")) if last else None
    found: list[str] = []
    async with aclosing(_repositories(driver, (), after)) as names:
        async for name in names:
            if visible is not None and not visible(name):
                continue
            if len(found) == n:
                return Page(found, more=True)
            found.append(name)
    return Page(found, more=False)


async def _repositories(driver: StorageDriver, prefix: Components, after: Components | None) -> AsyncIterator[str]:
    directory = paths.repository("/".join(prefix)) if prefix else paths.REPOSITORIES
    try:
        children = [child.rsplit("/", 1)[1] for child in await driver.list(directory)]
    except PathNotFoundError:
        return
    if prefix and (after is None or prefix > after) and REPOSITORY_MARKER in children:
        yield "/".join(prefix)
    for child in children:
        if child.startswith("_"):
            continue
        components = (*prefix, child)
        if after is not None and components < after[: len(components)]:
            continue  # everything below sorts before `last`
        async with aclosing(_repositories(driver, components, after)) as names:
            async for name in names:
                yield name
