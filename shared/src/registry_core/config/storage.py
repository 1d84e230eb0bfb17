"""The ``storage`` section: one driver section plus the storage options."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from registry_core.config.base import (
    DRIVERS,
    ENV_PREFIX,
    GiB,
    MiB,
    NonEmptyStr,
    _between,
    _empty_to_none,
    _Section,
)
from registry_core.durations import Duration, PositiveDuration
from registry_core.names import compile_name_glob


class FilesystemSettings(_Section):
    rootdirectory: NonEmptyStr = "/var/lib/registry"
    maxthreads: int = Field(100, ge=25)


class InMemorySettings(_Section):
    """No options: ``inmemory:`` (null) selects it."""


class S3Settings(_Section):
    """As Go's ``s3`` driver. Without ``accesskey``/``secretkey`` the default AWS credential chain is used."""

    accesskey: str | None = None
    secretkey: str | None = Field(None, repr=False)
    sessiontoken: str | None = Field(None, repr=False)
    region: NonEmptyStr
    regionendpoint: str | None = None
    bucket: NonEmptyStr
    rootdirectory: str = ""
    chunksize: Annotated[int, AfterValidator(_between(5 * MiB, 5 * GiB))] = 10 * MiB
    secure: bool = True
    v4auth: bool = True
    forcepathstyle: bool = False
    skipverify: bool = False
    encrypt: bool = False
    keyid: str | None = None
    storageclass: Annotated[str, BeforeValidator(lambda v: str(v).upper())] = "STANDARD"
    objectacl: str = "private"
    multipartcopythresholdsize: Annotated[int, AfterValidator(_between(0, 5 * GiB))] = 32 * MiB
    multipartcopychunksize: Annotated[int, AfterValidator(_between(5 * MiB, 5 * GiB))] = 32 * MiB
    multipartcopymaxconcurrency: int = Field(100, ge=1)
    maxconcurrency: int = Field(32, ge=1)
    loglevel: Annotated[str, BeforeValidator(lambda v: "off" if v is False else v)] = "off"  # YAML reads off as false

    @model_validator(mode="before")
    @classmethod
    def _path_style_for_custom_endpoints(cls, data: Any) -> Any:
        """``forcepathstyle`` defaults to true with a ``regionendpoint`` (MinIO, Ceph...), false on AWS."""
        if isinstance(data, dict) and "forcepathstyle" not in data:
            data = {**data, "forcepathstyle": bool(data.get("regionendpoint"))}
        return data


class DeleteSettings(_Section):
    enabled: bool = False


class RedirectSettings(_Section):
    disable: bool = False


