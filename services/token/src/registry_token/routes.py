"""``/token``: the Docker token protocol.

``GET /token?service=&scope=...`` (token.md): ``Authorization: Basic`` optional (without it, an anonymous token);
``offline_token=true`` with credentials adds a ``refresh_token``. ``POST /token`` (oauth.md): a form with
``grant_type=password`` (``access_type=offline`` adds a ``refresh_token``) or ``grant_type=refresh_token``
(:mod:`registry_token.oauth`).

A token grants what was asked for and is allowed (:mod:`registry_token.grants`): asking for more is no error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from registry_core.auth.basic import MalformedCredentials, basic_credentials
from registry_core.auth.scope import ResourceAccess, parse_scopes
from registry_token.form import InvalidForm, read_form
from registry_token.issuer import IssuedToken, rfc3339
from registry_token.metrics import Grant
from registry_token.oauth import OAuthRefusal, authorize
from registry_token.responses import bad_request, oauth_error, token_response, unauthorized
from registry_token.service import TokenService

log = logging.getLogger("registry.token")

router = APIRouter(tags=["token"])

TRUE = frozenset({"1", "t", "true"})
"""What Go's ``strconv.ParseBool`` reads as true (case aside), for ``offline_token``."""


def _service(request: Request) -> TokenService:
    service: TokenService = request.app.state.token_service
    return service


def _scopes(access: Sequence[ResourceAccess]) -> str:
    return " ".join(entry.scope for entry in access)


def _issued(tokens: TokenService, how: Grant, user: str | None, access: Sequence[ResourceAccess]) -> IssuedToken:
    issued = tokens.issuer.access_token(user, access)
    tokens.metrics.issued(how)
    log.info("token for %s (%s): %s", user or "anonymous", how, _scopes(access) or "no access")
    return issued


@router.get("/token")
async def get_token(request: Request) -> JSONResponse:
    tokens = _service(request)
    params = request.query_params
    service = params.get("service")
    if service is not None and service != tokens.service:
        tokens.metrics.refused("service")
        raise bad_request(f"this token server issues tokens for the service {tokens.service!r} only")
    try:
        credentials = basic_credentials(request.headers.get("authorization"))
    except MalformedCredentials:
        tokens.metrics.refused("credentials")
        raise unauthorized(tokens.service) from None
    user = None
    if credentials is not None:
        account = params.get("account")
        if account and account != credentials.user:
            tokens.metrics.refused("request")
            raise bad_request("the account parameter is not the user of the credentials")
        if not await tokens.authenticate(credentials.user, credentials.password):
            tokens.metrics.refused("credentials")
            log.info("token refused: wrong credentials for user %r", credentials.user)
            raise unauthorized(tokens.service)
        user = credentials.user
    access = tokens.grant(user, parse_scopes(params.getlist("scope")))
    issued = _issued(tokens, "anonymous" if user is None else "basic", user, access)
    body: dict[str, Any] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": rfc3339(issued.issued_at),
    }
    if user is not None and params.get("offline_token", "").lower() in TRUE:
        body["refresh_token"] = tokens.issuer.refresh_token(user)
    return token_response(body)


@router.post("/token")
async def post_token(request: Request) -> JSONResponse:
    tokens = _service(request)
    try:
        try:
            form = await read_form(request)
        except InvalidForm as exc:
            raise OAuthRefusal("invalid_request", str(exc)) from None
        granted = await authorize(tokens, form)
    except OAuthRefusal as refusal:
        tokens.metrics.refused(refusal.reason)
        return oauth_error(refusal.error, refusal.description, status=refusal.status, service=tokens.service)
    access = tokens.grant(granted.user, parse_scopes([form.get("scope", "")]))
    issued = _issued(tokens, granted.grant, granted.user, access)
    body: dict[str, Any] = {
        "access_token": issued.token,
        "scope": _scopes(access),
        "expires_in": issued.expires_in,
        "issued_at": rfc3339(issued.issued_at),
    }
    if granted.refresh_token is not None:
        body["refresh_token"] = granted.refresh_token
    return token_response(body)
