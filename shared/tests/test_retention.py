"""Retention policies as pure logic: which rule applies to a repository, which tags and manifests it removes
(never half an image: indexes keep their children, referrers live and die with their subjects), the dry-run
report, and the rules' configuration with its errors."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from registry_core.config import ConfigError, RetentionRule, load_settings
from registry_core.digest import Digest
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.parser import Manifest, parse_manifest
from registry_core.retention import (
    RetentionPlan,
    TagState,
    manifests_to_delete,
    plan_repository,
    rule_for,
    tags_to_delete,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def rule(**fields: Any) -> RetentionRule:
    return RetentionRule.model_validate({"repositories": ["**"], **fields})


# -- content ----------------------------------------------------------------------------------------------------
class Repo:
    """One repository's revisions, parsed from real payloads, with their push times."""

    def __init__(self) -> None:
        self.revisions: dict[Digest, Manifest | None] = {}
        self.times: dict[Digest, datetime] = {}
        self.sizes: dict[Digest, int] = {}

    def _put(self, doc: dict[str, Any], age: timedelta) -> Digest:
        payload = json.dumps(doc).encode()
        digest = Digest.from_bytes(payload)
        self.revisions[digest] = parse_manifest(payload, doc["mediaType"])
        self.times[digest] = NOW - age
        self.sizes[digest] = len(payload)
        return digest

    def _descriptor(self, digest: Digest, media_type: str) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": str(digest), "size": self.sizes[digest]}

    def image(self, seed: str, age: timedelta, subject: Digest | None = None) -> Digest:
        config = Digest.from_bytes(f"config {seed}".encode())
        layer = Digest.from_bytes(f"layer {seed}".encode())
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": CONFIG_TYPE, "digest": str(config), "size": 10},
            "layers": [{"mediaType": LAYER_TYPE, "digest": str(layer), "size": 20}],
        }
        if subject is not None:
            doc["artifactType"] = SIG_TYPE
            doc["subject"] = self._descriptor(subject, self.revisions[subject].media_type)  # type: ignore[union-attr]
        return self._put(doc, age)

    def index(self, children: list[Digest], age: timedelta) -> Digest:
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [self._descriptor(child, mt.OCI_MANIFEST) for child in children],
        }
        return self._put(doc, age)

    def doomed(self, kept_targets: list[Digest], policy: RetentionRule) -> set[Digest]:
        return manifests_to_delete(self.revisions, self.times, kept_targets, policy, NOW)


def tag(name: str, age_hours: float, digest: Digest | None = None) -> TagState:
    return TagState(name, digest or Digest.from_bytes(name.encode()), NOW - timedelta(hours=age_hours))


DAY = timedelta(days=1)
WEEK_RULE = rule(untaggedolderthan="168h")


# -- which rule -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("tools/*", ["tools/app", "tools/x-y"], ["tools", "tools/app/sub", "tools-x/app", "other/tools/app"]),
        ("team-a/**", ["team-a", "team-a/app", "team-a/x/y/z"], ["team-ab", "team-b/app", "x/team-a/app"]),
        ("**/cache", ["cache", "a/cache", "a/b/cache"], ["cache2", "a/cache/x", "a/mycache"]),
        ("a/**/z", ["a/z", "a/b/z", "a/b/c/z"], ["az", "a/bz", "b/a/z"]),
        ("**", ["a", "a/b/c"], []),
        ("app-?", ["app-1"], ["app-12", "app-"]),
        ("library/app.v1", ["library/app.v1"], ["library/appxv1"]),  # '.' is literal
    ],
)
def test_repository_globs(pattern: str, matches: list[str], misses: list[str]) -> None:
    rules = [rule(repositories=[pattern])]
    for name in matches:
        assert rule_for(name, rules) is rules[0], name
    for name in misses:
        assert rule_for(name, rules) is None, name


def test_the_first_matching_rule_wins_and_no_match_means_no_rule() -> None:
    rules = [
        rule(repositories=["team-a/critical"], keepnewest=100),
        rule(repositories=["other", "team-a/**"], keepnewest=5),
        rule(repositories=["**"], keepnewest=1),
    ]
    assert rule_for("team-a/critical", rules) is rules[0]
    assert rule_for("team-a/app", rules) is rules[1]
    assert rule_for("other", rules) is rules[1]
    assert rule_for("team-b/app", rules) is rules[2]
    assert rule_for("team-b/app", rules[:2]) is None
    assert rule_for("anything", []) is None


# -- tags -------------------------------------------------------------------------------------------------------
def test_keepnewest_keeps_the_newest_beyond_keeptags() -> None:
    tags = [
        tag("latest", 500),
        tag("v1.0", 400),
        tag("release-3", 300),
        tag("build-1", 40),
        tag("build-2", 30),
        tag("build-3", 20),
        tag("build-4", 10),
    ]
    policy = rule(keeptags=["latest", "v*", "release-*"], keepnewest=2)
    assert tags_to_delete(tags, policy) == ["build-1", "build-2"]
    assert tags_to_delete(tags, rule(keepnewest=0, keeptags=["build-*"])) == ["latest", "release-3", "v1.0"]
    assert tags_to_delete(tags, rule(keepnewest=0)) == sorted(t.name for t in tags)
    assert tags_to_delete(tags, rule(keepnewest=7)) == []


