"""Settings only a real ``registry serve all`` process shows: ``http.headers`` (the Debian default config),
``log.accesslog.disabled``, ``log.fields`` and ``http.draintimeout`` (SIGTERM with a request in flight)."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from raw_http import read_until_closed
from registry_process import wait_until_ready

from registry_core.testing.configs import DEBIAN_DEFAULT_CONFIG, filesystem_config
from registry_core.testing.servers import Process, free_port, start_registry, stop

pytestmark = pytest.mark.integration

WAIT = 30.0
"""Seconds a process may take to reach a state before the test gives up (a bound, never an expectation)."""

ACCESS_LINE = re.compile(r'"GET /v2/ HTTP/1\.1" 200', re.MULTILINE)


@contextmanager
def serving(directory: Path, config: dict[str, Any]) -> Iterator[Process]:
    """``registry serve all`` with ``config`` (its ``http.addr`` set to a free port) while the block runs."""
    port = free_port()
    config = {**config, "http": {**config.get("http", {}), "addr": f"127.0.0.1:{port}"}}
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    process = start_registry("all", path, directory, port=port)
    try:
        wait_until_ready(process.url, process)
        yield process
    finally:
        stop(process.proc)


def config_with(directory: Path, **sections: Any) -> dict[str, Any]:
    """The integration tests' filesystem config with ``sections`` merged in, one level deep."""
    config: dict[str, Any] = yaml.safe_load(filesystem_config(directory / "data"))
    for name, section in sections.items():
        config[name] = {**config.get(name, {}), **section}
    return config


def wait_for_output(process: Process, pattern: re.Pattern[str]) -> str:
    deadline = time.monotonic() + WAIT
    while not (match := pattern.search(process.output())):
        assert time.monotonic() < deadline, f"no {pattern.pattern!r} in the log within {WAIT}s:\n{process.output()}"
        time.sleep(0.05)
    return match[0]


# -- http.headers, log.fields, no access log: the Debian package's config --------------------------------------------
def test_debian_default_config_headers_fields_and_no_access_log(tmp_path: Path) -> None:
    config = yaml.safe_load(DEBIAN_DEFAULT_CONFIG.replace("/var/lib/docker-registry", str(tmp_path / "data")))
    config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}  # logs a line at start-up
    with serving(tmp_path, config) as process:
        base = httpx.get(f"{process.url}/v2/")
        missing = httpx.get(f"{process.url}/v2/app/manifests/latest")
        # a line of the registry's own, with the Debian config's log.fields at its end
        line = wait_for_output(process, re.compile(r"^.*upload purging disabled.*$", re.MULTILINE))
    assert base.status_code == 200
    assert base.headers.get_list("x-content-type-options") == ["nosniff"]
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert missing.headers.get_list("x-content-type-options") == ["nosniff"]
    assert line.endswith(" service=registry")
    assert not ACCESS_LINE.search(process.output())  # no log.accesslog section: no access log


# -- log.accesslog.disabled: false, log.fields -------------------------------------------------------------------
def test_access_log_on_and_log_fields(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        log={"accesslog": {"disabled": False}, "fields": {"service": "x", "environment": "test"}},
        storage={"maintenance": {"uploadpurging": {"enabled": False}}},
    )
    with serving(tmp_path, config) as process:
        assert httpx.get(f"{process.url}/v2/").status_code == 200
        wait_for_output(process, ACCESS_LINE)
        line = wait_for_output(process, re.compile(r"^.*upload purging disabled.*$", re.MULTILINE))
    assert line.endswith(" service=x environment=test")


def test_access_log_disabled_true_logs_no_requests(tmp_path: Path) -> None:
    config = config_with(tmp_path, log={"accesslog": {"disabled": True}})
    with serving(tmp_path, config) as process:
        assert httpx.get(f"{process.url}/v2/").status_code == 200
        assert httpx.get(f"{process.url}/v2/").status_code == 200
        output = process.output()
    assert not ACCESS_LINE.search(output)


# -- log.formatter: json -----------------------------------------------------------------------------------------
def test_json_log_every_line_an_object_the_access_line_with_go_keys(tmp_path: Path) -> None:
    config = config_with(tmp_path, log={"formatter": "json", "accesslog": {"disabled": False}, "fields": {"env": "t"}})
    digest = "sha256:" + "b" * 64
    with serving(tmp_path, config) as process:
        response = httpx.head(f"{process.url}/v2/team/app/blobs/{digest}", headers={"User-Agent": "probe/1"})
        assert response.status_code == 404
        wait_for_output(process, re.compile(r"registry\.access"))
        output = process.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line parses, uvicorn's too
    assert all(line["env"] == "t" and {"time", "level", "msg"} <= set(line) for line in lines)
    [access] = [line for line in lines if line["logger"] == "registry.access" and digest in line["msg"]]
    assert access["http.request.id"] == response.headers["x-request-id"]
    assert (access["vars.name"], access["vars.digest"]) == ("team/app", digest)
    assert (access["http.request.method"], access["http.response.status"]) == ("HEAD", 404)
    assert access["http.request.useragent"] == "probe/1"
    assert access["http.response.duration"] > 0


# -- http.draintimeout ---------------------------------------------------------------------------------------------
BODY = 64 * 1024


def start_slow_patch(process: Process) -> socket.socket:
    """A chunked upload whose PATCH has sent half of its body: a request in flight until the rest is sent."""
    start = httpx.post(f"{process.url}/v2/app/blobs/uploads/")
    assert start.status_code == 202
    connection = socket.create_connection(("127.0.0.1", process.port), timeout=WAIT)
    head = (
        f"PATCH {start.headers['location']} HTTP/1.1\r\nHost: registry\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {BODY}\r\n\r\n"
    )
    connection.sendall(head.encode() + b"a" * (BODY // 2))
    return connection


def wait_until_not_listening(process: Process) -> None:
    """Until the server has closed its listener: the shutdown has begun."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", process.port), timeout=1).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, f"still accepting connections {WAIT}s after SIGTERM"
        time.sleep(0.02)


def test_draintimeout_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    with serving(tmp_path, config_with(tmp_path, http={"draintimeout": "10s"})) as process:
        with start_slow_patch(process) as connection:
            process.proc.send_signal(signal.SIGTERM)
            wait_until_not_listening(process)  # shutting down, the PATCH still half sent
            assert process.proc.poll() is None
            connection.sendall(b"a" * (BODY - BODY // 2))
            response = read_until_closed(connection)
        assert response.startswith(b"HTTP/1.1 202 ")
        assert f"\r\nrange: 0-{BODY - 1}\r\n".encode() in response.lower()
        process.proc.wait(timeout=WAIT)  # and then it exits (uvicorn re-raises SIGTERM: its exit status says so)
    assert "timeout graceful shutdown exceeded" not in process.output()


def test_draintimeout_zero_cancels_the_request_in_flight(tmp_path: Path) -> None:
    """``0``, as in Go: no drain. The process exits while the request's body is never completed: the request is
    cancelled (logged), not served. That 0 is passed as 0 (not the 10 s default) is test_serve_options'."""
    with serving(tmp_path, config_with(tmp_path, http={"draintimeout": "0s"})) as process:
        with start_slow_patch(process) as connection:
            process.proc.send_signal(signal.SIGTERM)
            process.proc.wait(timeout=WAIT)
            try:  # the process is gone: whatever it sent, then the end (or a reset)
                response = b"".join(iter(lambda: connection.recv(65536), b""))
            except ConnectionResetError:
                response = b""
        assert not response.startswith(b"HTTP/1.1 202")
    assert "timeout graceful shutdown exceeded" in process.output()
