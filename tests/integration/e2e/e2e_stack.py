"""The compose stack under test and the commands the end-to-end tests drive it with."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

COMMAND_TIMEOUT = 600.0


def run(argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, input: str | None = None) -> str:
    """``argv``'s stdout; a test failure showing its output when it fails."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{shlex.join(argv)} did not finish within {timeout}s: {exc.stderr!r}"[-4000:])
    if result.returncode != 0:
        pytest.fail(
            f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


@dataclass(frozen=True)
class Stack:
    gateway: str
    """``http://127.0.0.1:<port>``"""
    compose_argv: tuple[str, ...]
    base_image: str

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, as image references name the registry."""
        return self.gateway.split("://", 1)[1]

    def compose(self, *args: str, timeout: float = COMMAND_TIMEOUT, env: dict[str, str] | None = None) -> str:
        argv = [*self.compose_argv, *args]
        if env is None:
            return run(argv, timeout=timeout)
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result.stdout

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers."""
        return sorted(self.compose("ps", "-q", service).split())

    def health(self, container: str) -> str:
        return run(["docker", "inspect", "-f", "{{.State.Status}}/{{.State.Health.Status}}", container]).strip()

    def wait_healthy(self, service: str, count: int, timeout: float = 120.0) -> list[str]:
        """Wait until ``count`` containers of ``service`` run and are healthy; their ids."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.containers(service)
            states = [self.health(c) for c in ids]
            if len(ids) == count and all(s == "running/healthy" for s in states):
                return ids
            if time.monotonic() > deadline:
                pytest.fail(f"{service}: wanted {count} healthy containers, have {states}")
            time.sleep(1)

    def python_in(self, container: str, script: str, timeout: float = COMMAND_TIMEOUT) -> Any:
        """Run ``script`` with the python of a registry container (stdin); its stdout parsed as JSON."""
        return json.loads(run(["docker", "exec", "-i", container, "python", "-"], input=script, timeout=timeout))

    def gateway_log(self, since: str) -> str:
        """The gateway's access and error log since ``since`` (a docker logs --since value)."""
        (gateway,) = self.containers("gateway")
        result = subprocess.run(
            ["docker", "logs", "--since", since, gateway], capture_output=True, text=True, timeout=60, check=False
        )
        return result.stdout + result.stderr
