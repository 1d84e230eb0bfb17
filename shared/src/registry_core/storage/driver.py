"""The storage driver contract: the only code that touches bytes at rest.

Paths are absolute, ``/``-separated and match :data:`PATH_RE` (one grammar, checked once by
:class:`~registry_core.storage.base.CheckedDriver` before any driver sees a path). Drivers implement
:class:`StorageDriver`; the docstrings below are the contract, and ``shared/tests/storage`` is the one
conformance suite that holds every driver to it.

Errors (each carries the path and the driver's name)::

    StorageError
     ├── PathNotFoundError   (also a FileNotFoundError)   nothing at that path
     ├── InvalidPathError    (also a ValueError)          path refused by the grammar
     ├── InvalidOffsetError  (also a ValueError)          read or append offset out of range
     ├── UnsupportedMethodError                           the driver cannot do that (e.g. url_for)
     ├── StorageFullError                                 no space left (ENOSPC, EDQUOT); nothing half-written
     │                                                    stays: retrying once space is freed works
     └── StorageUnavailableError                          the backend cannot be reached, or keeps failing
                                                          (timeouts, 5xx, throttling) after the driver's retries

Any other failure is a plain ``StorageError`` (or an ``OSError`` from a local file system).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

PATH_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
"""The path grammar, as the Go registry's ``PathRegexp``; ``/`` alone is allowed for listing and walking."""


class StorageError(Exception):
    """A storage failure, tagged with the driver that raised it."""

    def __init__(self, path: str, detail: str = "", driver: str = "") -> None:
        self.path = path
        self.detail = detail
        self.driver = driver
        super().__init__(self._text())

    def _text(self) -> str:
        prefix = f"{self.driver}: " if self.driver else ""
        return f"{prefix}{type(self).__name__}: {self.path}" + (f": {self.detail}" if self.detail else "")

    def tag(self, driver: str) -> StorageError:
        if not self.driver:
            self.driver = driver
            self.args = (self._text(),)
        return self


class PathNotFoundError(StorageError, FileNotFoundError):
    """Nothing is stored at the path."""


class InvalidPathError(StorageError, ValueError):
    """The path does not match the grammar."""


class InvalidOffsetError(StorageError, ValueError):
    """A read from, or an append at, an offset beyond the content."""


class UnsupportedMethodError(StorageError):
    """The driver does not offer this operation."""


class StorageFullError(StorageError):
    """The backend has no space left for the write (or its quota is used up).

    A writer that raises it keeps what it had stored before the failed write and nothing after: its file
    holds exactly the bytes of the writes it completed, so an upload resumes from the file's size.
    """


class StorageUnavailableError(StorageError):
    """The backend cannot be reached, or keeps failing transiently after the driver's retries: try later."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What :meth:`StorageDriver.stat` and :meth:`StorageDriver.walk` report about a path."""

    path: str
    size: int
    modified: datetime
    is_dir: bool


class FileWriter(ABC):
    """A streaming writer to one path, returned by :meth:`StorageDriver.writer`.

    Writes are sequential. :meth:`close` persists what was written so that a later
    ``writer(path, append=True)`` (in this or another process) resumes at :attr:`size`. :meth:`commit` makes
    the content final. :meth:`cancel` removes everything this writer and its predecessors wrote. After any
    of the three the writer is closed and refuses writes.
    """

    @property
    @abstractmethod
    def size(self) -> int:
        """Bytes in the file so far, including what earlier writers appended."""

    @abstractmethod
    async def write(self, data: bytes) -> int:
        """Append ``data``; return its length.

        Writes may be buffered: a failure (``StorageFullError``, say) may surface in a later ``write``,
        ``close`` or ``commit``. After a failure the writer is closed, and the file holds what it held
        before the failed piece; :attr:`size` then says how much that is.
        """

    @abstractmethod
    async def close(self) -> None:
        """Persist what was written, leaving the file open to a later append."""

    @abstractmethod
    async def commit(self) -> None:
        """Persist and finish the file."""

    @abstractmethod
    async def cancel(self) -> None:
        """Abandon the file: nothing written through it or its predecessors remains."""


class StorageDriver(ABC):
    """An async storage backend over a tree of paths.

    ``name`` identifies the driver in traces and errors. Blocking I/O must never run on the event loop.
    """

    name: str = "driver"

    @abstractmethod
    async def get_content(self, path: str) -> bytes:
        """Return the whole content at ``path`` (meant for small files: links, manifests, state)."""

    @abstractmethod
    async def put_content(self, path: str, content: bytes) -> None:
        """Store ``content`` at ``path`` atomically and durably: readers see the old or the new content."""

    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        """Stream the content of ``path`` from ``offset`` in chunks.

        Raises ``PathNotFoundError`` or ``InvalidOffsetError`` (offset < 0 or beyond the size) on the first
        iteration, before any byte is produced.
        """

    @abstractmethod
    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        """Open a writer to ``path``.

        Without ``append`` any previous content is replaced once the writer writes or commits. With
        ``append`` writing resumes after the content that a previous writer closed without committing;
        a missing path starts empty.
        """

    @abstractmethod
    async def stat(self, path: str) -> FileInfo:
        """Describe ``path`` (a file, or a directory: a prefix of some file's path)."""

    @abstractmethod
    async def list(self, path: str) -> list[str]:
        """The full paths of the direct children of directory ``path``, sorted.

        A missing path raises ``PathNotFoundError``; the root of an empty driver lists ``[]``.
        """

    @abstractmethod
    async def move(self, source: str, dest: str) -> None:
        """Move the file ``source`` to ``dest``, replacing what is there."""

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Delete the file or the whole tree at ``path``; ``PathNotFoundError`` if nothing is there."""

    @abstractmethod
    def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file and directory below ``path``, depth first, children in sorted order.

        ``PathNotFoundError`` (on the first iteration) if ``path`` does not exist.
        """

    async def url_for(self, path: str, *, method: str = "GET", expires_in: int = 1200) -> str:
        """A URL from which a client can read ``path`` directly, valid for ``expires_in`` seconds.

        Drivers that cannot (every driver but S3) raise ``UnsupportedMethodError``.
        """
        raise UnsupportedMethodError(path, "url_for", self.name)

    async def open_local(self, path: str) -> BinaryIO:
        """``path`` as a local file open for reading, for a caller that sends it itself (the server's file-sending
        extension) and closes it. ``PathNotFoundError`` if there is no such file.

        Drivers that do not keep files on a local filesystem (every driver but filesystem) raise
        ``UnsupportedMethodError``.
        """
        raise UnsupportedMethodError(path, "open_local", self.name)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and threads."""
