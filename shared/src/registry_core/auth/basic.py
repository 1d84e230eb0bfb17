"""``Authorization: Basic`` credentials, as clients send them to the registry (htpasswd mode) and the token server."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class MalformedCredentials(Exception):
    """A ``Basic`` header that does not decode to ``user:password``: refused like wrong credentials."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never the password, even in a traceback
        return f"Credentials(user={self.user!r})"


def basic_credentials(header: str | None) -> Credentials | None:
    """The credentials of a ``Basic`` header; ``None`` without one (another scheme is ignored, as Go's
    ``Request.BasicAuth`` does: the client is then anonymous)."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedCredentials("not base64 of UTF-8 text") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise MalformedCredentials("no ':' between user and password")
    return Credentials(user, password)
