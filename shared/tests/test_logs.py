"""Log lines as ``log.formatter`` shapes them: text with ``key=value`` fields, JSON with logrus's keys, Logstash's
keys; the request id on lines written while a request is served; the access log's fields (Go's key names)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from registry_core.config.log import LogSettings
from registry_core.logs import JsonFormatter, TextFormatter, formatter
from registry_core.testing.service_app import running_app
from registry_core.web.request_context import REQUEST_ID

ID = "3f0c8a36-6f1e-4a53-9d1c-5c1e2b7f9a10"


def record(message: str = "stored %s", *args: object, **extra: object) -> logging.LogRecord:
    line = logging.LogRecord("registry.app", logging.WARNING, __file__, 1, message, args or ("x",), None)
    line.__dict__.update(extra)
    return line


def test_text_lines_end_with_the_static_fields_then_the_request_id() -> None:
    token = REQUEST_ID.set(ID)
    try:
        line = TextFormatter({"service": "registry"}).format(record())
    finally:
        REQUEST_ID.reset(token)
    assert line.endswith(f" WARNING registry.app: stored x service=registry http.request.id={ID}")


def test_text_lines_outside_a_request_carry_no_id_and_skip_what_the_message_shows() -> None:
    fields = {"http.response.status": 200, "vars.name": "app"}
    line = TextFormatter({}).format(record(fields=fields, in_message={"http.response.status"}))
    assert line.endswith("registry.app: stored x vars.name=app")


@pytest.mark.parametrize(
    ("logstash", "keys"),
    [(False, ["time", "level", "msg"]), (True, ["@timestamp", "@version", "level", "message"])],
    ids=["json", "logstash"],
)
def test_json_lines_have_the_go_formatters_keys(logstash: bool, keys: list[str]) -> None:
    token = REQUEST_ID.set(ID)
    try:
        line = JsonFormatter({"environment": "test"}, logstash=logstash).format(record(fields={"vars.name": "app"}))
    finally:
        REQUEST_ID.reset(token)
    decoded = json.loads(line)
    assert list(decoded)[: len(keys)] == keys
    assert decoded["level"] == "warn"
    assert decoded["msg" if not logstash else "message"] == "stored x"
    assert decoded["time" if not logstash else "@timestamp"].endswith("Z")
    assert (decoded["environment"], decoded["http.request.id"], decoded["vars.name"]) == ("test", ID, "app")


def test_the_formatter_follows_the_setting() -> None:
    assert isinstance(formatter(LogSettings()), TextFormatter)
    assert isinstance(formatter(LogSettings(formatter="logstash")), JsonFormatter)


async def test_access_lines_carry_the_request_id_repository_digest_status_and_duration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from registry_server.app import create_app

    digest = "sha256:" + "a" * 64
    caplog.set_level(logging.INFO, "registry.access")
    async with running_app(tmp_path, create_app, log={"accesslog": {"disabled": False}}) as client:
        response = await client.head(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 404
    [line] = [r for r in caplog.records if r.name == "registry.access"]
    fields = line.fields  # type: ignore[attr-defined]
    assert f'"HEAD /v2/team/app/blobs/{digest} HTTP/1.1" 404' in line.getMessage()
    assert fields["vars.name"] == "team/app"
    assert fields["vars.digest"] == digest
    assert fields["http.response.status"] == 404
    assert fields["http.response.duration"] > 0
    assert (
        TextFormatter({})
        .format(line)
        .endswith(f"vars.name=team/app vars.digest={digest} http.request.id={response.headers['x-request-id']}")
    )


async def test_no_access_lines_unless_the_log_is_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from registry_server.app import create_app

    caplog.set_level(logging.INFO, "registry.access")
    for section in ({}, {"accesslog": {"disabled": True}}):
        async with running_app(tmp_path, create_app, log=section) as client:
            assert (await client.get("/v2/")).status_code == 200
    assert not [r for r in caplog.records if r.name == "registry.access"]
