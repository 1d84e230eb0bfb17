"""No-wait reads (``registry_core.storage.nowait``) on a real tmpfs, which refuses ``RWF_NOWAIT``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_core.storage import nowait

pytestmark = pytest.mark.skipif(nowait.NOWAIT is None, reason="this platform has no RWF_NOWAIT")


def test_a_file_system_that_refuses_the_flag_is_read_the_ordinary_way_and_remembered(tmpfs_dir: Path) -> None:
    path = tmpfs_dir / "refuses-nowait"
    path.write_bytes(b"cached on tmpfs")
    fd = os.open(path, os.O_RDONLY)
    try:
        device = os.fstat(fd).st_dev
        with pytest.raises(OSError) as refused:  # what the kernel says, so that the test means something
            os.preadv(fd, [bytearray(4)], 0, nowait.NOWAIT)
        assert not isinstance(refused.value, BlockingIOError)
        buffer = bytearray(64)
        assert nowait.read_if_cached(fd, [buffer], 0, device) is None
        assert not nowait.nowait_supported(device)
        assert nowait.read_if_cached(fd, [buffer], 0, device) is None  # not tried again
    finally:
        os.close(fd)


def test_a_cached_file_elsewhere_is_read_inline() -> None:
    """This test's own file: on the checkout's file system (not the tmp directory, which may be a tmpfs), and in
    the page cache since Python has just read it."""
    path = Path(__file__)
    fd = os.open(path, os.O_RDONLY)
    try:
        device = os.fstat(fd).st_dev
        if not nowait.nowait_supported(device):
            pytest.skip(f"the file system of {path.parent} refuses RWF_NOWAIT too")
        buffer = bytearray(64)
        read = nowait.read_if_cached(fd, [buffer], 0, device)
        if read is None:
            assert nowait.nowait_supported(device)  # only "not cached" (EAGAIN), which is not remembered
        else:
            assert bytes(buffer[:read]) == path.read_bytes()[:64]
    finally:
        os.close(fd)
