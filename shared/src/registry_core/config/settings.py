"""The whole settings model (:class:`Settings`) and its environment source."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from registry_core.config.auth import AuthSettings
from registry_core.config.base import DRIVERS, ENV_PREFIX, RawSection, log
from registry_core.config.health import HealthSettings
from registry_core.config.http import HttpSettings
from registry_core.config.log import LogSettings
from registry_core.config.notifications import NotificationsSettings
from registry_core.config.redis import RedisSettings
from registry_core.config.services import ServicesSettings
from registry_core.config.storage import FilesystemSettings, StorageSettings
from registry_core.config.support import refusals

_NOT_CONFIG_ENV = {"registry_configuration_path"}  # Go's config path variable, not a config key

_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("registry_environ", default=None)


class _EnvSource(EnvSettingsSource):
    """The environment source, over the mapping given to :func:`load_settings` (``os.environ`` otherwise)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = {name.lower(): value for name, value in self._environ.items()}
        driver = env.pop(ENV_PREFIX.lower() + "storage", None)  # the driver switch, applied by load_settings
        if driver:
            # The switch drops the other drivers' variables as it drops their sections of the file: one environment
            # (S3 keys, say) can then serve services switched to another driver.
            others = tuple(f"{ENV_PREFIX.lower()}storage_{d}_" for d in DRIVERS if d != driver.lower())
            for name in [n for n in env if n.startswith(others)]:
                log.warning(
                    "config: %s ignored: %s=%s switches the storage driver",
                    name.upper(),
                    ENV_PREFIX + "STORAGE",
                    driver,
                )
                del env[name]
        return env

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        prefix = ENV_PREFIX.lower()
        for name in self.env_vars:  # Go warns about variables naming no key; so do we (via unknown_keys)
            if not name.startswith(prefix) or name in _NOT_CONFIG_ENV:
                continue
            top = name[len(prefix) :].split("_", 1)[0]
            if top and top not in self.settings_cls.model_fields:
                data.setdefault(top, f"(from {name.upper()})")
        return data


def _default_storage() -> StorageSettings:
    return StorageSettings(filesystem=FilesystemSettings())


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="_", case_sensitive=False, extra="allow", frozen=True
    )

    version: str = "0.1"
    log: LogSettings = Field(default_factory=LogSettings)
    storage: StorageSettings = Field(default_factory=_default_storage)  # only when no storage section at all
    http: HttpSettings = Field(default_factory=HttpSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    proxy: RawSection = {}
    validation: RawSection = {}
    compatibility: RawSection = {}
    reporting: RawSection = {}
    middleware: RawSection = {}

    _unknown_keys: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over the file (given as init kwargs); no ``.env`` or secrets-directory reading."""
        environ = _ENVIRON.get()
        return _EnvSource(settings_cls, os.environ if environ is None else environ), init_settings

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        if str(value) != "0.1":  # YAML reads `version: 0.1` as a float
            raise ValueError(f"unsupported configuration version {value!r}: only 0.1 is")
        return "0.1"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        blobdescriptor = self.storage.cache.blobdescriptor
        if blobdescriptor == "redis" and not self.redis.addr:
            raise ValueError("redis.addr: is required when storage.cache.blobdescriptor is redis")
        if blobdescriptor == "remote" and not self.services.descriptorcache.url:
            raise ValueError("services.descriptorcache.url: is required when storage.cache.blobdescriptor is remote")
        self._unknown_keys = list(_extra_keys(self, ""))
        for key in self._unknown_keys:
            log.warning("config: unknown key %s ignored", key)
        problems = refusals(self)
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @property
    def unknown_keys(self) -> list[str]:
        """Keys of the file or the environment that mean nothing here, in dotted form (also logged)."""
        return list(self._unknown_keys)


def _extra_keys(model: BaseModel, prefix: str) -> Iterator[str]:
    for key in model.model_extra or {}:
        yield prefix + key
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _extra_keys(value, f"{prefix}{name}.")
        elif isinstance(value, list):  # a list of sections (notifications.endpoints)
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _extra_keys(item, f"{prefix}{name}.{index}.")
