"""What a token grants: the requested actions intersected with the rules', nothing granted left out."""

from __future__ import annotations

from registry_core.auth.access import AccessRules
from registry_core.auth.scope import CATALOG_ACCESS, ResourceAccess, parse_scopes, repository_access
from registry_core.config import AccessRuleSettings
from registry_token.grants import grant, merge

RULES = AccessRules.from_settings(
    [
        AccessRuleSettings(repository="public/**", users=["anonymous"], actions=["pull"]),
        AccessRuleSettings(repository="team/*", users=["alice"], actions=["pull", "push"]),
        AccessRuleSettings(repository="team/*", users=["bob"], actions=["pull"]),
        AccessRuleSettings(repository="**", users=["admin"], actions=["*"]),
    ]
)


def granted(user: str | None, *scopes: str, rules: AccessRules = RULES) -> dict[str, list[str]]:
    return {f"{a.type}:{a.name}": sorted(a.actions) for a in grant(rules, user, parse_scopes(scopes))}


def test_the_intersection_of_requested_and_allowed() -> None:
    assert granted("bob", "repository:team/app:pull,push") == {"repository:team/app": ["pull"]}
    assert granted("alice", "repository:team/app:pull,push,delete") == {"repository:team/app": ["pull", "push"]}
    assert granted("alice", "repository:team/app:push") == {"repository:team/app": ["push"]}


def test_a_wildcard_asks_for_every_action() -> None:
    assert granted("admin", "repository:team/app:*") == {"repository:team/app": ["delete", "pull", "push"]}
    assert granted("bob", "repository:team/app:*") == {"repository:team/app": ["pull"]}


def test_what_is_granted_nothing_is_left_out_not_refused() -> None:
    assert granted("bob", "repository:other/app:pull", "repository:team/app:pull") == {"repository:team/app": ["pull"]}
    assert granted(None, "repository:team/app:pull") == {}


def test_anonymous_gets_the_anonymous_rules_and_users_get_them_too() -> None:
    assert granted(None, "repository:public/a/b:pull,push") == {"repository:public/a/b": ["pull"]}
    assert granted("bob", "repository:public/x:pull") == {"repository:public/x": ["pull"]}


def test_invalid_names_and_unknown_types_are_skipped() -> None:
    assert granted("admin", "repository:Team/App:pull", "repository:a//b:pull", "plugin:x:pull") == {}


def test_scopes_of_one_repository_are_merged() -> None:
    assert granted("alice", "repository:team/app:pull", "repository:team/app:push") == {
        "repository:team/app": ["pull", "push"]
    }
    merged = merge([repository_access("a", "pull"), repository_access("b", "push"), repository_access("a", "push")])
    assert merged == [repository_access("a", "pull", "push"), repository_access("b", "push")]


def test_the_catalog_is_for_authenticated_users_and_anonymous_only_when_it_may_do_anything() -> None:
    assert granted("bob", "registry:catalog:*") == {"registry:catalog": ["*"]}
    assert granted(None, "registry:catalog:*") == {"registry:catalog": ["*"]}
    private = AccessRules.from_settings([AccessRuleSettings(repository="**", users=["*"], actions=["pull"])])
    assert granted(None, "registry:catalog:*", rules=private) == {}
    assert granted(None, "registry:catalog:*", rules=AccessRules.from_settings(None)) == {}
    assert granted("bob", "registry:catalog:pull") == {}  # only "*" is an action on the catalog


def test_without_rules_users_may_do_everything_and_anonymous_nothing() -> None:
    everything = AccessRules.from_settings(None)
    assert granted("anyone", "repository:x/y:pull,push,delete", rules=everything) == {
        "repository:x/y": ["delete", "pull", "push"]
    }
    assert granted(None, "repository:x/y:pull", rules=everything) == {}


def test_the_claim_is_written_sorted() -> None:
    (access,) = grant(RULES, "alice", [ResourceAccess("repository", "team/app", frozenset({"push", "pull"}))])
    assert access.claim() == {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    assert CATALOG_ACCESS.claim()["actions"] == ["*"]
