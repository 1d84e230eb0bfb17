"""The access log: one line per request, written when its response is complete (``log.accesslog``).

Text: ``127.0.0.1:5312 "GET /v2/app/blobs/sha256:... HTTP/1.1" 200 1024 0.412ms`` followed by the fields; JSON:
the same as ``msg`` with the fields as keys, named as the Go registry names them (``http.request.id``,
``http.request.method``, ``http.request.uri``, ``http.request.remoteaddr``, ``http.request.useragent``,
``http.response.status``, ``http.response.written``, ``http.response.duration`` in seconds, ``vars.name``,
``vars.digest``, ``vars.reference``). Pure ASGI; added by ``create_service_app`` only when the log is on.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_core.web.zerocopy import ZERO_COPY

log = logging.getLogger("registry.access")

_PATH_VARS = ("name", "digest", "reference")
IN_MESSAGE = frozenset(
    {
        "http.request.method",
        "http.request.uri",
        "http.request.remoteaddr",
        "http.response.status",
        "http.response.written",
        "http.response.duration",
    }
)
"""Fields the text line already shows in its message (the text formatter does not repeat them)."""


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):  # log.level above info: no line to write
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers when the app fails before starting a response
        written = 0

        async def send_counted(message: Message) -> None:
            nonlocal status, written
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body":
                written += len(message.get("body", b""))
            elif kind == ZERO_COPY:
                written += message.get("count") or 0
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            message, values, fields = access_line(scope, status, written, time.perf_counter() - start)
            fields["http.request.id"] = scope.get("state", {}).get("request_id")
            log.info(message, *values, extra={"fields": fields, "in_message": IN_MESSAGE})


def access_line(scope: Scope, status: int, written: int, seconds: float) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """The line's format, its values, and its fields (Go's key names)."""
    client = scope.get("client")
    remote = f"{client[0]}:{client[1]}" if client else "-"
    agent = next((value for name, value in scope.get("headers", ()) if name == b"user-agent"), b"")
    uri = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
    fields: dict[str, Any] = {
        "http.request.method": scope["method"],
        "http.request.uri": uri,
        "http.request.remoteaddr": remote,
        "http.request.useragent": agent.decode("latin-1"),
        "http.response.status": status,
        "http.response.written": written,
        "http.response.duration": round(seconds, 6),
    }
    params = scope.get("path_params") or {}  # set by the router in the same scope once a route matched
    for var in _PATH_VARS:
        if var in params:
            fields[f"vars.{var}"] = params[var]
    values = (remote, scope["method"], uri, scope.get("http_version", "1.1"), status, written, seconds * 1e3)
    return '%s "%s %s HTTP/%s" %d %d %.3fms', values, fields
