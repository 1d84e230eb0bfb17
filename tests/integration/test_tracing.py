"""OpenTelemetry tracing across processes: blob-read, the descriptor-cache service it asks (over Redis) and
blob-write, all exporting by OTLP/HTTP to a receiver in this test.

One blob GET through blob-read, sent with a ``traceparent`` as the gateway passes it on, must give one trace:
blob-read's server span under the caller's span, the storage driver's spans under it, its client spans to the
descriptor-cache service, and that service's server span under them. And the spans still queued when a service
gets SIGTERM are exported before it exits.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, RedisServer, start_registry, stop

pytestmark = [pytest.mark.integration, pytest.mark.redis]

WAIT = 30.0
"""Seconds to wait for spans to arrive (a bound on waiting, not a measure: they come within a second)."""


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    received = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name")),
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return received


class Receiver:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` of protobuf ``ExportTraceServiceRequest``s."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/traces" or self.headers.get("Content-Encoding") not in (None, "identity"):
                    self.send_error(400)
                    return
                spans = decode(body)
                with receiver.lock:
                    receiver.spans.extend(spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(self, trace_id: str, *wanted: tuple[str, int]) -> list[ReceivedSpan]:
        """The trace's spans, once it has a span of each ``(service, kind)`` wanted."""
        deadline = time.monotonic() + WAIT
        while True:
            spans = self.of_trace(trace_id)
            if all(any((s.service, s.kind) == w for s in spans) for w in wanted):
                return spans
            if time.monotonic() > deadline:
                pytest.fail(f"no spans {wanted} of trace {trace_id} within {WAIT}s; got {spans}")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tracing_env(receiver: Receiver, **more: str) -> dict[str, str]:
    """This environment, less any OTEL_* of the caller's, exporting to ``receiver``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    return env | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"} | more


@dataclass
class Traced:
    receiver: Receiver
    descriptor_cache: Process
    reader: Process
    writer: Process


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Traced]:
    directory = tmp_path_factory.mktemp("tracing")
    root = directory / "root"
    receiver = Receiver()
    env = tracing_env(receiver)
    started: list[Process] = []

    def start(service: str, config: str) -> str:
        path = write(directory / f"{service}.yml", config)
        started.append(start_registry(service, path, directory, env=env))
        return started[-1].url

    try:
        cache_url = start("descriptor-cache", filesystem_config(root, redis_server.addr))
        start("blob-read", filesystem_config(root, redis_server.addr, cache="remote", descriptor_cache=cache_url))
        start("blob-write", filesystem_config(root, cache="inmemory"))  # blob-read's cache stays cold: miss, fill
        yield Traced(receiver, *started)
    finally:
        for process in started:
            stop(process.proc)
        receiver.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def traceparent() -> tuple[str, str, str]:
    """A new trace: its id, the caller's span id, and the ``traceparent`` header naming both (sampled)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """``span``'s parent, its parent's parent, ... as far as they are among ``spans``."""
    by_id = {s.span_id: s for s in spans}
    chain = []
    while (parent := by_id.get(span.parent_id)) is not None:
        chain.append(parent)
        span = parent
    return chain


SERVER, CLIENT = SpanProto.SPAN_KIND_SERVER, SpanProto.SPAN_KIND_CLIENT


def test_one_blob_get_is_one_trace_across_the_services(traced: Traced) -> None:
    content = b"traced-blob-" + secrets.token_hex(32).encode()
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    pushed = httpx.post(f"{traced.writer.url}/v2/traced/app/blobs/uploads/", params={"digest": digest}, content=content)
    assert pushed.status_code == 201, pushed.text

    trace_id, caller_span, header = traceparent()
    got = httpx.get(f"{traced.reader.url}/v2/traced/app/blobs/{digest}", headers={"traceparent": header})
    assert got.status_code == 200 and got.content == content

    spans = traced.receiver.wait_for(trace_id, ("registry-blob-read", SERVER), ("registry-descriptor-cache", SERVER))
    read = [s for s in spans if s.service == "registry-blob-read"]
    (server,) = [s for s in read if s.kind == SERVER]
    assert server.parent_id == caller_span, "the incoming traceparent is the server span's parent"
    assert server.attributes["registry.request_id"] == got.headers["x-request-id"]

    storage = [s for s in read if s.name.startswith("storage.")]
    assert storage, f"no storage spans in {[s.name for s in read]}"
    for span in storage:
        assert server in ancestors(span, spans), f"{span.name} is not under the server span"
        assert span.attributes["storage.driver"] == "filesystem"
        assert span.name == f"storage.{span.attributes['storage.method']}"
        assert span.attributes["storage.path"].startswith("/docker/registry/v2/")
    assert any(s.attributes["storage.path"].endswith(f"/{digest.split(':')[1]}/data") for s in storage)

    cache_servers = [s for s in spans if s.service == "registry-descriptor-cache" and s.kind == SERVER]
    for cache_server in cache_servers:
        client = next((s for s in ancestors(cache_server, spans) if s.kind == CLIENT), None)
        assert client is not None and client.service == "registry-blob-read", "not joined to blob-read's call"
        assert server in ancestors(client, spans)
    redis_calls = [s for s in spans if s.service == "registry-descriptor-cache" and s.kind == CLIENT]
    assert redis_calls, "the descriptor-cache service's Redis calls are spans of the same trace"

    for span in spans:  # names and paths only: not a byte of the blob
        for value in span.attributes.values():
            assert not isinstance(value, bytes)
            assert content.decode() not in str(value)


def test_the_spans_queued_at_sigterm_are_exported(tmp_path: Path) -> None:
    """The batch processor would wait a minute: a stop (SIGTERM) must still export what it holds."""
    receiver = Receiver()
    try:
        env = tracing_env(receiver, OTEL_BSP_SCHEDULE_DELAY="60000", OTEL_SERVICE_NAME="stopped-cache")
        config = write(tmp_path / "config.yml", filesystem_config(tmp_path / "root"))
        process = start_registry("descriptor-cache", config, tmp_path, env=env)
        try:
            trace_id, _, header = traceparent()
            assert httpx.get(f"{process.url}/v1/generation", headers={"traceparent": header}).status_code == 200
            assert receiver.of_trace(trace_id) == []
        finally:
            stop(process.proc)
        assert process.proc.returncode is not None
        (span,) = receiver.wait_for(trace_id, ("stopped-cache", SERVER))
        assert span.name == "GET /v1/generation"
    finally:
        receiver.close()
