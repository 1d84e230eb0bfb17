"""Real file systems for tests: a tmpfs, a small loop-mounted ext4 (to fill up), and what a path is on.

Mounting needs root. :func:`tmpfs` falls back to ``/dev/shm`` when that is a tmpfs; every helper raises
:class:`MountUnavailable` (with the reason, for a skip) when it cannot give what was asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEV_SHM = Path("/dev/shm")
COMMAND_TIMEOUT = 60.0


class MountUnavailable(RuntimeError):
    """This machine (or user) cannot provide the file system asked for; the message says why."""


def filesystem_type(path: Path) -> str:
    """The type of the file system ``path`` is on (``tmpfs``, ``ext4``...), as ``findmnt`` reports it."""
    result = subprocess.run(
        ["findmnt", "--noheadings", "--output", "FSTYPE", "--target", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT,
    )
    return result.stdout.strip()


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise MountUnavailable(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")


def _is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def _mounted(mountpoint: Path, *argv: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    _run("mount", *argv, str(mountpoint))
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False, timeout=COMMAND_TIMEOUT)


@contextmanager
def tmpfs(mountpoint: Path, *, size: str | None = None) -> Iterator[Path]:
    """A directory on a tmpfs while the block runs: a tmpfs mounted at ``mountpoint`` (``size`` as mount takes
    it, ``4m``) when root; else, without ``size``, a fresh directory under ``/dev/shm`` if that is a tmpfs."""
    if _is_root():
        options = ["-o", f"size={size}"] if size else []
        with _mounted(mountpoint, "-t", "tmpfs", *options, "tmpfs") as path:
            _check_type(path, "tmpfs")
            yield path
        return
    if size is not None:
        raise MountUnavailable("a size-limited tmpfs needs root (mount -t tmpfs -o size=...)")
    if not DEV_SHM.is_dir() or filesystem_type(DEV_SHM) != "tmpfs":
        raise MountUnavailable("not root (cannot mount a tmpfs) and /dev/shm is not a tmpfs")
    path = Path(tempfile.mkdtemp(prefix="registry-test-", dir=DEV_SHM))
    try:
        _check_type(path, "tmpfs")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def loop_ext4(image: Path, mountpoint: Path, *, size_mib: int) -> Iterator[Path]:
    """A fresh ext4 of ``size_mib`` MiB (no blocks reserved for root, so that root fills it too) in the file
    ``image``, loop-mounted at ``mountpoint`` while the block runs. Needs root, ``mkfs.ext4`` and a loop device."""
    if not _is_root():
        raise MountUnavailable("loop mounts need root")
    mkfs = shutil.which("mkfs.ext4") or shutil.which("mkfs.ext4", path="/usr/sbin:/sbin")
    if mkfs is None:
        raise MountUnavailable("mkfs.ext4 is not installed (Debian package e2fsprogs)")
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    try:
        _run(mkfs, "-q", "-F", "-m", "0", str(image))
        with _mounted(mountpoint, "-t", "ext4", "-o", "loop", str(image)) as path:
            _check_type(path, "ext4")
            yield path
    finally:
        image.unlink(missing_ok=True)


def _check_type(path: Path, expected: str) -> None:
    found = filesystem_type(path)
    if found != expected:
        raise AssertionError(f"{path} is on {found!r}, not {expected!r}")
