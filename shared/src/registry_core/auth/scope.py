"""Docker token scopes: ``repository:<name>:<action>,<action>`` (and ``registry:catalog:*``), parsed and written.

What a request needs is a tuple of :class:`ResourceAccess`; the Bearer challenge's ``scope`` and a token's
``access`` claim are both written from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REPOSITORY = "repository"


@dataclass(frozen=True)
class ResourceAccess:
    """``actions`` on the resource ``type:name`` (a repository, or ``registry:catalog``)."""

    type: str
    name: str
    actions: frozenset[str]

    @property
    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def claim(self) -> dict[str, Any]:
        """As a token's ``access`` claim writes it."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def repository_access(name: str, *actions: str) -> ResourceAccess:
    return ResourceAccess(REPOSITORY, name, frozenset(actions))


CATALOG_ACCESS = ResourceAccess("registry", "catalog", frozenset({"*"}))


def parse_scope(scope: str) -> ResourceAccess | None:
    """One scope ``type[(class)]:name:actions``; ``None`` when malformed (a token server ignores those).

    The name may hold ``:`` (a registry host with a port), so the type is the first field and the actions the
    last, as the Go token servers split them.
    """
    type_, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not type_ or not name:
        return None
    type_ = type_.split("(", 1)[0]  # "repository(plugin)" is a repository
    return ResourceAccess(type_, name, frozenset(a for a in actions.split(",") if a))


def parse_scopes(values: Iterable[str]) -> list[ResourceAccess]:
    """Every ``scope`` parameter (each may hold several, space-separated), malformed ones left out."""
    found = []
    for value in values:
        for scope in value.split():
            parsed = parse_scope(scope)
            if parsed is not None:
                found.append(parsed)
    return found
