"""The ``http`` section."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field

from registry_core.config.base import RawSection, _none_to_empty, _Section
from registry_core.config.tls import TLSSettings
from registry_core.durations import Duration


class HttpSettings(_Section):
    addr: str = ":5000"
    host: str | None = None
    prefix: str = ""
    secret: str | None = Field(None, repr=False)
    relativeurls: bool = False
    draintimeout: Duration | None = Field(None, description="graceful shutdown: how long requests in flight may finish")
    headers: Annotated[dict[str, list[str]], BeforeValidator(_none_to_empty)] = {}
    debug: RawSection = {}
    tls: TLSSettings = Field(default_factory=TLSSettings)
    http2: RawSection = {}
    blobcachemaxage: Duration = Field(timedelta(hours=168), description="Cache-Control max-age of blob responses")
    sendfile: bool = Field(True, description="send blob bodies from local files with sendfile(2), else by copies")
