"""A real webhook endpoint for notification tests: an HTTP server in a thread, on a loopback port, that records
every envelope POSTed to it (on any path: several endpoints may share it); it can answer failures for a while, hold
its answers (an envelope in flight), or be stopped and started again on its port."""

from __future__ import annotations

import contextlib
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
    """One POST: its headers (lower-case names), its status answered, its JSON body, its path."""

    headers: dict[str, str]
    status: int
    body: dict[str, Any]
    path: str = "/events"


class EventListener:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.failures_left = 0
        self.failure_status = 500
        self.holding = 0
        """POSTs recorded and not answered yet (while :meth:`hold` is on)."""
        self._released = threading.Event()
        self._released.set()
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.url_at("/events")

    def url_at(self, path: str) -> str:
        """The URL of ``path`` on this listener (each endpoint of a registry on a path of its own, say)."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of every envelope accepted (answered 200), in the order received."""
        return self.events_at(None)

    def events_at(self, path: str | None) -> list[dict[str, Any]]:
        """The events of every envelope accepted on ``path`` (any path if None), in the order received."""
        with self._changed:
            accepted = (r for r in self.received if r.status == 200 and path in (None, r.path))
            return [event for r in accepted for event in r.body["events"]]

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer ``status`` to the next ``count`` POSTs."""
        with self._changed:
            self.failures_left, self.failure_status = count, status

    def hold(self) -> None:
        """Record each POST from now on as usual, then hold its answer until :meth:`release` (at most :data:`WAIT`
        seconds): the envelope is accepted here but the sender does not know it yet."""
        self._released.clear()

    def release(self) -> None:
        """Answer the POSTs held (an answer to a sender gone meanwhile is lost, silently)."""
        self._released.set()

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"listener:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port: connections are refused until :meth:`start`. Held answers are released first."""
        self.release()
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

    def _record(self, headers: dict[str, str], body: dict[str, Any], path: str) -> int:
        with self._changed:
            status = 200
            if self.failures_left:
                self.failures_left -= 1
                status = self.failure_status
            self.received.append(Received(headers, status, body, path))
            self._changed.notify_all()
            return status

    def _wait_for_release(self) -> None:
        if self._released.is_set():
            return
        with self._changed:
            self.holding += 1
            self._changed.notify_all()
        self._released.wait(WAIT)
        with self._changed:
            self.holding -= 1
            self._changed.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                headers = {name.lower(): ", ".join(self.headers.get_all(name, [])) for name in self.headers}
                status = listener._record(headers, body, self.path)
                listener._wait_for_release()
                with contextlib.suppress(OSError):  # the sender may be gone (killed while the answer was held)
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
