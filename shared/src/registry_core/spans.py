"""The spans this code makes itself: storage driver calls, and the descriptor-cache client's requests.

:data:`TRACER` stays ``None`` unless :func:`registry_core.tracing.configure` turned tracing on: the callers
check it once per call and, while it is ``None``, create nothing. The instrumentation packages cover the rest
(the server span, Redis, httpx, botocore).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

TRACER: Tracer | None = None
"""The tracer of the spans below; ``None`` while tracing is off."""


def enable(tracer: Tracer | None) -> None:
    """Start (a tracer) or stop (``None``) making the spans of this module."""
    global TRACER
    TRACER = tracer


@contextmanager
def driver_span(
    tracer: Tracer, driver: str, method: str, path: str, dest: str | None = None, *, current: bool = True
) -> Iterator[Span]:
    """``storage.<method>``: the driver's name, the method and the path (never any content).

    ``current=False`` for the async generators (``reader``, ``walk``): their iteration spans the request and
    may go on in another task (a streaming response iterates in its own), so a context attached inside them
    would leak into the consumer between items and be detached from another context. The span then only
    measures the iteration, without becoming the parent of what the driver calls meanwhile.
    """
    attributes: dict[str, str] = {"storage.driver": driver, "storage.method": method, "storage.path": path}
    if dest is not None:
        attributes["storage.destination"] = dest
    name = f"storage.{method}"
    if current:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span
        return
    span = tracer.start_span(name, attributes=attributes)
    try:
        yield span
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        span.end()


@contextmanager
def client_span(tracer: Tracer, method: str, url: str, server: tuple[str, int]) -> Iterator[tuple[Span, str]]:
    """An HTTP client span around one request; yields it and the header lines (``traceparent``, ``tracestate``,
    ``baggage``: the configured propagators) that carry its context to the server."""
    attributes: Mapping[str, str | int] = {
        "http.request.method": method,
        "url.full": url,
        "server.address": server[0],
        "server.port": server[1],
    }
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        # tracestate and baggage come from the incoming request: never let a line break through
        lines = (f"{name}: {value}\r\n" for name, value in carrier.items() if "\r" not in value and "\n" not in value)
        yield span, "".join(lines)


def set_status_code(span: Span, status: int) -> None:
    """The response's status on a client span. Only 5xx marks it failed: the descriptor-cache service answers
    404 for a miss and 409 for a stale fill, both ordinary answers."""
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
