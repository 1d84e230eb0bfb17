"""Descriptors: the handle through which every blob is read, served and cached.

A descriptor is the small metadata of a blob (its digest, size and media type), kept apart from the bytes so
that stat, access checks and caching never touch content (the Go registry's ``distribution.Descriptor``).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_core.digest import Digest

DEFAULT_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Descriptor:
    """What is known about a blob without reading it. Validated on construction, so caches admit only sane ones."""

    digest: Digest
    size: int
    media_type: str = DEFAULT_MEDIA_TYPE

    def __post_init__(self) -> None:
        if not isinstance(self.digest, Digest):
            raise TypeError(f"descriptor digest must be a Digest, not {type(self.digest).__name__}")
        if self.size < 0:
            raise ValueError(f"descriptor size must not be negative: {self.size}")
        if not self.media_type:
            raise ValueError("descriptor media type must not be empty")
