"""Storage conditions the client is told about: the storage driver's errors in the registry's (OCI) terms.

::

    driver (storage/driver.py)   registry (here)                 response
    StorageFullError          -> StorageFullRegistryError     -> 507 STORAGE_FULL
    StorageUnavailableError   -> StorageUnavailableRegistryError -> 503 UNAVAILABLE, Retry-After

Any other ``StorageError`` is the registry's own failure (500). The web layer asks :func:`registry_error` once,
for every route, so that no route matches storage errors itself. The response never names a storage path
(that is for the log): it tells the client what happened and when to try again.
"""

from __future__ import annotations

from registry_core.errors import ErrorCode, RegistryError
from registry_core.storage.driver import StorageError, StorageFullError, StorageUnavailableError

RETRY_AFTER_SECONDS = 10
"""What a 503 asks clients to wait: the S3 driver has retried for a few seconds already."""


class StorageFullRegistryError(RegistryError):
    """No space left in the storage: the write failed and left nothing half-visible; an upload keeps the bytes
    stored before the failure and resumes from its reported offset."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.STORAGE_FULL)


class StorageUnavailableRegistryError(RegistryError):
    """The storage backend is unreachable or failing: 503, and when to try again."""

    def __init__(self) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE,
            message="the registry's storage is unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def registry_error(exc: StorageError) -> RegistryError | None:
    """What the client is told about ``exc``; ``None`` when it is the registry's own failure (a 500)."""
    if isinstance(exc, StorageFullError):
        return StorageFullRegistryError()
    if isinstance(exc, StorageUnavailableError):
        return StorageUnavailableRegistryError()
    return None
