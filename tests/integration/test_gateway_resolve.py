"""deploy/nginx/gateway.sh's run loop on this host: it follows the addresses of the upstream names and reloads nginx
when they change, but holds an address that leaves the DNS for GATEWAY_HOLD seconds, so that a replica restarting
with its address (docker restart) costs no reload: a reload closes the clients' idle keep-alive connections, and a
client whose next request is already on its way sees the connection drop without an answer.

The DNS is a stand-in `getent` on PATH that answers from a file the test edits; nginx and the script are real.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_core.testing.servers import free_port, wait_for_port

NGINX = "/usr/sbin/nginx"
GATEWAY_SH = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "gateway.sh"
HOLD = 3  # seconds
INTERVAL = 0.2  # seconds between two resolutions

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs(NGINX),
]

# `getent ahostsv4 NAME` as glibc prints it, from the "name address" lines of $TEST_DNS; each call is logged.
FAKE_GETENT = """#!/bin/sh
echo "$2" >>"$TEST_DNS.calls"
awk -v name="$2" '$1 == name { print $2 "       STREAM " name }' "$TEST_DNS"
"""
SERVER_LINE = re.compile(r"^\s*server (\S+):8080 ", re.MULTILINE)


def write_dns(dns: Path, names: dict[str, list[str]]) -> None:
    staged = dns.with_suffix(".next")
    staged.write_text("".join(f"{name} {address}\n" for name, addresses in names.items() for address in addresses))
    staged.replace(dns)


@dataclass
class ResolvingGateway:
    proc: subprocess.Popen[bytes]
    dns: Path
    prefix: Path
    output: Path

    def resolve_to(self, names: dict[str, list[str]]) -> None:
        write_dns(self.dns, names)

    def resolutions(self, name: str) -> int:
        return self.dns.with_name(self.dns.name + ".calls").read_text().split().count(name)

    def reloads(self) -> int:
        return self.output.read_text().count("upstreams changed, reloading")

    def configured(self) -> set[str]:
        return set(SERVER_LINE.findall((self.prefix / "gateway.conf").read_text()))

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"gateway.sh exited:\n{self.output.read_text()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.output.read_text()}"
            time.sleep(0.05)

    def wait_resolutions(self, name: str, count: int) -> None:
        """Until the script has resolved ``name`` ``count`` more times."""
        target = self.resolutions(name) + count
        self.wait(lambda: self.resolutions(name) >= target, f"{count} resolutions of {name}")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[ResolvingGateway]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "getent").write_text(FAKE_GETENT)
    (bin_dir / "getent").chmod(0o755)
    dns, prefix, output = tmp_path / "dns", tmp_path / "nginx", tmp_path / "gateway.log"
    write_dns(dns, {"blob-read": ["10.1.0.2", "10.1.0.3"], "blob-write": ["10.1.0.4"]})
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TEST_DNS": str(dns),
        "GATEWAY_PREFIX": str(prefix),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "GATEWAY_RESOLVE_INTERVAL": str(INTERVAL),
        "GATEWAY_HOLD": str(HOLD),
    }
    env.pop("GATEWAY_SERVERS", None)
    with open(output, "wb") as out:
        proc = subprocess.Popen(["sh", str(GATEWAY_SH)], env=env, stdout=out, stderr=subprocess.STDOUT)
    running = ResolvingGateway(proc, dns, prefix, output)
    try:
        wait_for_port(port, running.proc, "gateway.sh")
        yield running
    finally:
        running.proc.send_signal(signal.SIGTERM)  # nginx stops gracefully, then the script
        try:
            running.proc.wait(30)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            raise


def test_a_replica_back_with_its_address_costs_no_reload(gateway: ResolvingGateway) -> None:
    everyone = {"10.1.0.2", "10.1.0.3", "10.1.0.4"}
    assert gateway.configured() == everyone

    gateway.resolve_to({"blob-read": ["10.1.0.2"], "blob-write": ["10.1.0.4"]})  # 10.1.0.3 restarting
    gateway.wait_resolutions("blob-read", 3)
    gateway.resolve_to({"blob-read": ["10.1.0.2", "10.1.0.3"], "blob-write": ["10.1.0.4"]})
    gateway.wait_resolutions("blob-read", 3)
    assert gateway.reloads() == 0
    assert gateway.configured() == everyone

    # A new address is configured at once (the loop is alive and reloads when it must).
    gateway.resolve_to({"blob-read": ["10.1.0.2", "10.1.0.3", "10.1.0.5"], "blob-write": ["10.1.0.4"]})
    gateway.wait(lambda: gateway.reloads() == 1, "the reload adding 10.1.0.5")
    gateway.wait(lambda: "10.1.0.5" in gateway.configured(), "10.1.0.5 in the rendered configuration")
    assert gateway.configured() == everyone | {"10.1.0.5"}


def test_an_address_gone_longer_than_the_hold_is_dropped(gateway: ResolvingGateway) -> None:
    gateway.resolve_to({"blob-read": ["10.1.0.2"], "blob-write": ["10.1.0.4"]})
    gone = time.monotonic()
    gateway.wait(lambda: gateway.reloads() == 1, "the reload dropping 10.1.0.3", timeout=HOLD + 30)
    held = time.monotonic() - gone
    assert held >= HOLD - 1, f"dropped after {held:.1f} s, before the {HOLD} s hold"  # date +%s: whole seconds
    gateway.wait(lambda: gateway.configured() == {"10.1.0.2", "10.1.0.4"}, "the configuration without 10.1.0.3")


def test_a_name_left_with_no_address_keeps_the_running_configuration(gateway: ResolvingGateway) -> None:
    gateway.resolve_to({"blob-read": ["10.1.0.2", "10.1.0.3"]})  # every writer gone
    gateway.wait(lambda: "no address for blob-write" in gateway.output.read_text(), "the render to fail", HOLD + 30)
    gateway.wait_resolutions("blob-write", 3)
    assert gateway.reloads() == 0
    assert gateway.configured() == {"10.1.0.2", "10.1.0.3", "10.1.0.4"}