class CacheSettings(_Section):
    """``layerinfo`` is the old name of ``blobdescriptor``; either is accepted, both only if they agree."""

    blobdescriptor: Annotated[Literal["inmemory", "redis", "remote"] | None, BeforeValidator(_empty_to_none)] = None
    blobdescriptorsize: int = Field(10000, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _layerinfo_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "layerinfo" in data:
            data = dict(data)
            old = data.pop("layerinfo")
            if "blobdescriptor" in data and data["blobdescriptor"] != old:
                raise ValueError(
                    f"layerinfo ({old!r}) and blobdescriptor ({data['blobdescriptor']!r}) disagree; "
                    "layerinfo is the old name of blobdescriptor: give only blobdescriptor"
                )
            data["blobdescriptor"] = old
        return data


class UploadPurgingSettings(_Section):
    """Deletion of abandoned uploads: every ``interval`` (after a random delay up to ``jitter``), those older
    than ``age``."""

    enabled: bool = True
    age: PositiveDuration = timedelta(hours=168)
    interval: PositiveDuration = timedelta(hours=24)
    dryrun: bool = False
    jitter: Duration = timedelta(minutes=60)


class ReadOnlySettings(_Section):
    enabled: bool = False


def _name_glob(pattern: str) -> str:
    compile_name_glob(pattern)  # raises ValueError naming what is wrong
    return pattern


def _not_empty_list(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one repository glob (a rule that matches nothing is a mistake)")
    return value


def _tag_pattern(pattern: str) -> str:
    if not pattern:
        raise ValueError("must not be empty")
    return pattern


class RetentionRule(_Section):
    """Ours: one retention rule (``garbagecollect.retention``), applied by :mod:`registry_core.retention`.

    - ``repositories`` (required, non-empty): globs over repository names; ``*`` is part of one path segment, a
      ``**`` segment any depth (``team-a/**`` includes ``team-a`` itself).
    - ``keeptags``: fnmatch-style patterns (``*``, ``?``, ``[...]``, case-sensitive); matching tags always stay.
    - ``keepnewest``: of the other tags, the N most recently pushed stay, the rest are deleted; absent: all stay.
    - ``untaggedolderthan``: manifests no kept tag reaches, pushed longer ago than this, are deleted (a referrer
      goes with its subject, whatever its age); absent: untagged manifests stay.

    Unknown keys are refused here, not just warned about: a misspelt ``keeptags`` would delete tags.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    repositories: Annotated[list[Annotated[str, AfterValidator(_name_glob)]], AfterValidator(_not_empty_list)]
    keeptags: list[Annotated[str, AfterValidator(_tag_pattern)]] = []
    keepnewest: int | None = Field(None, ge=0)
    untaggedolderthan: Duration | None = None

    _globs: tuple[re.Pattern[str], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _compile(self) -> RetentionRule:
        self._globs = tuple(compile_name_glob(pattern) for pattern in self.repositories)
        return self

    def applies_to(self, repository: str) -> bool:
        """Whether one of ``repositories`` matches ``repository`` (the whole name)."""
        return any(glob.fullmatch(repository) for glob in self._globs)


class GarbageCollectSettings(_Section):
    """Ours: online garbage collection (``docs/online-gc.md``). ``enabled`` on the writers makes them leave claims
    (what a collector must not delete under them); on the purger it also runs a pass every ``interval`` (after
    a random delay up to ``jitter``). Nothing younger than ``grace`` is collected; ``deleteuntagged`` also removes
    manifests no tag reaches; ``dryrun`` only reports.

    ``retention`` (:class:`RetentionRule`, default none): the first rule whose ``repositories`` match a repository
    applies there, in place of ``deleteuntagged``; a repository no rule matches keeps everything (but what
    ``deleteuntagged`` removes). Only the online pass applies the rules, never the offline ``garbage-collect``::

        retention:
          - repositories: ["team-a/**", "tools/*"]
            keeptags: ["latest", "v*", "release-*"]
            keepnewest: 10
            untaggedolderthan: 168h
    """

    enabled: bool = False
    interval: PositiveDuration = timedelta(hours=1)
    grace: PositiveDuration = timedelta(hours=1)
    deleteuntagged: bool = False
    dryrun: bool = False
    jitter: Duration = timedelta(minutes=5)
    retention: list[RetentionRule] = []


class MaintenanceSettings(_Section):
    uploadpurging: UploadPurgingSettings = Field(default_factory=UploadPurgingSettings)
    readonly: ReadOnlySettings = Field(default_factory=ReadOnlySettings)
    garbagecollect: GarbageCollectSettings = Field(default_factory=GarbageCollectSettings)


class TagSettings(_Section):
    concurrencylimit: int | None = Field(None, ge=1)


class StorageSettings(_Section):
    """Exactly one driver section (``filesystem``, ``inmemory`` or ``s3``) plus the storage options.

    An absent driver is None, a present one (even ``inmemory:`` with no value) a model: dump with
    ``exclude_none=True`` for a dump that loads back.
    """

    filesystem: FilesystemSettings | None = None
    inmemory: InMemorySettings | None = None
    s3: S3Settings | None = None
    delete: DeleteSettings = Field(default_factory=DeleteSettings)
    redirect: RedirectSettings = Field(default_factory=RedirectSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    tag: TagSettings = Field(default_factory=TagSettings)

    @model_validator(mode="before")
    @classmethod
    def _null_driver_is_present(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: {} if key in DRIVERS and value is None else value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one_driver(self) -> StorageSettings:
        configured = [name for name in DRIVERS if getattr(self, name) is not None]
        if len(configured) > 1:
            raise ValueError(f"exactly one storage driver must be configured, got {', '.join(configured)}")
        if not configured:
            raise ValueError(
                f"exactly one storage driver must be configured, got none (supported: {', '.join(DRIVERS)};"
                f" from the environment: {ENV_PREFIX}STORAGE=<driver>)"
            )
        return self

    @property
    def driver(self) -> Literal["filesystem", "inmemory", "s3"]:
        return next(name for name in DRIVERS if getattr(self, name) is not None)  # type: ignore[return-value]
