"""The token endpoint's answers: token bodies (never cached), and its two error vocabularies.

``GET /token`` (token.md) answers errors as the registry does, ``{"errors": [...]}``, which the Docker client
parses; ``POST /token`` (oauth.md) answers RFC 6749's ``{"error", "error_description"}``. Neither ever holds a
password or a token.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from registry_core.errors import ErrorCode, RegistryError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 5.1: responses holding tokens must not be cached."""


def basic_challenge(service: str) -> dict[str, str]:
    realm = service.replace("\\", "\\\\").replace('"', '\\"')  # a quoted-string (RFC 9110 5.6.4)
    return {"WWW-Authenticate": f'Basic realm="{realm}"'}


def token_response(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def unauthorized(service: str) -> RegistryError:
    return RegistryError(
        ErrorCode.UNAUTHORIZED, message="invalid username or password", headers=basic_challenge(service)
    )


def bad_request(message: str) -> RegistryError:
    return RegistryError(ErrorCode.UNSUPPORTED, message=message, status=400)


def oauth_error(error: str, description: str, *, status: int = 400, service: str | None = None) -> JSONResponse:
    headers = {**NO_STORE, **(basic_challenge(service) if status == 401 and service else {})}
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)
