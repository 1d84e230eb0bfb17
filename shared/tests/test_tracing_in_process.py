"""Tracing: on or off from the OTEL_* variables alone; off, nothing of OpenTelemetry in an app; on, the spans of
the server, the storage driver and the descriptor-cache client, with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from registry_core import spans, tracing
from registry_core.blobs.keepalive import KeepAlivePool
from registry_core.config import Settings
from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import PathNotFoundError
from registry_core.storage.inmemory import InMemoryDriver
from registry_core.testing.service_app import running_app
from registry_core.web.app import create_service_app

ENDPOINT = "http://collector:4318"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{ENDPOINT}/v1/traces"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ("otlp", "console")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ()),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ()),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, ()),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ("otlp",)),
        ({"OTEL_SERVICE_NAME": "registry", "OTEL_BSP_SCHEDULE_DELAY": "100"}, ()),
    ],
)
def test_on_or_off_from_the_environment(env: dict[str, str], expected: tuple[str, ...]) -> None:
    assert tracing.exporters(env) == expected
    assert tracing.enabled(env) is bool(expected)


def test_the_service_name_and_instance() -> None:
    default = tracing.resource_attributes("blob-read", {})
    assert default["service.name"] == "registry-blob-read"
    assert default["service.instance.id"] != tracing.resource_attributes("blob-read", {})["service.instance.id"]
    given = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from%20attrs,service.instance.id=r1,deployment=x"}
    assert tracing.resource_attributes("token", given) == {"service.name": "from attrs", "service.instance.id": "r1"}
    named = tracing.resource_attributes("token", {"OTEL_SERVICE_NAME": "tokens", **given})
    assert named["service.name"] == "tokens"


def create(settings: Settings) -> FastAPI:
    return create_service_app("probe", settings)


def opentelemetry_in(app: FastAPI) -> list[str]:
    """Every layer of the app's middleware stack whose class comes from OpenTelemetry or this tracing module."""
    layers, layer = [], app.build_middleware_stack()
    while layer is not None:
        layers.append(layer)
        layer = getattr(layer, "app", None)
    return [
        type(layer).__qualname__
        for layer in layers
        if type(layer).__module__.startswith(("opentelemetry", tracing.__name__))
    ]


async def test_off_an_app_has_nothing_of_opentelemetry(tmp_path: Path) -> None:
    assert not tracing.active() and spans.TRACER is None
    async with running_app(tmp_path, create) as client:
        assert (await client.get("/healthz")).status_code == 200
    app = create_service_app("probe", Settings())
    assert opentelemetry_in(app) == []
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing on (this module's own provider, no global instrumentation), the spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    try:
        yield exporter
    finally:
        tracing.shutdown()
    assert spans.TRACER is None


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_on_the_server_span_has_the_request_id_and_the_callers_parent(
    exported: InMemorySpanExporter, tmp_path: Path
) -> None:
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with running_app(tmp_path, create) as client:
        response = await client.get("/healthz", headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    (server,) = [s for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.name == "GET /healthz"
    assert server.attributes is not None and server.parent is not None
    assert server.attributes["registry.request_id"] == response.headers["x-request-id"]
    assert (format(server.context.trace_id, "032x"), format(server.parent.span_id, "016x")) == (trace_id, parent)
    assert not tracing.active(), "the lifespan's exit flushed and shut tracing down"


async def test_on_each_driver_call_is_a_span_with_its_path(exported: InMemorySpanExporter) -> None:
    driver = CheckedDriver(InMemoryDriver())
    content = b"secret bytes of a blob"
    tracer = TracerProvider().get_tracer("test")  # a parent outside the registry's spans
    with tracer.start_as_current_span("request") as request:
        await driver.put_content("/a/b/data", content)
        assert await driver.get_content("/a/b/data") == content
        assert b"".join([chunk async for chunk in driver.reader("/a/b/data", 7)]) == content[7:]
        assert [info.path async for info in driver.walk("/a")] == ["/a/b", "/a/b/data"]
        await driver.move("/a/b/data", "/a/c/data")
        with pytest.raises(PathNotFoundError) as missing:
            await driver.stat("/a/b/data")
    assert "inmemory" in str(missing.value), "the error still leaves tagged with the driver's name"

    finished = exported.get_finished_spans()
    assert [s.name for s in finished] == [
        "storage.put_content",
        "storage.get_content",
        "storage.reader",
        "storage.walk",
        "storage.move",
        "storage.stat",
    ]
    for span in finished:
        assert span.parent is not None and span.parent.span_id == request.get_span_context().span_id
        assert span.attributes is not None
        assert span.attributes["storage.driver"] == "inmemory"
        assert span.name == f"storage.{span.attributes['storage.method']}"
        assert all(content.decode() not in str(value) for value in span.attributes.values())
    assert named(exported, "storage.reader")[0].attributes == {
        "storage.driver": "inmemory",
        "storage.method": "reader",
        "storage.path": "/a/b/data",
    }
    (move,) = named(exported, "storage.move")
    assert move.attributes is not None
    assert (move.attributes["storage.path"], move.attributes["storage.destination"]) == ("/a/b/data", "/a/c/data")
    (stat,) = named(exported, "storage.stat")
    assert stat.status.status_code == StatusCode.ERROR


async def test_a_reader_span_ends_with_its_iteration(exported: InMemorySpanExporter) -> None:
    driver = CheckedDriver(InMemoryDriver())
    await driver.put_content("/x/data", b"0123456789")
    chunks = driver.reader("/x/data")
    assert await anext(chunks) == b"0123456789"
    assert named(exported, "storage.reader") == [], "still iterating"
    assert [c async for c in chunks] == []
    assert len(named(exported, "storage.reader")) == 1


async def request_heads(method: str, path: str, answer: bytes) -> tuple[int, list[bytes]]:
    """One request through the descriptor-cache client to a server answering ``answer``: its status, and the
    request heads the server received."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    pool = KeepAlivePool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        status = (await pool.request(method, path)).status
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
    return status, heads


async def test_on_the_descriptor_cache_client_sends_its_span_as_traceparent(exported: InMemorySpanExporter) -> None:
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
    status, heads = await request_heads("GET", "/v1/generation", answer)
    assert status == 404
    (client,) = exported.get_finished_spans()
    assert client.kind == SpanKind.CLIENT and client.attributes is not None
    assert client.attributes["http.response.status_code"] == 404
    assert client.status.status_code == StatusCode.UNSET, "a miss is an answer, not a failure"
    context = client.get_span_context()
    flags = int(context.trace_flags)
    traceparent = f"traceparent: 00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}\r\n"
    assert traceparent.encode() in heads[0]


async def test_off_the_descriptor_cache_client_sends_no_traceparent() -> None:
    status, heads = await request_heads("DELETE", "/v1/descriptors/x", b"HTTP/1.1 204 No Content\r\n\r\n")
    assert status == 204
    assert b"traceparent" not in heads[0].lower()
