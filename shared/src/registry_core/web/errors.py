"""One place where failures become OCI error responses: ``{"errors": [{"code", "message", "detail"}]}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from registry_core.errors import ErrorCode, RegistryError
from registry_core.storage.driver import StorageError
from registry_core.storage_errors import registry_error

log = logging.getLogger("registry.web")

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request its client abandoned: recorded (metrics), never sent."""

# Statuses starlette raises itself (unknown route, wrong method), in the registry's vocabulary.
_HTTP_STATUS_CODES: dict[int, ErrorCode] = {404: ErrorCode.NAME_UNKNOWN, 405: ErrorCode.UNSUPPORTED}


def error_response(exc: RegistryError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _registry_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_STATUS_CODES.get(exc.status_code, ErrorCode.UNSUPPORTED)
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    detail = {"method": request.method, "path": request.url.path}
    return error_response(RegistryError(code, detail, message=message, status=exc.status_code))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    return error_response(RegistryError(ErrorCode.UNSUPPORTED, detail, message="invalid request", status=400))


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A storage condition the client is told about (full, unavailable), logged once here with its path; any
    other storage failure is unexpected."""
    assert isinstance(exc, StorageError)
    mapped = registry_error(exc)
    if mapped is None:
        return await _unexpected_error(request, exc)
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response(mapped)


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    """A client that hangs up in the middle of its request body is not a server error: one line, no traceback
    (the catch-all below would log one and uvicorn a second, as the 500 cannot be sent)."""
    assert isinstance(exc, ClientDisconnect)
    log.info("%s %s: the client disconnected before the end of the request body", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette runs this outside every middleware (the request context is gone by then): the request's id comes
    from the scope, into the log line and the answer, where it is needed most."""
    request_id = request.scope.get("state", {}).get("request_id")
    fields = {} if request_id is None else {"http.request.id": request_id}
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc, extra={"fields": fields})
    body = {"errors": [{"code": "UNKNOWN", "message": "unknown error", "detail": {}}]}
    headers = {} if request_id is None else {"X-Request-Id": request_id}
    return JSONResponse(body, status_code=500, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected_error)
