"""What a token grants: each requested resource's actions intersected with what the rules allow the user.

Asking for more than one may do is not an error (token.md): what is not allowed is simply left out, and so are
resources of unknown types and invalid repository names.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry_core.auth.access import ACTIONS, AccessRules
from registry_core.auth.scope import CATALOG_ACCESS, REPOSITORY, ResourceAccess
from registry_core.errors import RegistryError
from registry_core.names import validate_name

WILDCARD = "*"


def merge(requested: Iterable[ResourceAccess]) -> list[ResourceAccess]:
    """One entry per resource (the union of its requested actions), in the order first asked for."""
    merged: dict[tuple[str, str], set[str]] = {}
    for access in requested:
        merged.setdefault((access.type, access.name), set()).update(access.actions)
    return [ResourceAccess(type_, name, frozenset(actions)) for (type_, name), actions in merged.items()]


def _valid_repository(name: str) -> bool:
    try:
        validate_name(name)
    except RegistryError:
        return False
    return True


def granted_actions(rules: AccessRules, user: str | None, access: ResourceAccess) -> frozenset[str]:
    """``user`` (``None``: anonymous) gets these of ``access.actions``."""
    if access.type == REPOSITORY:
        if not _valid_repository(access.name):
            return frozenset()
        wanted = ACTIONS if WILDCARD in access.actions else access.actions
        return wanted & rules.actions(user, access.name)
    if (access.type, access.name) == (CATALOG_ACCESS.type, CATALOG_ACCESS.name):
        allowed = user is not None or rules.anonymous_possible
        return access.actions & CATALOG_ACCESS.actions if allowed else frozenset()
    return frozenset()


def grant(rules: AccessRules, user: str | None, requested: Iterable[ResourceAccess]) -> list[ResourceAccess]:
    """The token's ``access``: the requested resources with the actions granted, those granted nothing left out."""
    granted = []
    for access in merge(requested):
        actions = granted_actions(rules, user, access)
        if actions:
            granted.append(ResourceAccess(access.type, access.name, actions))
    return granted