def test_keeptags_are_fnmatch_patterns_case_sensitive() -> None:
    tags = [tag("v1", 9), tag("V1", 8), tag("v1-rc", 7), tag("x", 1)]
    assert tags_to_delete(tags, rule(keeptags=["v?"], keepnewest=0)) == ["V1", "v1-rc", "x"]
    assert tags_to_delete(tags, rule(keeptags=["[vV]1"], keepnewest=0)) == ["v1-rc", "x"]


def test_equal_push_times_are_broken_by_name_whatever_the_order() -> None:
    same = [tag("b", 5), tag("c", 5), tag("a", 5), tag("old", 50)]
    policy = rule(keepnewest=2)
    assert tags_to_delete(same, policy) == ["a", "old"]  # at equal times the name sorting last stays
    assert tags_to_delete(list(reversed(same)), policy) == ["a", "old"]


def test_without_keepnewest_no_tag_goes() -> None:
    tags = [tag(f"t{i}", i) for i in range(50)]
    assert tags_to_delete(tags, rule(keeptags=["nothing"])) == []
    assert tags_to_delete(tags, rule(untaggedolderthan="1h")) == []


# -- manifests --------------------------------------------------------------------------------------------------
def test_untagged_older_than_the_limit_goes_younger_stays() -> None:
    repo = Repo()
    tagged = repo.image("tagged", 30 * DAY)
    old = repo.image("old", 8 * DAY)
    young = repo.image("young", 6 * DAY)
    assert repo.doomed([tagged], WEEK_RULE) == {old}
    assert repo.doomed([tagged], rule(untaggedolderthan="1h")) == {old, young}
    assert repo.doomed([], WEEK_RULE) == {old, tagged}
    assert young not in repo.doomed([], WEEK_RULE)


def test_without_untaggedolderthan_no_manifest_goes() -> None:
    repo = Repo()
    repo.image("old", 1000 * DAY)
    assert repo.doomed([], rule(keepnewest=1)) == set()


def test_a_manifest_with_no_known_push_time_is_young() -> None:
    repo = Repo()
    old = repo.image("old", 30 * DAY)
    del repo.times[old]
    assert repo.doomed([], WEEK_RULE) == set()


def test_a_referrer_lives_and_dies_with_its_subject() -> None:
    repo = Repo()
    tagged = repo.image("tagged", 30 * DAY)
    tagged_sig = repo.image("tagged sig", 30 * DAY, subject=tagged)  # old, but its subject is tagged
    young = repo.image("young", 1 * DAY)
    young_sig = repo.image("young sig", 20 * DAY, subject=young)  # old, but its subject is young
    old = repo.image("old", 10 * DAY)
    old_sig = repo.image("old sig", 1 * DAY, subject=old)  # young, but its subject goes
    sig_of_sig = repo.image("sig of sig", 0 * DAY, subject=old_sig)  # and so, through it, does this
    assert repo.doomed([tagged], WEEK_RULE) == {old, old_sig, sig_of_sig}
    assert {tagged_sig, young_sig}.isdisjoint(repo.doomed([tagged], WEEK_RULE))


def test_a_referrer_whose_subject_is_absent_is_judged_by_its_own_age() -> None:
    elsewhere = Repo()
    subject = elsewhere.image("subject", DAY)
    repo = Repo()
    repo.revisions[subject] = elsewhere.revisions[subject]
    repo.sizes[subject] = elsewhere.sizes[subject]
    old_orphan = repo.image("old orphan", 30 * DAY, subject=subject)
    young_orphan = repo.image("young orphan", DAY, subject=subject)
    del repo.revisions[subject]  # pushed before its subject, or its subject deleted through the API
    assert repo.doomed([], WEEK_RULE) == {old_orphan}
    assert young_orphan in repo.revisions


def test_an_index_keeps_its_children() -> None:
    repo = Repo()
    amd64 = repo.image("amd64", 30 * DAY)
    arm64 = repo.image("arm64", 30 * DAY)
    tagged_index = repo.index([amd64, arm64], 30 * DAY)
    s390x = repo.image("s390x", 30 * DAY)
    young_index = repo.index([s390x], DAY)  # untagged but young: keeps its old child
    ppc = repo.image("ppc", 30 * DAY)
    old_index = repo.index([ppc], 30 * DAY)
    assert repo.doomed([tagged_index], WEEK_RULE) == {old_index, ppc}
    assert {amd64, arm64, s390x, young_index}.isdisjoint(repo.doomed([tagged_index], WEEK_RULE))


def test_a_kept_child_does_not_keep_its_old_index() -> None:
    repo = Repo()
    child = repo.image("child", DAY)
    index = repo.index([child], 30 * DAY)
    assert repo.doomed([], WEEK_RULE) == {index}
    assert repo.doomed([child], WEEK_RULE) == {index}


