"""The OAuth2 grants of ``POST /token`` (oauth.md): who the client is, from its form, and its refresh token."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from registry_token.metrics import Grant, Refusal
from registry_token.service import TokenService

log = logging.getLogger("registry.token")

GRANT_TYPES: tuple[Grant, ...] = ("password", "refresh_token")


class OAuthRefusal(Exception):
    """Answered as RFC 6749's ``{"error", "error_description"}``; ``reason`` is the refusal counter's label."""

    def __init__(self, error: str, description: str, reason: Refusal = "request", status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.reason, self.status = error, description, reason, status


def required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthRefusal("invalid_request", f"the parameter {name!r} is required")
    return value


@dataclass(frozen=True)
class Granted:
    grant: Grant
    user: str
    refresh_token: str | None


def grant_type(form: dict[str, str]) -> Grant:
    name = required(form, "grant_type")
    for known in GRANT_TYPES:
        if name == known:
            return known
    raise OAuthRefusal("unsupported_grant_type", "the grant types are password and refresh_token")


async def password_grant(tokens: TokenService, form: dict[str, str]) -> Granted:
    user, password = required(form, "username"), required(form, "password")
    if not await tokens.authenticate(user, password):
        log.info("token refused: wrong credentials for user %r", user)
        raise OAuthRefusal("invalid_grant", "invalid username or password", "credentials", 401)
    offline = form.get("access_type") == "offline"
    return Granted("password", user, tokens.issuer.refresh_token(user) if offline else None)


def refresh_grant(tokens: TokenService, form: dict[str, str]) -> Granted:
    refresh_token = required(form, "refresh_token")
    user = tokens.issuer.refresh_subject(refresh_token)
    if user is None or not tokens.is_user(user):
        log.info("token refused: %s", "an invalid refresh token" if user is None else f"user {user!r} is gone")
        raise OAuthRefusal("invalid_grant", "invalid or expired refresh token", "credentials", 401)
    return Granted("refresh_token", user, refresh_token)  # oauth.md: the same refresh token, not a new one


async def authorize(tokens: TokenService, form: dict[str, str]) -> Granted:
    """Checks the form in the order a client can best act on: grant type, service, client, credentials."""
    grant = grant_type(form)
    if required(form, "service") != tokens.service:
        message = f"this token server issues tokens for the service {tokens.service!r} only"
        raise OAuthRefusal("invalid_request", message, "service")
    required(form, "client_id")
    if grant == "password":
        return await password_grant(tokens, form)
    return refresh_grant(tokens, form)
