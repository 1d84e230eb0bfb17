"""Repository names and tags, per the OCI distribution spec grammar.

- name: ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*``, at most 255 characters.
- tag: ``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``.

These grammars also keep every name and tag a safe storage path component: no ``..``, no empty or ``.``
components, no characters the driver path grammar refuses.
"""

from __future__ import annotations

import re

from registry_core.errors import ErrorCode, RegistryError

MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def validate_name(name: str) -> str:
    """Return ``name`` or raise ``NAME_INVALID`` saying why."""
    if len(name) > MAX_NAME_LENGTH:
        raise RegistryError(
            ErrorCode.NAME_INVALID,
            detail={"name": name[:64] + "…"},
            message=f"repository name must not be longer than {MAX_NAME_LENGTH} characters",
        )
    if not NAME_RE.fullmatch(name):
        raise RegistryError(ErrorCode.NAME_INVALID, detail={"name": name}, message="invalid repository name")
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` or raise ``TAG_INVALID``."""
    if not TAG_RE.fullmatch(tag):
        raise RegistryError(ErrorCode.TAG_INVALID, detail={"tag": tag}, message="invalid tag")
    return tag
