"""The registry's one settings model: the Go registry's ``config.yml`` (distribution 2.8), plus ``services``.

Sources, highest priority first: ``REGISTRY_*`` environment variables, the YAML file, the defaults. As in Go,
an environment variable names a key path with ``_`` between the (underscore-free) keys:
``REGISTRY_STORAGE_S3_BUCKET=x`` sets ``storage.s3.bucket`` and merges with, not replaces, the file's sibling
keys. ``REGISTRY_STORAGE=s3`` switches the storage driver (the file's other driver sections are dropped, and so are
the variables of the other drivers; unlike Go, its ``delete``, ``cache``... options are kept).

Load with :func:`load_settings`: every problem becomes one :class:`ConfigError` naming the keys in dotted form.
Unknown keys are never fatal (Go configs carry many keys we have no use for) and never silent: they are logged
and listed in ``settings.unknown_keys``. Sections that the Go registry has and we do not implement are kept as
raw dicts; ``auth``, ``proxy`` and ``notifications`` log a warning when set.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from registry_core.durations import Duration, PositiveDuration

__all__ = [
    "DRIVERS",
    "CacheSettings",
    "ConfigError",
    "DescriptorCacheSettings",
    "FilesystemSettings",
    "HttpSettings",
    "InMemorySettings",
    "LogSettings",
    "MaintenanceSettings",
    "RedisSettings",
    "S3Settings",
    "ServicesSettings",
    "Settings",
    "StorageSettings",
    "UploadPurgingSettings",
    "load_settings",
]

log = logging.getLogger("registry.config")

MiB = 1024 * 1024
GiB = 1024 * MiB
DRIVERS = ("filesystem", "inmemory", "s3")
ENV_PREFIX = "REGISTRY_"
_NOT_IMPLEMENTED = {
    "auth": "the registry is OPEN: every client may pull, push and delete without credentials",
    "proxy": "this registry is not a pull-through cache",
    "notifications": "no events are sent",
}
_SECRET_KEYS = {"accesskey", "secretkey", "sessiontoken", "password", "secret"}
_NOT_CONFIG_ENV = {"registry_configuration_path"}  # Go's config path variable, not a config key


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one ``"dotted.key: what is wrong"`` line each."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"must be at least {low} ({_human(low)}), got {value}")
        if value > high:
            raise ValueError(f"must be at most {high} ({_human(high)}), got {value}")
        return value

    return check


def _human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _none_to_empty(value: Any) -> Any:
    return {} if value is None else value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError(f"must be host:port, got {value!r}")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
RawSection = Annotated[dict[str, Any], BeforeValidator(_none_to_empty)]
"""A section we accept but do not interpret (kept as the raw mapping)."""


class _Section(BaseModel):
    """Every section: frozen, null means defaults (``inmemory:``), unknown keys kept in ``model_extra``.

    Secrets are plain strings left out of ``repr`` (so out of logged reprs), not ``SecretStr``.
    """

    model_config = ConfigDict(frozen=True, extra="allow", coerce_numbers_to_str=True)  # `password: 1234` as Go

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return _none_to_empty(data)


# --- log -------------------------------------------------------------------------------------------------------


class AccessLogSettings(_Section):
    disabled: bool = False


class LogSettings(_Section):
    level: Annotated[
        Literal["error", "warn", "info", "debug"],
        BeforeValidator(lambda v: {"warning": "warn"}.get(str(v).lower(), str(v).lower())),
    ] = "info"
    formatter: Literal["text", "json", "logstash"] | None = None
    fields: RawSection = {}
    accesslog: AccessLogSettings = Field(default_factory=AccessLogSettings)


# --- storage ---------------------------------------------------------------------------------------------------


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


class MaintenanceSettings(_Section):
    uploadpurging: UploadPurgingSettings = Field(default_factory=UploadPurgingSettings)
    readonly: ReadOnlySettings = Field(default_factory=ReadOnlySettings)


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


# --- http, redis, services -------------------------------------------------------------------------------------


class HttpLimitsSettings(_Section):
    """Ours (``http.limits``): what the Go registry leaves to Go's ``http.Server`` defaults or to a proxy in front.

    ``maxheaderbytes``: the largest request head (request line and headers) accepted; a larger one is answered
    ``431``. 64 KiB is twice what nginx accepts by default (``large_client_header_buffers 4 8k``), so that any
    head a gateway passes on passes here too, with room for long bearer tokens and upload URLs, while bounding
    what a connection can make the server hold (Go's 1 MiB is a "never in practice" bound, not a defence).

    ``headertimeout``: how long a client may take to send a whole request head, counted from its first byte (or
    from the connection's opening); then ``408`` and the connection is closed. 30 s is half nginx's
    ``client_header_timeout`` (60 s): real clients send a head in one write, only slowloris-style clients stall.

    ``idletimeout``: how long a kept-alive connection may wait for its next request before the server closes it.
    It must outlast the idle timeouts of clients' connection pools: a client reusing a pooled connection at the
    moment the server closes it loses the request ("server disconnected without sending a response"). 120 s is
    above Go's ``http.Transport.IdleConnTimeout`` (90 s: docker, containerd, skopeo), nginx's upstream
    ``keepalive_timeout`` (60 s) and httpx's ``keepalive_expiry`` (5 s); uvicorn's own default is 5 s.
    """

    maxheaderbytes: Annotated[int, AfterValidator(_between(4096, MiB))] = 64 * 1024
    headertimeout: PositiveDuration = timedelta(seconds=30)
    idletimeout: PositiveDuration = timedelta(seconds=120)


class HttpSettings(_Section):
    addr: str = ":5000"
    host: str | None = None
    prefix: str = ""
    secret: str | None = Field(None, repr=False)
    relativeurls: bool = False
    draintimeout: Duration = timedelta(0)
    headers: Annotated[dict[str, list[str]], BeforeValidator(_none_to_empty)] = {}
    debug: RawSection = {}
    tls: RawSection = {}
    http2: RawSection = {}
    blobcachemaxage: Duration = Field(timedelta(hours=168), description="Cache-Control max-age of blob responses")
    sendfile: bool = Field(True, description="send blob bodies from local files with sendfile(2), else by copies")
    limits: HttpLimitsSettings = Field(default_factory=HttpLimitsSettings)


class RedisPoolSettings(_Section):
    maxidle: int = Field(16, ge=0)
    maxactive: int = Field(64, ge=0)
    idletimeout: Duration = timedelta(seconds=300)


class RedisTLSSettings(_Section):
    enabled: bool = False


class RedisSettings(_Section):
    """As Go's ``redis`` section; a timeout of 0 means none (as in Go)."""

    addr: Annotated[str, AfterValidator(_host_port)] | None = None
    password: str | None = Field(None, repr=False)
    db: int = Field(0, ge=0)
    dialtimeout: Duration = timedelta(seconds=1)
    readtimeout: Duration = timedelta(milliseconds=500)
    writetimeout: Duration = timedelta(milliseconds=500)
    pool: RedisPoolSettings = Field(default_factory=RedisPoolSettings)
    tls: RedisTLSSettings = Field(default_factory=RedisTLSSettings)


class DescriptorCacheSettings(_Section):
    """The remote blob-descriptor cache service (``storage.cache.blobdescriptor: remote``)."""

    url: Annotated[str, AfterValidator(_http_url)] | None = None
    timeout: PositiveDuration = timedelta(milliseconds=250)


class PurgerSettings(_Section):
    lease: PositiveDuration = timedelta(seconds=60)


class ServicesSettings(_Section):
    """Ours: what the Go registry has no key for."""

    descriptorcache: DescriptorCacheSettings = Field(default_factory=DescriptorCacheSettings)
    purger: PurgerSettings = Field(default_factory=PurgerSettings)


# --- the settings ----------------------------------------------------------------------------------------------

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
    health: RawSection = {}
    notifications: RawSection = {}
    auth: RawSection = {}
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
        for section, consequence in _NOT_IMPLEMENTED.items():
            if getattr(self, section):
                log.warning("config: %s is configured but not implemented, so ignored: %s", section, consequence)
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


# --- loading ---------------------------------------------------------------------------------------------------


def load_settings(path: str | os.PathLike[str] | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file at ``path`` (none: defaults only), apply ``env`` (default ``os.environ``), validate."""
    environ = dict(os.environ if env is None else env)
    data = _read_yaml(path) if path is not None else {}
    driver = next((v for k, v in environ.items() if k.upper() == ENV_PREFIX + "STORAGE"), None)
    if driver:
        storage = data.get("storage")
        storage = {k: v for k, v in storage.items() if k not in DRIVERS} if isinstance(storage, dict) else {}
        data["storage"] = {**storage, driver: {}}  # an unsupported name is reported as unknown, then "none"
    token = _ENVIRON.set(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = [_describe(error, environ) for error in exc.errors()]
        where = os.fspath(path) if path is not None else "defaults"
        raise ConfigError(
            f"invalid configuration ({where} and {ENV_PREFIX}* environment):\n  " + "\n  ".join(problems), problems
        ) from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid configuration in the {ENV_PREFIX}* environment: {exc}{cause}") from None
    finally:
        _ENVIRON.reset(token)


class _YamlLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which plain YAML loading silently resolves to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool | None):
                continue  # unhashable: the base class reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{os.fspath(path)}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{os.fspath(path)}: cannot read the configuration file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{os.fspath(path)}:{mark.line + 1}:{mark.column + 1}" if mark else os.fspath(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{os.fspath(path)}: the top level must be a mapping of keys, got {type(data).__name__}")
    bad = [str(key) for key in data if not isinstance(key, str) or key.startswith("_")]
    if bad:
        raise ConfigError(f"{os.fspath(path)}: invalid top-level keys: {', '.join(bad)}")
    return data


def _describe(error: ErrorDetails, environ: Mapping[str, str]) -> str:
    """One ``"dotted.key: problem"`` line for a pydantic error (cross-key checks already name their keys)."""
    loc = [str(part) for part in error["loc"]]
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error":
        message = str(ctx.get("error", error["msg"]))
    elif error["type"] == "missing":
        message = "is required"
    else:
        message = error["msg"].replace("Input should be", "must be", 1)
        shown = "(hidden)" if set(loc) & _SECRET_KEYS else repr(error["input"])
        message += f", got {shown if len(shown) <= 80 else shown[:77] + '...'}"
    env_name = ENV_PREFIX + "_".join(loc).upper()
    if loc and any(name.upper() == env_name for name in environ):
        message += f" (from {env_name})"
    return f"{'.'.join(loc)}: {message}" if loc else message
