"""A webhook listener for benchmarks: answers every POST 200 at once and counts the events it received
(``GET /count``). Run as its own process (``python -m bench.event_sink PORT``) so its CPU is its own, and kept
cheap (events are counted, not decoded): it shares the machine's cores with the registry it measures, where a
real listener would run elsewhere."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    events = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        received = body.count(b'"action":')  # one per event; not decoding keeps this process's CPU small
        with Sink.lock:
            Sink.events += received
        self._answer(b"")

    def do_GET(self) -> None:
        self._answer(str(Sink.events).encode())

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()


if __name__ == "__main__":
    main()
