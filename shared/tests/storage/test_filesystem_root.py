"""The filesystem driver's root as the storage health check sees it (``list("/")``): missing is an empty registry
(the first write creates it), a file where a directory should be is unusable storage and an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError, StorageError
from registry_core.storage.filesystem import FilesystemDriver


@pytest.mark.parametrize("root", ["root", "missing/parent/root"])
async def test_a_missing_root_lists_empty_and_is_created_by_the_first_write(tmp_path: Path, root: str) -> None:
    driver = CheckedDriver(FilesystemDriver(tmp_path / root))
    assert await driver.list("/") == []
    await driver.put_content("/a/b", b"x")
    assert await driver.list("/") == ["/a"]


@pytest.mark.parametrize("file", ["root", "parent"], ids=["root-is-a-file", "parent-is-a-file"])
async def test_a_file_in_place_of_the_root_is_a_storage_error(tmp_path: Path, file: str) -> None:
    (tmp_path / file).write_text("not a directory")
    driver = CheckedDriver(FilesystemDriver(tmp_path / "parent" / "root" if file == "parent" else tmp_path / "root"))
    with pytest.raises(StorageError) as error:
        await driver.list("/")
    assert not isinstance(error.value, PathNotFoundError)
    assert "not a directory" in str(error.value)
    with pytest.raises(PathNotFoundError):  # below the root, a missing directory is still merely not found
        await driver.list("/docker")
