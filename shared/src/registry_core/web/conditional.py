"""Conditional requests: ``If-None-Match`` against the ``ETag`` of a blob or manifest (``"<digest>"``).

RFC 9110 §13.1.2: the header is ``*`` or a comma-separated list of entity tags, compared weakly (a ``W/`` prefix
is ignored); a match means the client's copy is current, so a GET or HEAD answers 304. As the Go registry does,
an unquoted tag (a bare digest, as some clients send) is accepted too. The header may be repeated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import Request

_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"|([^,\s]+)')
"""One list member: a (possibly weak) quoted tag, or an unquoted token (``*`` or a bare tag)."""


def opaque_tag(etag: str) -> str:
    """The comparable part of an entity tag: without ``W/`` and the quotes (``W/"x"``, ``"x"`` and ``x`` give ``x``)."""
    match = _ENTITY_TAG.fullmatch(etag.strip())
    if match is None:
        return etag.strip()
    return match[1] if match[1] is not None else match[2]


def etag_matches(if_none_match: Iterable[str], etag: str) -> bool:
    """Whether any ``If-None-Match`` value (each ``*`` or a list of tags) matches ``etag``, weakly."""
    wanted = opaque_tag(etag)
    for value in if_none_match:
        for match in _ENTITY_TAG.finditer(value):
            quoted, token = match[1], match[2]
            if token == "*" or (quoted if quoted is not None else token) == wanted:
                return True
    return False


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``request`` already holds the representation tagged ``etag`` (answer 304 Not Modified)."""
    return etag_matches(request.headers.getlist("if-none-match"), etag)