def test_a_missing_manifest_blob_is_judged_by_age() -> None:
    repo = Repo()
    gone = repo.image("gone", 30 * DAY)
    repo.revisions[gone] = None
    assert repo.doomed([], WEEK_RULE) == {gone}


# -- plans ------------------------------------------------------------------------------------------------------
def test_plan_deletes_tags_then_what_only_they_reached() -> None:
    repo = Repo()
    v1 = repo.image("v1", 30 * DAY)
    v1_sig = repo.image("v1 sig", 30 * DAY, subject=v1)
    v2 = repo.image("v2", 20 * DAY)
    dev = repo.image("dev", 10 * DAY)
    tags = [
        TagState("v1", v1, NOW - 30 * DAY),
        TagState("dev-1", dev, NOW - 10 * DAY),
        TagState("dev-2", v2, NOW - 9 * DAY),
        TagState("latest", v2, NOW - 20 * DAY),
    ]
    rules = [
        rule(repositories=["other/**"]),
        rule(repositories=["team-a/**"], keeptags=["latest"], keepnewest=1, untaggedolderthan="168h"),
    ]
    plan = plan_repository("team-a/app", rules, tags, repo.revisions, repo.times, NOW)
    assert plan is not None and plan.rule == 1
    assert [t.name for t in plan.tags] == ["dev-1", "v1"]
    assert {m.digest for m in plan.manifests} == {v1, v1_sig, dev}
    assert {m.digest: m.subject for m in plan.manifests}[v1_sig] == v1

    report = RetentionPlan()
    report.add(plan)
    report.add(plan_repository("team-a/empty", rules, [], {}, {}, NOW))  # type: ignore[arg-type]
    assert report.tag_count == 2 and report.manifest_count == 3 and len(report.repositories) == 1
    lines = report.lines()
    assert lines[0] == f"would delete tag team-a/app:dev-1 (pushed 2026-11-10T12:00:00+00:00, {dev})"
    assert f"would delete manifest team-a/app@{v1_sig} (referrer of {v1}, which goes)" in lines
    assert f"would delete manifest team-a/app@{v1} (untagged, last pushed 2026-10-21T12:00:00+00:00)" in lines
    assert report.lines(dry_run=False)[0].startswith("deleting tag team-a/app:dev-1 ")
    assert plan_repository("team-b/app", rules, tags, repo.revisions, repo.times, NOW) is None


# -- configuration ----------------------------------------------------------------------------------------------
def load(tmp_path: Path, retention: str) -> list[RetentionRule]:
    path = tmp_path / "config.yml"
    text = "version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n    garbagecollect:\n"
    path.write_text(text + textwrap.indent(textwrap.dedent(retention), " " * 6))
    return load_settings(path, env={}).storage.maintenance.garbagecollect.retention


def problems(tmp_path: Path, retention: str) -> Mapping[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, retention)
    prefix = "storage.maintenance.garbagecollect.retention."
    return dict(problem.removeprefix(prefix).split(": ", 1) for problem in info.value.problems)


def test_rules_load_from_yaml(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        """\
        retention:
          - repositories: ["team-a/**", "tools/*"]
            keeptags: ["latest", "v*", "release-*"]
            keepnewest: 10
            untaggedolderthan: 168h
          - repositories: ["**"]
        """,
    )
    assert rules[0].repositories == ["team-a/**", "tools/*"]
    assert rules[0].keeptags == ["latest", "v*", "release-*"]
    assert rules[0].keepnewest == 10
    assert rules[0].untaggedolderthan == timedelta(hours=168)
    assert (rules[1].keeptags, rules[1].keepnewest, rules[1].untaggedolderthan) == ([], None, None)
    assert rule_for("tools/x", rules) is rules[0] and rule_for("x/y", rules) is rules[1]


def test_no_retention_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, "enabled: true\n") == []


def test_bad_rules_are_refused_naming_their_keys(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        retention:
          - repositories: []
            keepnewest: -1
            keeptag: ["latest"]
          - repositories: ["a//b", "team-**", ""]
            untaggedolderthan: -3h
            keeptags: [""]
          - keepnewest: 3
          -
        """,
    )
    assert found == {
        "0.repositories": "must list at least one repository glob (a rule that matches nothing is a mistake)",
        "0.keepnewest": "must be greater than or equal to 0, got -1",
        "0.keeptag": "unknown key, not allowed here",
        "1.repositories.0": "'a//b' has an empty path segment (a leading, trailing or doubled '/')",
        "1.repositories.1": "'team-**': '**' must be a whole path segment (a/**/b), not part of 'team-**'",
        "1.repositories.2": "must not be empty",
        "1.untaggedolderthan": "negative duration '-3h' is not allowed",
        "1.keeptags.0": "must not be empty",
        "2.repositories": "is required",
        "3.repositories": "is required",
    }


def test_a_rule_validates_on_its_own() -> None:
    assert RetentionRule.model_validate({"repositories": ["a"], "keepnewest": 0}).keepnewest == 0
    with pytest.raises(ValueError, match="repositories"):
        RetentionRule.model_validate({"keepnewest": 1})
