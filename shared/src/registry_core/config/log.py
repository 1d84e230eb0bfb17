"""The ``log`` section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from registry_core.config.base import RawSection, _Section


class AccessLogSettings(_Section):
    """Absent: no access log (ours, for speed); ``disabled: false`` turns it on (``registry_core.web.access_log``)."""

    disabled: bool | None = None


class LogSettings(_Section):
    level: Annotated[
        Literal["error", "warn", "info", "debug"],
        BeforeValidator(lambda v: {"warning": "warn"}.get(str(v).lower(), str(v).lower())),
    ] = "info"
    formatter: Literal["text", "json", "logstash"] | None = None
    fields: RawSection = {}
    accesslog: AccessLogSettings = Field(default_factory=AccessLogSettings)
