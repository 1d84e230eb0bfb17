"""The ``registry`` command: ``registry serve SERVICE --config FILE [--host H] [--port P]``, and
``registry garbage-collect`` (:mod:`registry_server.gc_command`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from fastapi import FastAPI

from registry_core import tracing
from registry_core.config import ConfigError, Settings, load_settings
from registry_core.logs import configure_logging
from registry_server import gc_command
from registry_server.pygc import tune_for_serving
from registry_server.tls import server_context

SERVICES: dict[str, str] = {
    "all": "registry_server.app",
    "blob-read": "blob_read.app",
    "blob-write": "blob_write.app",
    "descriptor-cache": "descriptor_cache.app",
    "purger": "registry_purger.app",
    "token": "registry_token.app",
}


def app_factory(service: str) -> Callable[[Settings], FastAPI]:
    factory: Callable[[Settings], FastAPI] = importlib.import_module(SERVICES[service]).create_app
    return factory


def split_addr(addr: str) -> tuple[str, int]:
    """Go's ``http.addr`` (``:5000``, ``0.0.0.0:5000``, ``[::1]:5000``) as host and port."""
    host, _, port = addr.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port or 5000)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="registry", description="A container registry (OCI distribution v1.1).")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve one service, or all of them in one process")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--config", required=True, help="a registry config.yml (the Go registry's shape)")
    serve.add_argument("--host", help="listen address (default: from http.addr)")
    serve.add_argument("--port", type=int, help="listen port (default: from http.addr)")
    gc_command.add_parser(sub)
    return p


DEFAULT_DRAIN_TIMEOUT = 10.0
"""Seconds requests in flight may take to finish on SIGTERM when ``http.draintimeout`` is not set."""


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from registry_server.protocol import http_protocol  # httptools with http.limits, plus file sending for blobs

    try:
        settings = load_settings(args.config)
        check_collected_cache(args.service, settings)
        tls = server_context(settings.http.tls) if settings.http.tls.enabled else None
        configure_logging(settings.log)
        tracing.configure(args.service)  # OTEL_* only; before the app, which instruments itself when on
        app = app_factory(args.service)(settings)  # reads the files auth names (htpasswd, keys)
    except ConfigError as exc:
        print(f"registry: invalid configuration: {exc}", file=sys.stderr)
        tracing.shutdown()
        return 2
    host, port = split_addr(settings.http.addr)
    tune_for_serving()
    try:
        uvicorn.run(
            app,
            host=args.host or host,
            port=args.port or port,
            loop="uvloop",
            http=http_protocol(settings.http),  # also sets the keep-alive timeout (http.limits.idletimeout)
            log_level=settings.log.level.lower() if settings.log.level.lower() != "warn" else "warning",
            log_config=None,  # our handler (registry_core.logs) formats uvicorn's lines too
            access_log=False,  # the app writes the access log (registry_core.web.access_log)
            timeout_graceful_shutdown=drain_timeout(settings),
            # Under TLS the zero-copy protocol offers no file sending: bodies go through the TLS transport.
            ssl_context_factory=None if tls is None else lambda _config, _default: tls,
        )
    finally:
        # The app's lifespan exit already flushed (SIGTERM ends the process right after it): this is for the
        # exits that never got there (a failed start-up, an exception out of uvicorn).
        tracing.shutdown()
    return 0


def check_collected_cache(service: str, settings: Settings) -> None:
    """A reader in a process of its own, with online GC on, needs a cache the collector clears (redis or
    remote): its in-memory cache would go on describing blobs a purger elsewhere deleted (a HEAD answering 200
    for a blob that is gone, so clients skip its upload and their manifest put fails). ``serve all`` collects in
    its own process, on its own cache: any cache will do."""
    kind = settings.storage.cache.blobdescriptor
    if service == "blob-read" and settings.storage.maintenance.garbagecollect.enabled and kind in (None, "inmemory"):
        raise ConfigError(
            "storage.maintenance.garbagecollect.enabled needs storage.cache.blobdescriptor: redis (or remote) for "
            "blob-read: the collector runs in another process and cannot clear an in-memory cache"
        )


def drain_timeout(settings: Settings) -> float:
    """``http.draintimeout`` in seconds (0, as in Go: requests in flight are cancelled at once)."""
    drain = settings.http.draintimeout
    return DEFAULT_DRAIN_TIMEOUT if drain is None else drain.total_seconds()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == gc_command.COMMAND:
        return gc_command.run(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
