"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` environment variables (as the Go registry
3.x is), and off unless they ask for it.

On when ``OTEL_TRACES_EXPORTER`` names ``otlp`` or ``console``, or, unset, when ``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; off when ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``. Spans leave by OTLP over HTTP/protobuf through a batch processor; the SDK itself
reads the rest (``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``, ``OTEL_PROPAGATORS``,
``OTEL_RESOURCE_ATTRIBUTES``).

:func:`configure` runs once per process, before the app is built; :func:`shutdown` flushes when the server has
stopped. While off nothing is installed: no middleware, no instrumentation, no span object on any request (the
storage and descriptor-cache code check :data:`registry_core.spans.TRACER`, which stays ``None``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send

from registry_core import spans
from registry_core.web.request_context import current_request_id

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("registry.tracing")

EXPORTERS = ("otlp", "console")
"""The values of ``OTEL_TRACES_EXPORTER`` this registry knows (a comma-separated list, ``none`` for none)."""

REQUEST_ID_ATTRIBUTE = "registry.request_id"

_provider: TracerProvider | None = None


def exporters(env: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters ``env`` asks for, in its order; empty when tracing is off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    names = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if not names:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ("otlp",) if endpoint else ()
    if "none" in names:
        return ()
    if unknown := [name for name in names if name not in EXPORTERS]:
        log.warning("OTEL_TRACES_EXPORTER: ignoring %s (this registry exports to otlp or console)", unknown)
    return tuple(dict.fromkeys(name for name in names if name in EXPORTERS))


def enabled(env: Mapping[str, str]) -> bool:
    """Whether ``env`` turns tracing on."""
    return bool(exporters(env))


def resource_attributes(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """``service.name`` (``OTEL_SERVICE_NAME``, else ``OTEL_RESOURCE_ATTRIBUTES``' own, else
    ``registry-<service>``) and ``service.instance.id`` (a new one per process unless given)."""
    given: dict[str, str] = {}
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep:
            given[unquote(key.strip())] = unquote(value.strip())
    return {
        "service.name": env.get("OTEL_SERVICE_NAME") or given.get("service.name") or f"registry-{service}",
        "service.instance.id": given.get("service.instance.id") or str(uuid.uuid4()),
    }


def active() -> bool:
    """Whether :func:`configure` turned tracing on in this process."""
    return _provider is not None


def configure(service: str, env: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on for the process serving ``service`` if ``env`` (default ``os.environ``) asks for it:
    the tracer provider (global), the Redis and botocore instrumentations, and this code's own spans. Not httpx's:
    the only httpx client serving requests posts notifications, and a webhook URL may carry a token that its
    ``url.full`` attribute would export. Returns whether it did."""
    env = os.environ if env is None else env
    names = exporters(env)
    if not names or _provider is not None:
        return _provider is not None
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create(resource_attributes(service, env)), shutdown_on_exit=False)
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, env)))  # OTEL_BSP_* apply
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    activate(provider)
    log.info("tracing on: exporting to %s", ", ".join(names))
    return True


def activate(provider: TracerProvider) -> None:
    """Trace with ``provider`` from now on: this code's own spans, and the server span of the apps built next.
    :func:`configure`'s last step; tests call it with a provider of their own, leaving the process's global
    state (the global provider, the library instrumentations) alone."""
    global _provider
    spans.enable(provider.get_tracer("registry_core"))
    _provider = provider


def _exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "http/protobuf"):
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: this registry exports http/protobuf only", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # the endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*


def shutdown() -> None:
    """Export the spans still queued and stop (at the server's exit; harmless when tracing is off)."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        spans.enable(None)
        provider.shutdown()


def instrument_app(app: FastAPI, tracer_provider: TracerProvider | None = None) -> None:
    """A server span per request (``traceparent`` honoured), carrying the request id.

    Call it before :class:`~registry_core.web.request_context.RequestContextMiddleware` is added: the FastAPI
    instrumentation wraps the whole middleware stack, so its span starts before the request has an id; the
    small middleware added here sits just inside ``RequestContextMiddleware`` and puts the id on that span.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app.add_middleware(RequestIdSpanMiddleware)
    # no span per ASGI send/receive: a blob sent in chunks would make thousands
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider or _provider, exclude_spans=["receive", "send"]
    )


class RequestIdSpanMiddleware:
    """Sets ``registry.request_id`` on the request's server span (installed only while tracing is on)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (request_id := current_request_id()) is not None:
            trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        await self.app(scope, receive, send)
