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


def compile_name_glob(pattern: str) -> re.Pattern[str]:
    """A glob over repository names as a regex: ``*`` is any part of one path segment (never ``/``), ``?`` one
    character of it, and a ``**`` segment zero or more whole segments (``team-a/**`` matches ``team-a`` itself and
    ``team-a/x/y``; ``a/**/b`` matches ``a/b``). Use with ``fullmatch``. ``ValueError`` for a malformed pattern."""
    if not pattern:
        raise ValueError("must not be empty")
    segments = pattern.split("/")
    if "" in segments:
        raise ValueError(f"{pattern!r} has an empty path segment (a leading, trailing or doubled '/')")
    for segment in segments:
        if "**" in segment and segment != "**":
            raise ValueError(f"{pattern!r}: '**' must be a whole path segment (a/**/b), not part of {segment!r}")
    segments = [s for i, s in enumerate(segments) if not (s == "**" and i and segments[i - 1] == "**")]
    if segments == ["**"]:
        return re.compile(r"[^/]+(?:/[^/]+)*")
    regex = ""
    slash = False  # whether the next literal segment needs a "/" before it
    for index, segment in enumerate(segments):
        if segment == "**":  # zero or more segments, with their slashes
            regex += "(?:/[^/]+)*" if index else "(?:[^/]+/)*"
            slash = bool(index)
        else:
            glob = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment)
            regex += ("/" if slash else "") + glob
            slash = True
    return re.compile(regex)
