"""Real servers for tests, started as subprocesses on free loopback ports (redis-server, moto's S3 server, this
registry, and the Go registry for interoperability tests).

Shipped with the core package so that every test folder, and the benchmarks, start them the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 30.0
GO_REGISTRY = "/usr/bin/docker-registry"
"""The Go registry (``distribution`` 2.8) as Debian's ``docker-registry`` package installs it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{self.addr}/0"


def start_redis(directory: Path, port: int | None = None) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server: make test installs it)")
    port = port or free_port()
    with open(directory / f"redis-{port}.log", "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, proc, "redis-server")
    return RedisServer(port, proc)


@dataclass
class Process:
    """A server subprocess on a loopback port, with its log file."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_process(argv: list[str], port: int, log: Path, what: str, env: dict[str, str] | None = None) -> Process:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc, what)
    except RuntimeError as exc:
        stop(proc)
        raise RuntimeError(f"{exc}\n--- {log} ---\n{log.read_text(errors='replace')[-4000:]}") from None
    return Process(port, proc, log)


def start_moto(directory: Path, port: int | None = None) -> Process:
    """moto's S3 server mode: a real S3 API over HTTP (on ``port``, or a free one). It keeps its data in memory:
    a restarted server starts empty."""
    port = port or free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_process(argv, port, directory / f"moto-{port}.log", "moto server")


def registry_command() -> str:
    """The ``registry`` console script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("registry"))


def start_registry(
    service: str, config: Path, directory: Path, *, port: int | None = None, env: dict[str, str] | None = None
) -> Process:
    """``registry serve SERVICE --config CONFIG`` on a free port, once it accepts connections."""
    port = port or free_port()
    argv = [registry_command(), "serve", service, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return start_process(argv, port, directory / f"{service}-{port}.log", f"registry {service}", env)


def go_registry_binary() -> str | None:
    """The Go registry's executable: :data:`GO_REGISTRY`, else ``docker-registry`` on ``PATH``; ``None`` if absent."""
    return GO_REGISTRY if os.access(GO_REGISTRY, os.X_OK) else shutil.which("docker-registry")


def start_go_registry(
    config: Path, directory: Path, *, port: int | None = None, env: dict[str, str] | None = None
) -> Process:
    """``docker-registry serve CONFIG`` on a free loopback port (``REGISTRY_HTTP_ADDR`` overrides the config's
    ``http.addr``, as the Go registry lets any key be overridden), once it accepts connections."""
    binary = go_registry_binary()
    if binary is None:
        raise RuntimeError("the Go registry is not installed (Debian package docker-registry: make test installs it)")
    port = port or free_port()
    if port == 5000:
        raise ValueError("port 5000 is the development registry's (make run); use another")
    environment = {**os.environ, "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}", **(env or {})}
    log = directory / f"go-registry-{port}.log"
    return start_process([binary, "serve", str(config)], port, log, "the Go registry", environment)
