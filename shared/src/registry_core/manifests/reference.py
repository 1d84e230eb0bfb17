"""The ``<reference>`` of ``/v2/<name>/manifests/<reference>``: a digest or a tag, nothing else.

Anything with a ``:`` is read as a digest (``DIGEST_INVALID``, 400, if malformed or of an algorithm we do not
serve: the spec asks for 400 there); anything else must match the tag grammar (``TAG_INVALID``, 400). A read
names something that may exist: there a tag outside the grammar is simply not found (:func:`parse_lookup`).
"""

from __future__ import annotations

from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.names import validate_tag

Reference = Digest | str
"""A manifest digest, or a tag."""


def parse_digest(value: str) -> Digest:
    """``Digest.parse``, with every refusal reported as ``DIGEST_INVALID`` (400)."""
    try:
        return Digest.parse(value)
    except RegistryError as exc:
        if exc.code is ErrorCode.DIGEST_INVALID:
            raise
        raise RegistryError(ErrorCode.DIGEST_INVALID, exc.detail, message=exc.message) from None


def parse_reference(value: str) -> Reference:
    """A :class:`Digest` if ``value`` is one, else ``value`` as a validated tag."""
    if ":" in value:
        return parse_digest(value)
    return validate_tag(value)


def parse_lookup(value: str) -> Reference:
    """:func:`parse_reference` for a GET or HEAD: a tag outside the grammar names no manifest, so it is
    ``MANIFEST_UNKNOWN`` (404, as the spec says of a manifest not found, the conformance suite checks with
    ``.INVALID_MANIFEST_NAME``, and the Go registry's router answers); a malformed digest stays ``DIGEST_INVALID``."""
    try:
        return parse_reference(value)
    except RegistryError as exc:
        if exc.code is not ErrorCode.TAG_INVALID:
            raise
        raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, exc.detail, message="manifest tag unknown") from None
