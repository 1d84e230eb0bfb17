"""The scaled deployment as a contender: the compose stack with replicas, measured like the other servers.

``deploy/compose.yml`` with the local images of ``deploy/compose.local.yml`` (built offline: ``make images``) and
``bench/compose.bench.yml`` (filesystem storage on one volume shared by every registry container, as the other
contenders store on the same disk; errors-only logging): an nginx gateway in front of ``readers`` blob-read and
``writers`` blob-write containers, the descriptor-cache service with Redis, the purger. The workloads talk to the
gateway container's address on its bridge network, not a published port, so no docker-proxy sits in the path;
every process of those containers, as this host's ``/proc`` shows them, counts as the server's CPU and memory.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import descendants
from registry_core.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILES = (
    ROOT / "deploy" / "compose.yml",
    ROOT / "deploy" / "compose.local.yml",
    ROOT / "bench" / "compose.bench.yml",
)
PROJECT = "registry-bench"
MEASURED = ("gateway", "blob-read", "blob-write", "descriptor-cache", "redis", "purger")
"""The services whose processes are the server (the S3 stand-in starts too; nothing is stored there)."""
GATEWAY_PORT = 8080
GATEWAY_RESOLVE_INTERVAL = 5.0  # deploy/nginx/gateway.sh: how soon the gateway routes to every replica
BUILD_TIMEOUT = 1800
COMMAND_TIMEOUT = 600
READY_TIMEOUT = 240.0


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) or ``docker-compose``, whichever is installed; None when neither is."""
    if _succeeds(["docker", "compose", "version"]):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def docker_answers() -> bool:
    return shutil.which("docker") is not None and _succeeds(["docker", "info"])


def _succeeds(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run(argv: list[str], timeout: float = COMMAND_TIMEOUT, log: Path | None = None) -> str:
    """``argv``'s stdout; its output (appended to ``log`` when given) in the error when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT)
    if log is not None:
        with open(log, "a") as out:
            out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


@dataclass
class ComposeStack:
    """A running stack; ``stop`` removes its containers, network and volumes."""

    name: str
    compose: tuple[str, ...]
    gateway_address: str
    roots: dict[str, int]
    """The main process of each measured container, by container name."""
    log: Path

    @property
    def host(self) -> str:
        return self.gateway_address

    @property
    def port(self) -> int:
        return GATEWAY_PORT

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pids(self) -> list[int]:
        return [pid for root in self.roots.values() for pid in descendants(root)]

    def failure(self) -> str | None:
        gone = [name for name, pid in self.roots.items() if not Path(f"/proc/{pid}").exists()]
        if not gone:
            return None
        logs = subprocess.run(
            [*self.compose, "logs", "--no-color", "--tail", "40"], capture_output=True, text=True, timeout=120
        )
        return f"{self.name}: container(s) {', '.join(gone)} stopped:\n{logs.stdout[-4000:]}"

    def stop(self) -> None:
        down(self.compose)


def _compose_argv(compose: list[str]) -> tuple[str, ...]:
    return (*compose, "-p", PROJECT, *(arg for f in COMPOSE_FILES for arg in ("-f", str(f))))


def down(compose: tuple[str, ...]) -> None:
    subprocess.run(
        [*compose, "down", "-v", "--remove-orphans", "--timeout", "10"], capture_output=True, timeout=COMMAND_TIMEOUT
    )


def build_images(log: Path) -> None:
    """The stack's images, offline (``make images``): cached by Docker and the scripts, so quick once built."""
    print(f"building the stack's images offline (~6 min the first time; log: {log})", file=sys.stderr, flush=True)
    _run(["bash", "deploy/build-local-base.sh"], BUILD_TIMEOUT, log)
    _run(["bash", "deploy/build-image.sh", "--local"], BUILD_TIMEOUT, log)


def start_stack(directory: Path, readers: int, writers: int, name: str = "compose") -> ComposeStack:
    """Build the images when needed, start the stack with ``readers`` and ``writers`` replicas, and wait until every
    container is healthy and the gateway routes to all of them."""
    found = compose_command()
    if found is None:
        raise RuntimeError("neither 'docker compose' nor docker-compose is installed")
    compose = _compose_argv(found)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "stack.log"
    build_images(log)
    down(compose)  # an earlier run's leftovers
    port = free_port()  # compose.yml publishes the gateway; the workloads use its bridge address instead
    scale = ["--scale", f"blob-read={readers}", "--scale", f"blob-write={writers}"]
    env_argv = ["env", f"REGISTRY_PUBLISH=127.0.0.1:{port}"]
    try:
        _run([*env_argv, *compose, "up", "-d", "--no-build", *scale], COMMAND_TIMEOUT, log)
        roots = _wait_healthy(compose, {"blob-read": readers, "blob-write": writers})
        stack = ComposeStack(name, compose, _gateway_address(compose), roots, log)
        _wait_serving(stack.url)
        time.sleep(GATEWAY_RESOLVE_INTERVAL + 1)  # the gateway's next resolution sees every replica
    except BaseException:
        down(compose)
        raise
    return stack


def _containers(compose: tuple[str, ...], service: str) -> list[str]:
    return _run([*compose, "ps", "-q", service]).split()


def _inspect(container: str, template: str) -> str:
    return _run(["docker", "inspect", "-f", template, container]).strip()


STATE = (
    '{{index .Config.Labels "com.docker.compose.service"}} {{.Name}} {{.State.Pid}} '
    "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}"
)
"""Per container, one ``docker inspect`` line: service, name, main pid, state/health."""


def _wait_healthy(compose: tuple[str, ...], replicas: dict[str, int]) -> dict[str, int]:
    """The main pid of each measured container by name, once each service runs its number of healthy
    containers (one ``compose ps`` and one ``docker inspect`` per poll)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        ids = _run([*compose, "ps", "-q"]).split()
        rows = [line.split() for line in _run(["docker", "inspect", "-f", STATE, *ids]).splitlines()] if ids else []
        measured = [(svc, name.lstrip("/"), int(pid), state) for svc, name, pid, state in rows if svc in MEASURED]
        states = {s: [state for service, _, _, state in measured if service == s] for s in MEASURED}
        if all(len(states[s]) == replicas.get(s, 1) and set(states[s]) == {"running/healthy"} for s in MEASURED):
            return {name: pid for _, name, pid, _ in measured}
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack was not healthy within {READY_TIMEOUT:.0f} s: {states}")
        time.sleep(1)


def _gateway_address(compose: tuple[str, ...]) -> str:
    """The gateway's address on its client-facing network (``<project>_frontend``)."""
    (gateway,) = _containers(compose, "gateway")
    networks = _inspect(gateway, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}")
    for entry in networks.split():
        network, _, address = entry.partition("=")
        if network.endswith("_frontend") and address:
            return address
    raise RuntimeError(f"the gateway has no address on a frontend network: {networks}")


def _wait_serving(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/v2/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway at {url} did not answer GET /v2/ within {READY_TIMEOUT:.0f} s")
        time.sleep(1)
