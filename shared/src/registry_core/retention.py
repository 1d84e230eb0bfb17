"""Retention policies (``storage.maintenance.garbagecollect.retention``): which tags and manifests of a repository
a :class:`~registry_core.config.RetentionRule` removes. Pure functions over what the collector read; nothing here
touches storage, and the collector still applies ``grace`` and the claims protocol (``docs/online-gc.md``) to what
these return.

In one repository, under its rule (the first whose ``repositories`` match):

1. **Tags** (:func:`tags_to_delete`): a tag matching a ``keeptags`` pattern stays; of the others, the
   ``keepnewest`` most recently pushed stay (by their ``current`` link's time; equal times: the name that sorts
   last stays, so the result never depends on listing order); the rest go. Without ``keepnewest`` no tag goes.
   Tags are counted one by one, even when several name the same manifest.
2. **Manifests** (:func:`manifests_to_delete`): what the kept tags reach stays, as ``gc.kept_manifests`` computes
   it (children of a kept index, referrers of a kept manifest, the subject of a kept referrer). Of the rest, a
   manifest pushed more than ``untaggedolderthan`` ago goes, with two exceptions that make the result a closed
   set, never a broken image:

   - a referrer (signature, SBOM) whose subject is in the repository shares its subject's fate, whatever its own
     age: kept with a young subject, deleted with an old one. A referrer whose subject is absent (a referrer may
     be pushed before its subject) is judged by its own age;
   - what a surviving untagged manifest reaches survives too (a young index keeps its old children).

   Without ``untaggedolderthan`` no manifest goes. A manifest with no known push time is treated as young.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from registry_core.config.storage import RetentionRule
from registry_core.digest import Digest
from registry_core.gc import kept_manifests
from registry_core.manifests.parser import Manifest

__all__ = [
    "ManifestDeletion",
    "RepositoryPlan",
    "RetentionPlan",
    "TagState",
    "manifests_to_delete",
    "plan_repository",
    "rule_for",
    "tags_to_delete",
]


@dataclass(frozen=True, slots=True)
class TagState:
    """A tag as the collector found it: its ``current`` link's target and modification time (its last push)."""

    name: str
    digest: Digest
    pushed: datetime


def rule_for(repository: str, rules: Sequence[RetentionRule]) -> RetentionRule | None:
    """The first rule whose ``repositories`` match ``repository``; None: no retention there."""
    return next((rule for rule in rules if rule.applies_to(repository)), None)


def tags_to_delete(tags: Sequence[TagState], rule: RetentionRule) -> list[str]:
    """The names of the tags ``rule`` removes, sorted (see the module docstring)."""
    if rule.keepnewest is None:
        return []
    candidates = [tag for tag in tags if not _protected(tag.name, rule.keeptags)]
    candidates.sort(key=lambda tag: (tag.pushed, tag.name), reverse=True)
    return sorted(tag.name for tag in candidates[rule.keepnewest :])


def manifests_to_delete(
    revisions: Mapping[Digest, Manifest | None],
    revision_time: Mapping[Digest, datetime],
    kept_tags_targets: Iterable[Digest],
    rule: RetentionRule,
    now: datetime,
) -> set[Digest]:
    """The manifests of one repository that ``rule`` removes, given the targets of the tags that stay.

    ``revisions`` are the repository's revisions (None: blob missing, so nothing known of it), ``revision_time``
    their revision links' modification times.
    """
    if rule.untaggedolderthan is None:
        return set()
    limit = rule.untaggedolderthan
    tagged = kept_manifests(revisions, kept_tags_targets)

    def young(digest: Digest) -> bool:
        pushed = revision_time.get(digest)
        return pushed is None or now - pushed <= limit

    def follows_subject(manifest: Manifest | None) -> bool:
        return manifest is not None and manifest.subject is not None and manifest.subject.digest in revisions

    # Roots of what survives: the tagged closure and the young untagged manifests (but a referrer whose subject is
    # here is no root: it lives by its subject). Their closure adds children, referrers and subjects.
    young_roots = (d for d, m in revisions.items() if d not in tagged and not follows_subject(m) and young(d))
    survivors = kept_manifests(revisions, [*tagged, *young_roots])
    return set(revisions) - survivors


# -- plans (what a pass would do, for a dry run and the collector's report) ------------------------------------------
@dataclass(frozen=True, slots=True)
class ManifestDeletion:
    """A manifest a rule removes: when it was pushed (None: unknown) and, for a referrer that goes with its
    subject, that subject."""

    digest: Digest
    pushed: datetime | None
    subject: Digest | None = None


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    """What the rule of one repository removes; ``rule`` is the index of that rule in the configuration."""

    repository: str
    rule: int
    tags: tuple[TagState, ...] = ()
    manifests: tuple[ManifestDeletion, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tags or self.manifests)

    def lines(self, *, dry_run: bool = True) -> Iterator[str]:
        verb = "would delete" if dry_run else "deleting"
        for tag in self.tags:
            yield f"{verb} tag {self.repository}:{tag.name} (pushed {_when(tag.pushed)}, {tag.digest})"
        for manifest in self.manifests:
            if manifest.subject is not None:
                why = f"referrer of {manifest.subject}, which goes"
            else:
                why = f"untagged, last pushed {_when(manifest.pushed)}"
            yield f"{verb} manifest {self.repository}@{manifest.digest} ({why})"


@dataclass
class RetentionPlan:
    """What the retention rules remove, repository by repository (those where they remove something)."""

    repositories: list[RepositoryPlan] = field(default_factory=list)

    def add(self, plan: RepositoryPlan) -> None:
        if plan:
            self.repositories.append(plan)

    @property
    def tag_count(self) -> int:
        return sum(len(plan.tags) for plan in self.repositories)

    @property
    def manifest_count(self) -> int:
        return sum(len(plan.manifests) for plan in self.repositories)

    def lines(self, *, dry_run: bool = True) -> list[str]:
        """One human-readable line per deletion, e.g. ``would delete tag team-a/app:v0.1 (pushed ...)``."""
        return [line for plan in self.repositories for line in plan.lines(dry_run=dry_run)]


def plan_repository(
    repository: str,
    rules: Sequence[RetentionRule],
    tags: Sequence[TagState],
    revisions: Mapping[Digest, Manifest | None],
    revision_time: Mapping[Digest, datetime],
    now: datetime,
) -> RepositoryPlan | None:
    """Both steps for one repository under the first matching rule; None if no rule applies there."""
    rule = rule_for(repository, rules)
    if rule is None:
        return None
    doomed_tags = set(tags_to_delete(tags, rule))
    kept_targets = [tag.digest for tag in tags if tag.name not in doomed_tags]
    doomed = manifests_to_delete(revisions, revision_time, kept_targets, rule, now)
    deletions = []
    for digest in sorted(doomed, key=str):
        manifest = revisions[digest]
        subject = manifest.subject.digest if manifest is not None and manifest.subject is not None else None
        follows = subject if subject is not None and subject in revisions else None
        deletions.append(ManifestDeletion(digest, revision_time.get(digest), follows))
    return RepositoryPlan(
        repository,
        next(index for index, candidate in enumerate(rules) if candidate is rule),
        tuple(sorted((tag for tag in tags if tag.name in doomed_tags), key=lambda tag: tag.name)),
        tuple(deletions),
    )


def _protected(tag: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(tag, pattern) for pattern in patterns)


def _when(moment: datetime | None) -> str:
    return "at an unknown time" if moment is None else moment.isoformat(timespec="seconds")
