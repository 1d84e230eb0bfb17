"""A real webhook endpoint for notification tests: an HTTP server in a thread, on a loopback port, that records
every envelope POSTed to it; it can answer failures for a while, or be stopped and started again on its port."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from registry_core.testing.servers import free_port

WAIT = 30.0
"""Seconds a test waits for deliveries at most: a bound for a failing test, not a timing expectation."""


@dataclass(frozen=True)
class Received:
    """One POST: its headers (lower-case names), its status answered, its JSON body."""

    headers: dict[str, str]
    status: int
    body: dict[str, Any]


class EventListener:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.failures_left = 0
        self.failure_status = 500
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of every envelope accepted (answered 200), in the order received."""
        with self._changed:
            return [event for r in self.received if r.status == 200 for event in r.body["events"]]

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer ``status`` to the next ``count`` POSTs."""
        with self._changed:
            self.failures_left, self.failure_status = count, status

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"listener:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait_until(self, condition: Callable[[EventListener], bool], timeout: float = WAIT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self), timeout):
                raise AssertionError(f"the listener on port {self.port} did not receive the expected events")

    def wait_for_events(self, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """The first ``count`` events accepted, once they have arrived."""
        self.wait_until(lambda listener: len(listener.events) >= count, timeout)
        return self.events[:count]

    def _record(self, headers: dict[str, str], body: dict[str, Any]) -> int:
        with self._changed:
            status = 200
            if self.failures_left:
                self.failures_left -= 1
                status = self.failure_status
            self.received.append(Received(headers, status, body))
            self._changed.notify_all()
            return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                headers = {name.lower(): ", ".join(self.headers.get_all(name, [])) for name in self.headers}
                status = listener._record(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def listening(port: int | None = None) -> Iterator[EventListener]:
    """An :class:`EventListener`, started, while the block runs."""
    listener = EventListener(port)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()
