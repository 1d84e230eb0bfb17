"""The ``redis`` section."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from registry_core.config.base import _host_port, _Section
from registry_core.durations import Duration


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
