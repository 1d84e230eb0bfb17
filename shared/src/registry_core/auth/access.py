"""The one access-rules evaluator: ``(user, repository) -> actions``, for htpasswd mode and the token service.

A rule is ``{repository: <glob>, users: [...], actions: [...]}``; a user's actions on a repository are the union
over every rule that matches both. ``"*"`` in ``users`` is any authenticated user, ``"anonymous"`` a request
without credentials; what anonymous may do, every authenticated user may do too (logging in never reduces
access). Without rules (``None``), every authenticated user may do everything and anonymous nothing: the Go
registry's behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from registry_core.config.auth import AccessRuleSettings

ACTIONS: frozenset[str] = frozenset({"pull", "push", "delete"})
NOTHING: frozenset[str] = frozenset()
ANONYMOUS = "anonymous"
ANY_USER = "*"


def glob_pattern(glob: str) -> re.Pattern[str]:
    """``*`` matches within one path segment (no ``/``), ``**`` across segments; everything else is literal."""
    parts = []
    for index, piece in enumerate(glob.split("**")):
        if index:
            parts.append(".*")
        parts.append("[^/]*".join(re.escape(literal) for literal in piece.split("*")))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class AccessRule:
    repository: re.Pattern[str]
    users: frozenset[str]
    actions: frozenset[str]

    @classmethod
    def of(cls, settings: AccessRuleSettings) -> AccessRule:
        return cls(glob_pattern(settings.repository), frozenset(settings.users), frozenset(settings.actions))

    def applies(self, user: str | None, repository: str) -> bool:
        if user is None:
            who = ANONYMOUS in self.users
        else:
            who = user in self.users or ANY_USER in self.users or ANONYMOUS in self.users
        return who and self.repository.fullmatch(repository) is not None


class AccessRules:
    """``actions(user, repository)``; ``user`` is ``None`` for an anonymous request."""

    def __init__(self, rules: Sequence[AccessRule] | None) -> None:
        self._rules = None if rules is None else tuple(rules)
        self._cached = lru_cache(maxsize=4096)(self._evaluate)

    @classmethod
    def from_settings(cls, rules: Iterable[AccessRuleSettings] | None) -> AccessRules:
        return cls(None if rules is None else [AccessRule.of(rule) for rule in rules])

    @property
    def anonymous_possible(self) -> bool:
        """Whether some rule lets anonymous requests do anything at all."""
        return self._rules is not None and any(ANONYMOUS in rule.users for rule in self._rules)

    def actions(self, user: str | None, repository: str) -> frozenset[str]:
        return self._cached(user, repository)

    def allows(self, user: str | None, repository: str, action: str) -> bool:
        return action in self.actions(user, repository)

    def _evaluate(self, user: str | None, repository: str) -> frozenset[str]:
        if self._rules is None:
            return NOTHING if user is None else ACTIONS
        granted: set[str] = set()
        for rule in self._rules:
            if rule.applies(user, repository):
                granted |= rule.actions
        return frozenset(granted)
