"""The access-rules evaluator: globs, the union over rules, ``*`` and ``anonymous`` users, and no rules at all."""

from __future__ import annotations

from typing import Any

import pytest

from registry_core.auth.access import ACTIONS, AccessRules, glob_pattern
from registry_core.config.auth import AccessRuleSettings


def rules(*specs: dict[str, Any]) -> AccessRules:
    """Rules as the configuration gives them (``users``/``actions`` may be one string, ``actions: "*"`` all)."""
    return AccessRules.from_settings([AccessRuleSettings.model_validate(spec) for spec in specs])


def matches(glob: str, name: str) -> bool:
    return glob_pattern(glob).fullmatch(name) is not None


# -- globs -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "name", "expected"),
    [
        ("alice/*", "alice/app", True),
        ("alice/*", "alice/", True),  # an empty segment matches too; no valid name ends with "/"
        ("alice/*", "alice/team/app", False),  # `*` stays within one segment
        ("alice/*", "alice", False),
        ("alice/*", "alicex/app", False),
        ("alice/**", "alice/team/app", True),
        ("alice/**", "alice/app", True),
        ("alice/**", "alice", False),
        ("**", "any/thing/at/all", True),
        ("*", "app", True),
        ("*", "team/app", False),
        ("*/app", "team/app", True),
        ("*/app", "a/b/app", False),
        ("**/app", "a/b/app", True),
        ("**/app", "a/b/app2", False),
        ("team-*/app", "team-x/app", True),
        ("app", "app", True),
        ("app", "app2", False),  # the whole name, not a prefix
        ("app", "my/app", False),  # nor a suffix
    ],
)
def test_star_matches_within_a_segment_and_double_star_across(glob: str, name: str, expected: bool) -> None:
    assert matches(glob, name) is expected


@pytest.mark.parametrize(
    ("glob", "literal", "not_matched"),
    [
        ("v1.0/app", "v1.0/app", "v1x0/app"),  # `.` is a dot, not any character
        ("a+b", "a+b", "aab"),
        ("a?", "a?", "ab"),
        ("[ab]", "[ab]", "a"),
        ("(a|b)", "(a|b)", "a"),
        ("a{2}", "a{2}", "aa"),
        ("^a$", "^a$", "a"),
        ("a\\d", "a\\d", "a1"),
    ],
)
def test_other_characters_are_literal(glob: str, literal: str, not_matched: str) -> None:
    assert matches(glob, literal)
    assert not matches(glob, not_matched)


# -- the rules -------------------------------------------------------------------------------------------------------


def test_a_user_gets_the_union_of_every_matching_rule() -> None:
    access = rules(
        {"repository": "shared/**", "users": ["alice", "bob"], "actions": ["pull"]},
        {"repository": "shared/alice-*", "users": ["alice"], "actions": ["push"]},
        {"repository": "shared/*", "users": "alice", "actions": "delete"},
        {"repository": "other/*", "users": ["alice"], "actions": "*"},
    )
    assert access.actions("alice", "shared/alice-app") == {"pull", "push", "delete"}
    assert access.actions("alice", "shared/bob-app") == {"pull", "delete"}
    assert access.actions("alice", "shared/deep/app") == {"pull"}  # `shared/*` stops at one segment
    assert access.actions("bob", "shared/alice-app") == {"pull"}
    assert access.actions("alice", "other/x") == ACTIONS  # `actions: "*"` is all three
    assert access.actions("bob", "other/x") == frozenset()
    assert access.actions("carol", "shared/alice-app") == frozenset()
    assert access.allows("alice", "shared/alice-app", "push")
    assert not access.allows("bob", "shared/alice-app", "push")


def test_star_is_every_authenticated_user_but_not_anonymous() -> None:
    access = rules({"repository": "library/*", "users": ["*"], "actions": ["pull"]})
    assert access.actions("alice", "library/app") == {"pull"}
    assert access.actions("someone-else", "library/app") == {"pull"}
    assert access.actions(None, "library/app") == frozenset()
    assert not access.anonymous_possible


def test_what_anonymous_may_do_every_authenticated_user_may_do() -> None:
    access = rules(
        {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
        {"repository": "public/alice", "users": ["alice"], "actions": ["push"]},
    )
    assert access.actions(None, "public/x/y") == {"pull"}
    assert access.actions("bob", "public/x/y") == {"pull"}
    assert access.actions("alice", "public/alice") == {"pull", "push"}
    assert access.actions(None, "public/alice") == {"pull"}
    assert access.actions(None, "private/app") == frozenset()
    assert access.anonymous_possible


def test_without_rules_authenticated_users_may_do_everything_and_anonymous_nothing() -> None:
    access = AccessRules.from_settings(None)
    assert access.actions("alice", "any/repository") == ACTIONS
    assert access.actions("bob", "x") == ACTIONS
    assert access.actions(None, "any/repository") == frozenset()
    assert not access.anonymous_possible


def test_an_empty_rule_list_grants_nothing() -> None:
    access = AccessRules.from_settings([])
    assert access.actions("alice", "app") == frozenset()
    assert access.actions(None, "app") == frozenset()
    assert not access.anonymous_possible


def test_anonymous_possible_needs_a_rule_naming_anonymous() -> None:
    assert not rules({"repository": "**", "users": ["*", "alice"], "actions": ["pull"]}).anonymous_possible
    assert rules(
        {"repository": "a", "users": ["alice"], "actions": ["pull"]},
        {"repository": "b", "users": ["bob", "anonymous"], "actions": ["pull"]},
    ).anonymous_possible


def test_answers_stay_the_same_when_asked_again() -> None:
    # the evaluator remembers answers: a remembered one must be the one computed, per user and repository
    access = rules(
        {"repository": "alice/*", "users": ["alice"], "actions": ["push", "pull"]},
        {"repository": "**", "users": ["anonymous"], "actions": ["pull"]},
    )
    for _ in range(2):
        assert access.actions("alice", "alice/app") == {"pull", "push"}
        assert access.actions(None, "alice/app") == {"pull"}
        assert access.actions("bob", "alice/app") == {"pull"}
