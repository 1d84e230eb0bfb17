"""The servers under test, each from the same config.yml on a free loopback port, storage on the same disk.

- ``ours``: ``registry serve all`` (filesystem storage, in-memory descriptor cache);
- ``go``: Debian's ``docker-registry`` (the Go registry 2.8), installed with apt-get when missing, same config;
- ``nginx``: the host nginx serving one file with ``sendfile on``, the ceiling of a blob pull on this machine.

Both registries get every core. The Go runtime uses them all; ours is one process (an event loop, plus worker
threads for file I/O and the kernel's sendfile): several uvicorn workers would each hold their own in-memory
descriptor cache and upload hashers, which is incoherent (bench/RESULTS.md measures what they would bring).
The compose stack, a third contender when Docker answers, is in ``bench/stack.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.procs import descendants
from registry_core.testing.servers import Process, free_port, start_process, stop

GO_REGISTRY = "/usr/bin/docker-registry"
FORBIDDEN_PORT = 5000  # what a developer's own registry listens on

CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

NGINX_CONFIG = """\
daemon off;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Server(Protocol):
    """What the workloads see of a contender: ``name`` is its column in the report."""

    name: str

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...

    def pids(self) -> list[int]:
        """Every process that serves it (whose CPU and memory count), as seen from this host's ``/proc``."""
        ...

    def failure(self) -> str | None:
        """Why it no longer serves (with its last log lines), or None while it runs."""
        ...

    def stop(self) -> None: ...


@dataclass
class LocalServer:
    """A server process started here, on a loopback port."""

    name: str
    process: Process

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def url(self) -> str:
        return self.process.url

    def pids(self) -> list[int]:
        """The server's processes (a master and its workers), master first."""
        return descendants(self.process.proc.pid)

    def failure(self) -> str | None:
        if self.process.proc.poll() is None:
            return None
        return f"{self.name} exited ({self.process.proc.returncode}):\n{self.process.output()[-4000:]}"

    def stop(self) -> None:
        stop(self.process.proc)


def _port() -> int:
    while (port := free_port()) == FORBIDDEN_PORT:
        pass
    return port


def _config(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=directory / "root", port=port))
    return config


def ensure_go_registry() -> str:
    """The Go registry's binary; ``apt-get install docker-registry`` first if it is missing."""
    if not Path(GO_REGISTRY).exists():
        print("installing the Go registry: apt-get install docker-registry", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker-registry"], check=True, env=env, timeout=600)
    return GO_REGISTRY


def start_ours(directory: Path) -> LocalServer:
    port = _port()
    config = _config(directory, port)
    registry = str(Path(sys.executable).with_name("registry"))
    argv = [registry, "serve", "all", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return LocalServer("ours", start_process(argv, port, directory / "server.log", "registry serve all"))


def start_go(directory: Path) -> LocalServer:
    port = _port()
    config = _config(directory, port)
    argv = [ensure_go_registry(), "serve", str(config)]
    return LocalServer("go", start_process(argv, port, directory / "server.log", "docker-registry"))


def start_nginx(directory: Path, root: Path) -> LocalServer:
    """nginx serving the files under ``root`` (made world-readable: its workers do not run as root)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _port()
    directory.mkdir(parents=True, exist_ok=True)
    for path in (directory, root, *root.iterdir()):
        path.chmod(path.stat().st_mode | 0o755)
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(workers=os.cpu_count() or 1, dir=directory, port=port, root=root))
    argv = [binary, "-p", str(directory), "-c", str(config)]
    return LocalServer("nginx", start_process(argv, port, directory / "server.log", "nginx"))
