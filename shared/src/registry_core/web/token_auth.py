"""``auth.token``: Bearer JWTs from a token server, verified by this process alone (keys from the config; verified
tokens cached by signature in :class:`~registry_core.auth.tokens.TokenVerifier`), authorized from their
``access`` claim. The challenge names what the request needs, as the Docker token protocol asks."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from registry_core.auth.access import AccessRules
from registry_core.auth.scope import REPOSITORY
from registry_core.auth.tokens import TokenError, TokenVerifier, VerifiedToken
from registry_core.config.auth import TokenSettings
from registry_core.errors import ErrorCode, RegistryError
from registry_core.web.auth import Caller, Needed, access_detail, quoted


@dataclass(frozen=True)
class TokenCaller:
    """The bearer of a verified token; ``rules`` (``auth.access`` on the registry, if set) filter the catalog."""

    token: VerifiedToken
    rules: AccessRules | None

    @property
    def name(self) -> str | None:
        return self.token.subject or None

    def may(self, repository: str, action: str) -> bool:
        return action in self.token.actions(REPOSITORY, repository)

    def lists(self, repository: str) -> bool:
        return self.rules is None or self.rules.allows(self.token.subject or None, repository, "pull")


@dataclass
class TokenGuard:
    realm: str
    service: str
    verifier: TokenVerifier
    rules: AccessRules | None

    @classmethod
    def from_settings(cls, settings: TokenSettings, rules: AccessRules | None) -> TokenGuard:
        return cls(settings.realm, settings.service, TokenVerifier.from_settings(settings), rules)

    def challenge(self, need: Needed, error: str | None = None) -> RegistryError:
        header = f"Bearer realm={quoted(self.realm)},service={quoted(self.service)}"
        if need.scopes:
            header += f",scope={quoted(' '.join(access.scope for access in need.scopes))}"
        if error is not None:
            header += f",error={quoted(error)}"
        detail = access_detail(need.scopes) or None
        return RegistryError(ErrorCode.UNAUTHORIZED, detail, headers={"WWW-Authenticate": header})

    async def admit(self, request: Request, need: Needed) -> Caller:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise self.challenge(need)
        try:
            token = self.verifier.verify(credentials.strip())
        except TokenError:
            raise self.challenge(need, "invalid_token") from None
        if need.catalog and "*" not in token.actions("registry", "catalog"):
            raise self.challenge(need, "insufficient_scope")
        for access in need.accesses:
            if not access.actions <= token.actions(access.type, access.name):
                raise self.challenge(need, "insufficient_scope")
        return TokenCaller(token, self.rules)
