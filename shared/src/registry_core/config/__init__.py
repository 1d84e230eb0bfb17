"""The registry's one settings model: the Go registry's ``config.yml`` (distribution 2.8), plus ``services``.

Sources, highest priority first: ``REGISTRY_*`` environment variables, the YAML file, the defaults. As in Go,
an environment variable names a key path with ``_`` between the (underscore-free) keys:
``REGISTRY_STORAGE_S3_BUCKET=x`` sets ``storage.s3.bucket`` and merges with, not replaces, the file's sibling
keys. ``REGISTRY_STORAGE=s3`` switches the storage driver (the file's other driver sections are dropped, and so are
the variables of the other drivers; unlike Go, its ``delete``, ``cache``... options are kept).

Load with :func:`load_settings`: every problem becomes one :class:`ConfigError` naming the keys in dotted form.
Unknown keys are never fatal (Go configs carry many keys we have no use for) and never silent: they are logged
and listed in ``settings.unknown_keys``. A key we know but cannot honour (``proxy``, ``http.prefix``, S3
encryption...) stops start-up naming it, unless its value is inert or means what we do (``log.formatter: text``...):
see :mod:`.support`.

The model is split by concern: :mod:`.base` (shared pieces), :mod:`.log`, :mod:`.storage`, :mod:`.http`,
:mod:`.redis`, :mod:`.services`, :mod:`.settings` (the whole) and :mod:`.loading`; import the names from here.
"""

from __future__ import annotations

from registry_core.config.auth import AccessRuleSettings, AuthSettings, HtpasswdSettings, TokenSettings
from registry_core.config.base import DRIVERS, ConfigError
from registry_core.config.health import HealthSettings, StorageDriverHealthSettings
from registry_core.config.http import HttpLimitsSettings, HttpSettings
from registry_core.config.loading import load_settings
from registry_core.config.log import AccessLogSettings, LogSettings
from registry_core.config.notifications import (
    EndpointSettings,
    IgnoreSettings,
    NotificationEventsSettings,
    NotificationsSettings,
)
from registry_core.config.redis import RedisPoolSettings, RedisSettings, RedisTLSSettings
from registry_core.config.services import (
    DescriptorCacheSettings,
    PurgerSettings,
    ServicesSettings,
    TokenServiceSettings,
)
from registry_core.config.settings import Settings
from registry_core.config.storage import (
    CacheSettings,
    DeleteSettings,
    FilesystemSettings,
    GarbageCollectSettings,
    InMemorySettings,
    MaintenanceSettings,
    ReadOnlySettings,
    RedirectSettings,
    RetentionRule,
    S3Settings,
    StorageSettings,
    TagSettings,
    UploadPurgingSettings,
)
from registry_core.config.tls import TLSSettings

__all__ = [
    "DRIVERS",
    "AccessLogSettings",
    "AccessRuleSettings",
    "AuthSettings",
    "CacheSettings",
    "ConfigError",
    "DeleteSettings",
    "DescriptorCacheSettings",
    "EndpointSettings",
    "FilesystemSettings",
    "GarbageCollectSettings",
    "HealthSettings",
    "HtpasswdSettings",
    "HttpLimitsSettings",
    "HttpSettings",
    "IgnoreSettings",
    "InMemorySettings",
    "LogSettings",
    "MaintenanceSettings",
    "NotificationEventsSettings",
    "NotificationsSettings",
    "PurgerSettings",
    "ReadOnlySettings",
    "RedirectSettings",
    "RedisPoolSettings",
    "RedisSettings",
    "RedisTLSSettings",
    "RetentionRule",
    "S3Settings",
    "ServicesSettings",
    "Settings",
    "StorageDriverHealthSettings",
    "StorageSettings",
    "TLSSettings",
    "TagSettings",
    "TokenServiceSettings",
    "TokenSettings",
    "UploadPurgingSettings",
    "load_settings",
]
