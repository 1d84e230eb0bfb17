"""Who may do what, decided once per request before storage is touched: one FastAPI dependency on every registry
route (:func:`authorize`), given by :func:`auth_dependencies` only when ``auth`` is configured.

What a request needs follows from its route and method, as in the Go registry: ``GET``/``HEAD`` pull; ``POST``,
``PUT``, ``PATCH`` pull and push; ``DELETE`` delete; every upload route (its status and cancel too) pull and
push; ``GET /v2/`` only an authenticated caller; ``_catalog`` lists what the caller may pull. The admitted
:class:`Caller` stays on ``request.state`` for the two routes that need more (the catalog filter, a mount's
source repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from registry_core.auth.access import AccessRules
from registry_core.auth.basic import MalformedCredentials, basic_credentials
from registry_core.auth.htpasswd import Htpasswd
from registry_core.auth.scope import CATALOG_ACCESS, ResourceAccess, repository_access
from registry_core.config import Settings
from registry_core.config.auth import AuthSettings, TokenSettings
from registry_core.errors import ErrorCode, RegistryError

PULL = ("pull",)
PULL_PUSH = ("pull", "push")
DELETE = ("delete",)
_READS = frozenset({"GET", "HEAD"})


class Caller(Protocol):
    """The admitted caller of a request."""

    @property
    def name(self) -> str | None:
        """The authenticated user's name (None: anonymous, or an open registry): the events' ``actor.name``."""
        ...

    def may(self, repository: str, action: str) -> bool: ...

    def lists(self, repository: str) -> bool:
        """Whether ``_catalog`` shows ``repository`` to this caller."""
        ...


class _Everyone:
    """The caller of an open registry (no ``auth`` section)."""

    name = None

    def may(self, repository: str, action: str) -> bool:
        return True

    def lists(self, repository: str) -> bool:
        return True


EVERYONE: Caller = _Everyone()


@dataclass(frozen=True)
class RulesCaller:
    """A user (``None``: anonymous) under the access rules."""

    user: str | None
    rules: AccessRules

    @property
    def name(self) -> str | None:
        return self.user

    def may(self, repository: str, action: str) -> bool:
        return self.rules.allows(self.user, repository, action)

    def lists(self, repository: str) -> bool:
        return self.may(repository, "pull")


@dataclass(frozen=True)
class Needed:
    """What a request needs: an authenticated caller (``GET /v2/``), the catalog, or access to repositories."""

    accesses: tuple[ResourceAccess, ...] = ()
    catalog: bool = False

    @property
    def scopes(self) -> tuple[ResourceAccess, ...]:
        return (CATALOG_ACCESS,) if self.catalog else self.accesses


BASE = Needed()
CATALOG = Needed(catalog=True)


def needed(request: Request) -> Needed:
    name: str | None = request.path_params.get("name")
    if name is None:
        return CATALOG if request.scope["path"] == "/v2/_catalog" else BASE
    method = request.method
    if request.scope["path"].startswith("/blobs/uploads/", len("/v2/") + len(name)):
        actions = PULL_PUSH
    elif method in _READS:
        actions = PULL
    elif method == "DELETE":
        actions = DELETE
    else:
        actions = PULL_PUSH
    return Needed((repository_access(name, *actions),))


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def access_detail(accesses: Sequence[ResourceAccess]) -> list[dict[str, Any]]:
    return [{"type": a.type, "name": a.name, "action": action} for a in accesses for action in sorted(a.actions)]


class Guard(Protocol):
    async def admit(self, request: Request, need: Needed) -> Caller:
        """The caller, if it may do what ``need`` says; else a :class:`RegistryError` (401 or 403)."""
        ...


@dataclass
class HtpasswdGuard:
    """``auth.htpasswd``: Basic credentials, checked against the file; then the access rules."""

    realm: str
    users: Htpasswd
    rules: AccessRules
    _challenge: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._challenge = {"WWW-Authenticate": f"Basic realm={quoted(self.realm)}"}

    def unauthorized(self, need: Needed) -> RegistryError:
        detail = access_detail(need.scopes) or None
        return RegistryError(ErrorCode.UNAUTHORIZED, detail, headers=self._challenge)

    async def admit(self, request: Request, need: Needed) -> Caller:
        user = await self._user(request, need)
        if need.catalog:
            if user is None and not self.rules.anonymous_possible:
                raise self.unauthorized(need)
        elif not need.accesses and user is None:
            raise self.unauthorized(need)
        for access in need.accesses:
            missing = access.actions - self.rules.actions(user, access.name)
            if missing:
                if user is None:
                    raise self.unauthorized(need)
                raise RegistryError(ErrorCode.DENIED, access_detail([replace(access, actions=missing)]))
        return RulesCaller(user, self.rules)

    async def _user(self, request: Request, need: Needed) -> str | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        try:
            credentials = basic_credentials(header)
        except MalformedCredentials:
            raise self.unauthorized(need) from None
        if credentials is None:  # another scheme (a Bearer token, say): not what this registry takes
            raise self.unauthorized(need)
        if not credentials.user and not credentials.password:
            return None  # some clients (containers/image) answer a Basic challenge with empty credentials
        if not await self.users.authenticate(credentials.user, credentials.password):
            raise self.unauthorized(need)
        return credentials.user


def token_guard(settings: TokenSettings, rules: AccessRules | None) -> Guard:
    from registry_core.web.token_auth import TokenGuard  # needs the JWT verifier only in token mode

    return TokenGuard.from_settings(settings, rules)


def build_guard(auth: AuthSettings) -> Guard | None:
    """The guard ``auth`` configures (``None``: an open registry). Raises ``ConfigError`` for unusable files."""
    if auth.htpasswd is not None:
        users = Htpasswd(auth.htpasswd.path)
        return HtpasswdGuard(auth.htpasswd.realm, users, AccessRules.from_settings(auth.access))
    if auth.token is not None:
        return token_guard(auth.token, None if auth.access is None else AccessRules.from_settings(auth.access))
    return None


async def authorize(request: Request) -> None:
    """The dependency: admits the request (the caller lands on ``request.state.caller``) or raises 401/403.

    ``async`` although most requests await nothing: a plain ``def`` dependency costs a thread hop."""
    guard: Guard = request.app.state.guard
    request.state.caller = await guard.admit(request, needed(request))


def auth_dependencies(settings: Settings) -> list[DependsParam]:
    """``[Depends(authorize)]`` for the registry routes when ``auth`` is configured, else nothing (no cost)."""
    return [Depends(authorize)] if settings.auth.mode is not None else []


def caller(request: Request) -> Caller:
    """The admitted caller of ``request`` (everyone, on an open registry).

    Read from the scope's state dict, where ``request.state.caller = ...`` put it: ``getattr(request.state, ...)``
    raises and catches an ``AttributeError`` on an open registry, on every event recorded."""
    found: Caller = request.scope.get("state", {}).get("caller", EVERYONE)
    return found
