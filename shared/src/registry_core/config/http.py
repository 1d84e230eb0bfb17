"""The ``http`` section."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from registry_core.config.base import MiB, RawSection, _between, _none_to_empty, _Section
from registry_core.config.tls import TLSSettings
from registry_core.durations import Duration, PositiveDuration


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
    draintimeout: Duration | None = Field(None, description="graceful shutdown: how long requests in flight may finish")
    headers: Annotated[dict[str, list[str]], BeforeValidator(_none_to_empty)] = {}
    debug: RawSection = {}
    tls: TLSSettings = Field(default_factory=TLSSettings)
    http2: RawSection = {}
    blobcachemaxage: Duration = Field(timedelta(hours=168), description="Cache-Control max-age of blob responses")
    sendfile: bool = Field(True, description="send blob bodies from local files with sendfile(2), else by copies")
    limits: HttpLimitsSettings = Field(default_factory=HttpLimitsSettings)
