"""``auth``: who may do what. The Go registry's ``htpasswd`` and ``token`` modes, and our ``access`` rules.

Exactly one mode may be configured (as in Go: one access controller). ``access`` is ours: a list of rules
``{repository: <glob>, users: [...], actions: [pull, push, delete]}``, evaluated by
:class:`registry_core.auth.access.AccessRules` (what the token service evaluates too).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from registry_core.config.base import NonEmptyStr, _Section

Action = Literal["pull", "push", "delete"]
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
"""The JWS algorithms a token may be signed with (asymmetric only: ``none`` and HMAC are never accepted)."""


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else [] if value is None else value


class AccessRuleSettings(_Section):
    """One rule: ``users`` may do ``actions`` on the repositories ``repository`` (a glob) matches.

    ``users`` holds user names, ``"*"`` (any authenticated user) and ``"anonymous"`` (requests without
    credentials). In a glob, ``*`` matches within one path segment and ``**`` across segments.
    """

    repository: NonEmptyStr
    users: Annotated[list[NonEmptyStr], BeforeValidator(_one_or_many)] = Field(min_length=1)
    actions: Annotated[list[Action], BeforeValidator(_one_or_many)] = Field(min_length=1)

    @field_validator("actions", mode="before")
    @classmethod
    def _expand_star(cls, value: Any) -> Any:
        if value == "*" or value == ["*"]:
            return ["pull", "push", "delete"]
        return value


AccessRuleList = Annotated[list[AccessRuleSettings], BeforeValidator(_one_or_many)]


class HtpasswdSettings(_Section):
    """Go's ``auth.htpasswd``: Basic authentication against an Apache htpasswd file of bcrypt entries."""

    realm: NonEmptyStr = "registry"
    path: NonEmptyStr


class TokenSettings(_Section):
    """Go's ``auth.token``: Bearer JWTs issued by a token server (ours, ``registry serve token``, or any other)."""

    realm: NonEmptyStr
    service: NonEmptyStr
    issuer: NonEmptyStr
    rootcertbundle: NonEmptyStr | None = None
    jwks: NonEmptyStr | None = None
    signingalgorithms: Annotated[list[str], BeforeValidator(_one_or_many)] = list(SIGNING_ALGORITHMS)
    autoredirect: bool = False

    @field_validator("signingalgorithms")
    @classmethod
    def _known_algorithms(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in SIGNING_ALGORITHMS]
        if unknown:
            supported = ", ".join(SIGNING_ALGORITHMS)
            raise ValueError(f"unsupported algorithm(s) {', '.join(unknown)}: give some of {supported}")
        if not names:
            raise ValueError("must name at least one algorithm")
        return names

    @field_validator("autoredirect")
    @classmethod
    def _no_autoredirect(cls, value: bool) -> bool:
        if value:
            raise ValueError("is not supported: the realm is sent as configured")
        return value

    @model_validator(mode="after")
    def _some_keys(self) -> TokenSettings:
        if not self.rootcertbundle and not self.jwks:
            raise ValueError("auth.token: needs rootcertbundle or jwks (the keys tokens are signed with)")
        return self


class AuthSettings(_Section):
    htpasswd: HtpasswdSettings | None = None
    token: TokenSettings | None = None
    access: AccessRuleList | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_modes(cls, data: Any) -> Any:
        if isinstance(data, dict):
            others = sorted(set(data) - {"htpasswd", "token", "access"})
            if others:
                raise ValueError(
                    f"auth.{others[0]}: is not supported: the modes are htpasswd and token (with access rules)"
                )
        return data

    @model_validator(mode="after")
    def _one_mode(self) -> AuthSettings:
        if self.htpasswd is not None and self.token is not None:
            raise ValueError("auth: configure one of htpasswd and token, not both")
        if self.access is not None and self.mode is None:
            raise ValueError("auth.access: needs auth.htpasswd or auth.token (who the users are)")
        return self

    @property
    def mode(self) -> Literal["htpasswd", "token"] | None:
        if self.htpasswd is not None:
            return "htpasswd"
        if self.token is not None:
            return "token"
        return None
