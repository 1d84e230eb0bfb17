"""The ``http=`` protocol ``registry serve`` gives uvicorn: httptools with the request limits of ``http.limits``
(:mod:`registry_server.limits`) and, where uvicorn has the hooks it needs, file sending for blob GETs
(:mod:`registry_server.zerocopy`)."""

from __future__ import annotations

import logging

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from registry_core.config import HttpSettings
from registry_server.limits import HOOKS, LimitedHttpToolsProtocol
from registry_server.zerocopy import ZeroCopyHttpToolsProtocol

log = logging.getLogger("registry.http")

ZERO_COPY_HOOKS = ("on_message_begin", "_start_asgi_task")


def http_protocol(settings: HttpSettings) -> type[HttpToolsProtocol]:
    """The protocol class for ``settings``; a ``RuntimeError`` if this uvicorn cannot enforce the limits (rather
    than serving without them)."""
    missing = [hook for hook in HOOKS if not hasattr(HttpToolsProtocol, hook)]
    if missing:
        raise RuntimeError(
            f"uvicorn {uvicorn.__version__} has no HttpToolsProtocol.{', .'.join(missing)}: "
            "the request limits of http.limits cannot be enforced"
        )
    bases: tuple[type[HttpToolsProtocol], ...] = (LimitedHttpToolsProtocol,)
    if all(hasattr(HttpToolsProtocol, hook) for hook in ZERO_COPY_HOOKS):
        bases = (ZeroCopyHttpToolsProtocol, *bases)
    else:
        log.warning("uvicorn %s: blob bodies are sent without the copier threads", uvicorn.__version__)
    limits = settings.limits
    attributes = {
        "sendfile": settings.sendfile,
        "max_head_bytes": limits.maxheaderbytes,
        "head_timeout": limits.headertimeout.total_seconds(),
        "idle_timeout": limits.idletimeout.total_seconds(),
    }
    return type("RegistryHttpToolsProtocol", bases, attributes)
