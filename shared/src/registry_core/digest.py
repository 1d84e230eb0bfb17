"""Content digests: parsing, validation and incremental hashing.

A digest is ``<algorithm>:<hex>``. We accept the algorithms the OCI image spec registers and the Go
registry serves: ``sha256`` (64 hex) and ``sha512`` (128 hex). Anything else is refused with ``DIGEST_INVALID``
(400), a well-formed digest of another algorithm (``md5:...``) too: it is the client's mistake, not an operation
the registry lacks (``UNSUPPORTED`` is 405), and the Go registry answers the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from registry_core.errors import ErrorCode, RegistryError

ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
"""Supported algorithm -> length of its lowercase hex encoding."""

CANONICAL_ALGORITHM = "sha256"

# The OCI image spec grammar: algorithm-component(+separator)* ":" encoded.
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class Hasher(Protocol):
    """What ``hashlib`` objects offer; the live hashing state of an upload."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Hasher: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Parse and validate ``value``; raise ``RegistryError`` (DIGEST_INVALID) if bad."""
        if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
            raise RegistryError(
                ErrorCode.DIGEST_INVALID, detail={"digest": str(value)}, message="invalid digest format"
            )
        algorithm, _, encoded = value.partition(":")
        length = ALGORITHMS.get(algorithm)
        if length is None:
            raise RegistryError(
                ErrorCode.DIGEST_INVALID,
                detail={"digest": value},
                message=f"unsupported digest algorithm {algorithm!r}",
            )
        if len(encoded) != length or not all(c in "0123456789abcdef" for c in encoded):
            raise RegistryError(
                ErrorCode.DIGEST_INVALID,
                detail={"digest": value},
                message=f"invalid {algorithm} digest: want {length} lowercase hex characters",
            )
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = CANONICAL_ALGORITHM) -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


def new_hasher(algorithm: str = CANONICAL_ALGORITHM) -> Hasher:
    """A fresh OpenSSL-backed hasher (``hashlib``): the fast path for streaming uploads."""
    if algorithm not in ALGORITHMS:
        raise RegistryError(ErrorCode.DIGEST_INVALID, message=f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)
