"""One id per request, from the gateway or made here: in the logs, the ``X-Request-Id`` response header, the
notifications' ``request.id`` and the trace.

A pure-ASGI middleware (the outermost one) sets :data:`REQUEST_ID` for the request's task, so that any code
below, and any log line written while serving it, can read the id without a ``Request`` at hand. An id sent
by the gateway (nginx's ``$request_id``) is kept when it is a plain token, so one id follows the request
through every hop; anything else is replaced, never echoed.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str | None] = ContextVar("registry_request_id", default=None)

HEADER = b"x-request-id"
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:-]{8,128}")


def current_request_id() -> str | None:
    """The id of the request being served by this task, or None outside a request."""
    return REQUEST_ID.get()


def incoming_request_id(scope: Scope) -> str:
    """The gateway's ``X-Request-Id`` when it is a plain token of 8 to 128 characters, else a new uuid4."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if _ACCEPTED.fullmatch(value):
                return value.decode("ascii")
            break
    return str(uuid.uuid4())


class RequestContextMiddleware:
    """Gives each HTTP request its id (:data:`REQUEST_ID`, ``scope["state"]["request_id"]``) and answers it in
    ``X-Request-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
