"""Each request gets one id: the gateway's when it is a plain token, else a new one; answered in X-Request-Id
and readable by code serving the request."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from registry_core.config import Settings
from registry_core.testing.service_app import running_app
from registry_core.web.app import create_service_app
from registry_core.web.request_context import current_request_id

probe = APIRouter()


@probe.get("/v2/probe")
async def record_id() -> dict[str, str | None]:
    return {"id": current_request_id()}


@probe.get("/v2/broken")
async def broken() -> None:
    raise RuntimeError("a bug")


def create(settings: Settings) -> FastAPI:
    return create_service_app("probe", settings, routers=[probe])


async def test_a_new_id_per_request_in_the_header_and_the_context(tmp_path: Path) -> None:
    async with running_app(tmp_path, create) as client:
        first = await client.get("/v2/probe")
        second = await client.get("/v2/probe")
        missing = await client.get("/v2/nothing")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert ids == [first.json()["id"], second.json()["id"]]
    assert ids[0] != ids[1]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert uuid.UUID(missing.headers["x-request-id"])  # errors carry one too
    assert current_request_id() is None  # reset after each request


async def test_the_gateway_id_is_kept_when_it_is_a_plain_token(tmp_path: Path) -> None:
    gateway_id = "7f3c2a1b9d8e4f60a1b2c3d4e5f60718"
    async with running_app(tmp_path, create) as client:
        kept = await client.get("/v2/probe", headers={"X-Request-Id": gateway_id})
        replaced = await client.get("/v2/probe", headers={"X-Request-Id": "<script>alert(1)</script>"})
        short = await client.get("/v2/probe", headers={"X-Request-Id": "abc"})
    assert kept.headers["x-request-id"] == gateway_id == kept.json()["id"]
    for response in (replaced, short):
        assert uuid.UUID(response.headers["x-request-id"]).version == 4


async def test_an_unexpected_error_answers_500_with_the_id_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    """The catch-all error handler runs outside every middleware: the id still reaches the answer and the log."""
    transport = httpx.ASGITransport(app=create(Settings()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        response = await client.get("/v2/broken", headers={"X-Request-Id": "gateway-id-0001"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "gateway-id-0001"
    assert response.json()["errors"][0]["code"] == "UNKNOWN"
    [line] = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert line.fields == {"http.request.id": "gateway-id-0001"}  # type: ignore[attr-defined]
