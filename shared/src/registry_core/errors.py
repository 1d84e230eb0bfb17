"""The registry's error vocabulary: one table of OCI / Docker API v2 error codes.

Every client mistake becomes a :class:`RegistryError` carrying one of these codes; the web layer turns it
into ``{"errors": [{"code", "message", "detail"}]}`` with the code's HTTP status. Domain code raises
``RegistryError(ErrorCode.BLOB_UNKNOWN, detail=...)``; routes never build error bodies by hand.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.Enum):
    """(message, HTTP status) per code, as the distribution spec and the Go registry define them."""

    BLOB_UNKNOWN = ("blob unknown to registry", 404)
    BLOB_UPLOAD_INVALID = ("blob upload invalid", 400)
    BLOB_UPLOAD_UNKNOWN = ("blob upload unknown to registry", 404)
    DIGEST_INVALID = ("provided digest did not match uploaded content", 400)
    MANIFEST_BLOB_UNKNOWN = ("manifest references a manifest or blob unknown to registry", 400)
    MANIFEST_INVALID = ("manifest invalid", 400)
    MANIFEST_UNKNOWN = ("manifest unknown to registry", 404)
    NAME_INVALID = ("invalid repository name", 400)
    NAME_UNKNOWN = ("repository name not known to registry", 404)
    SIZE_INVALID = ("provided length did not match content length", 400)
    TAG_INVALID = ("manifest tag did not match URI", 400)
    UNAUTHORIZED = ("authentication required", 401)
    DENIED = ("requested access to the resource is denied", 403)
    UNSUPPORTED = ("the operation is unsupported", 405)
    TOOMANYREQUESTS = ("too many requests", 429)
    RANGE_INVALID = ("requested range not satisfiable", 416)
    PAGINATION_NUMBER_INVALID = ("invalid number of results requested", 400)
    UNAVAILABLE = ("service unavailable", 503)
    STORAGE_FULL = ("the registry's storage is out of space", 507)
    """Ours (the spec has no code for it): a write found no space; the same request succeeds once there is."""

    @property
    def message(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


class RegistryError(Exception):
    """A failure the client is told about, as an OCI error body with the code's status.

    ``status`` overrides the code's default where the spec asks for another (for example 416 for an upload
    chunk out of order, which the spec still reports as ``BLOB_UPLOAD_INVALID``). ``headers`` are added to
    the response (for example the current ``Range`` of an upload).
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: Any = None,
        *,
        message: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.message = message or code.message
        self.status = status or code.status
        self.headers = headers or {}
        super().__init__(f"{code.name}: {self.message}" + (f" ({detail})" if detail is not None else ""))

    def body(self) -> dict[str, list[dict[str, Any]]]:
        entry: dict[str, Any] = {"code": self.code.name, "message": self.message}
        entry["detail"] = self.detail if self.detail is not None else {}
        return {"errors": [entry]}
