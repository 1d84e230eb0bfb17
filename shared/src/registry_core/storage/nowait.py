"""Reads that never wait for the disk: ``preadv(RWF_NOWAIT)``, where the file system offers it.

A read the page cache can answer at once runs inline on the event loop (cheaper than a thread hop); a read
that would block is done elsewhere by the caller. Not every file system takes the flag: tmpfs, overlayfs on
some kernels and FUSE answer ``EOPNOTSUPP`` (or ``EINVAL``), whatever is cached. So any error of the no-wait
attempt means "read the ordinary way", and any error but ``EAGAIN`` (not cached, the only expected one) marks
the file system (``st_dev``) as one not to try again, for the life of the process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
"""The flag, or ``None`` where the platform has none (then no read is attempted)."""

_unsupported: set[int] = set()
"""File systems (``st_dev``) whose no-wait reads failed other than with ``EAGAIN``."""


def nowait_supported(device: int) -> bool:
    """Whether no-wait reads are still worth trying on the file system ``device`` (an ``st_dev``)."""
    return NOWAIT is not None and device not in _unsupported


def read_if_cached(fd: int, buffers: Sequence[Any], offset: int, device: int) -> int | None:
    """``os.preadv(fd, buffers, offset, RWF_NOWAIT)``: the bytes read, or ``None`` when the caller must read the
    ordinary way (not cached, or the file system ``device`` does not take the flag: then it is remembered).

    ``device`` is the file's ``st_dev``: callers usually hold an ``fstat`` already, so none is made here.
    """
    if NOWAIT is None or device in _unsupported:
        return None
    try:
        return os.preadv(fd, buffers, offset, NOWAIT)
    except BlockingIOError:  # EAGAIN: some of the range is not in the page cache
        return None
    except OSError:  # EOPNOTSUPP (tmpfs), EINVAL...: the ordinary read will say if the file itself is at fault
        _unsupported.add(device)
        return None
