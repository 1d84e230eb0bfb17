"""The ``services`` section: ours, for what the Go registry has no key for."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from registry_core.config.auth import AccessRuleList
from registry_core.config.base import NonEmptyStr, _http_url, _Section
from registry_core.durations import PositiveDuration


class DescriptorCacheSettings(_Section):
    """The remote blob-descriptor cache service (``storage.cache.blobdescriptor: remote``)."""

    url: Annotated[str, AfterValidator(_http_url)] | None = None
    timeout: PositiveDuration = timedelta(milliseconds=250)


class PurgerSettings(_Section):
    lease: PositiveDuration = timedelta(seconds=60)


class TokenServiceSettings(_Section):
    """``registry serve token``: the Docker token protocol, for users of an htpasswd file under access rules."""

    issuer: NonEmptyStr = "registry-token"
    service: NonEmptyStr = "registry"
    key: NonEmptyStr | None = None
    certificate: NonEmptyStr | None = None
    expiration: PositiveDuration = timedelta(minutes=5)
    htpasswd: NonEmptyStr | None = None
    access: AccessRuleList | None = None


class ServicesSettings(_Section):
    """Ours: what the Go registry has no key for."""

    token: TokenServiceSettings = Field(default_factory=TokenServiceSettings)
    descriptorcache: DescriptorCacheSettings = Field(default_factory=DescriptorCacheSettings)
    purger: PurgerSettings = Field(default_factory=PurgerSettings)
