"""The README's worked example of access rules (section "Access control") says what each user may do: checked here
against the rules as the README writes them, so that the documentation cannot drift from the evaluator."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from registry_core.auth.access import AccessRules
from registry_core.config import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def example_rules() -> AccessRules:
    section = README.read_text().split("## Access control", 1)[1]
    block = re.search(r"A worked example.*?```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the README's worked example is gone"
    settings = Settings(**yaml.safe_load(block[1]))
    assert settings.auth.htpasswd is not None
    return AccessRules.from_settings(settings.auth.access)


def test_the_readme_example_grants_what_the_readme_says() -> None:
    rules = example_rules()
    assert rules.actions(None, "library/debian") == {"pull"}  # anonymous pulls the base images...
    assert rules.actions(None, "alice/app") == set()  # ...and nothing else
    assert rules.actions("bob", "alice/app") == {"pull"}  # bob pulls everything, pushes nowhere
    assert rules.actions("bob", "library/debian") == {"pull"}
    assert rules.actions("carol", "library/debian") == {"pull", "push", "delete"}
    assert rules.actions("alice", "alice/app") == {"pull", "push", "delete"}
    assert rules.actions("alice", "alice/tools/lint") == {"pull", "push", "delete"}
    assert rules.actions("alice", "alicia/app") == {"pull"}  # alice/** wants the /
