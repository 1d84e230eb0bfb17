"""The body of ``POST /token``: an ``application/x-www-form-urlencoded`` form, each parameter at most once."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

MAX_FORM_BYTES = 64 * 1024
"""A token request is a few hundred bytes; a larger body is refused unread."""

FORM_TYPE = "application/x-www-form-urlencoded"


class InvalidForm(Exception):
    """The body is not a form this endpoint takes; the message says why (and never holds a value)."""


async def read_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidForm(f"the body must be {FORM_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidForm(f"the body is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidForm("the body is not a UTF-8 form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidForm(f"parameter {name!r} is given more than once")
        form[name] = value
    return form
