"""The JWTs this service signs: access tokens for the registry, and refresh tokens it takes back itself.

An access token's header carries both ``x5c`` (the certificate chain) and ``kid`` (the libtrust key ID of the
key), so that a registry configured with either ``rootcertbundle`` or ``jwks`` accepts it.

Refresh tokens are stateless, so that replicas share nothing: a JWT signed by the same key for the audience
``<service>:refresh`` (never a registry's), with the user as subject and a fixed :data:`REFRESH_LIFETIME`.
They cannot be revoked one by one: removing the user from the htpasswd file ends them all.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_core.auth.jwt import TokenError, sign
from registry_core.auth.libtrust import key_id
from registry_core.auth.scope import ResourceAccess
from registry_core.auth.tokens import TokenVerifier
from registry_core.config import TokenServiceSettings
from registry_token.keys import SigningKey

log = logging.getLogger("registry.token")

REFRESH_LIFETIME = timedelta(hours=24)
"""How long a refresh token (``access_type=offline``, ``offline_token=true``) may be exchanged for access tokens."""

MIN_LIFETIME = 60
"""token.md: "a token should never be returned with less than 60 seconds to live" (older clients assume so)."""

NOT_BEFORE_SKEW = timedelta(seconds=10)
"""``nbf`` is set this far in the past, so that a registry whose clock is slightly behind accepts new tokens."""


def refresh_audience(service: str) -> str:
    return f"{service}:refresh"


def rfc3339(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: int
    """Seconds since the epoch (the ``iat`` claim)."""
    expires_in: int
    """Seconds from ``issued_at``."""


class TokenIssuer:
    def __init__(
        self, settings: TokenServiceSettings, key: SigningKey, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.issuer = settings.issuer
        self.service = settings.service
        self.lifetime = int(settings.expiration.total_seconds())
        if self.lifetime < MIN_LIFETIME:
            log.warning("services.token.expiration: under %ds, which older clients assume at least", MIN_LIFETIME)
        self._key = key
        self._key_id = key_id(key.private_key.public_key())
        self._clock = clock
        self._refresh_verifier = TokenVerifier(
            issuer=settings.issuer, audience=refresh_audience(settings.service), roots=[key.certificate]
        )

    def _claims(self, subject: str, audience: str, lifetime: int) -> dict[str, Any]:
        now = int(self._clock())
        return {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + lifetime,
            "nbf": now - int(NOT_BEFORE_SKEW.total_seconds()),
            "iat": now,
            "jti": secrets.token_urlsafe(24),
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return sign(claims, self._key.private_key, x5c=self._key.chain, kid=self._key_id)

    def access_token(self, user: str | None, access: Sequence[ResourceAccess]) -> IssuedToken:
        """For the configured service; ``user`` is ``None`` for an anonymous client (``sub`` is then ``""``)."""
        claims = self._claims(user or "", self.service, self.lifetime)
        claims["access"] = [entry.claim() for entry in access]
        return IssuedToken(self._sign(claims), claims["iat"], self.lifetime)

    def refresh_token(self, user: str) -> str:
        lifetime = int(REFRESH_LIFETIME.total_seconds())
        return self._sign(self._claims(user, refresh_audience(self.service), lifetime))

    def refresh_subject(self, token: str) -> str | None:
        """The user a refresh token of ours was issued to; ``None`` if it is not one (or no longer valid)."""
        try:
            verified = self._refresh_verifier.verify(token)
        except TokenError:
            return None
        return verified.subject or None
