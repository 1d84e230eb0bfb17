"""The token service's state, built once at start-up: the key, the users, the rules, and the counters."""

from __future__ import annotations

from collections.abc import Iterable

from registry_core.auth.access import AccessRules
from registry_core.auth.htpasswd import Htpasswd
from registry_core.auth.scope import ResourceAccess
from registry_core.config import TokenServiceSettings
from registry_token.grants import grant
from registry_token.issuer import TokenIssuer
from registry_token.keys import load_signing_key
from registry_token.metrics import TokenMetrics

HTPASSWD_KEY = "services.token.htpasswd"


class TokenService:
    """Who a client is and what it gets; the routes only speak HTTP. Raises ``ConfigError`` at construction when
    the key, its certificate or the htpasswd file cannot be used."""

    def __init__(self, settings: TokenServiceSettings, metrics: TokenMetrics) -> None:
        self.service = settings.service
        self.issuer = TokenIssuer(settings, load_signing_key(settings))
        self.users = None if settings.htpasswd is None else Htpasswd(settings.htpasswd, key=HTPASSWD_KEY)
        self.rules = AccessRules.from_settings(settings.access)
        self.metrics = metrics

    async def authenticate(self, user: str, password: str) -> bool:
        """Without an htpasswd file there are no users: every credential is wrong."""
        return self.users is not None and await self.users.authenticate(user, password)

    def is_user(self, user: str) -> bool:
        """Still in the htpasswd file (a refresh token outlives nothing else)."""
        return self.users is not None and user in self.users

    def grant(self, user: str | None, requested: Iterable[ResourceAccess]) -> list[ResourceAccess]:
        return grant(self.rules, user, requested)
