"""Storage conditions as responses: a full storage is 507 ``STORAGE_FULL``, an unavailable one 503 ``UNAVAILABLE``
with ``Retry-After``; both logged once with the path, which the body never shows. Other storage errors are 500.

A driver fake raising the driver's errors stands in for the storage here; the fault suite
(``tests/integration/test_faults.py``) fills a real disk and stops a real S3 server."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from registry_core.storage.driver import StorageError, StorageFullError, StorageUnavailableError
from registry_core.storage_errors import RETRY_AFTER_SECONDS
from registry_core.web.errors import install_error_handlers

SECRET_PATH = "/docker/registry/v2/repositories/app/_uploads/0d8b/data"

FAILURES: dict[str, StorageError] = {
    "full": StorageFullError(SECRET_PATH, "No space left on device", "filesystem"),
    "unavailable": StorageUnavailableError(SECRET_PATH, "Could not connect to the endpoint URL", "s3"),
    "other": StorageError(SECRET_PATH, "Input/output error", "filesystem"),
}


def app() -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)

    @application.patch("/fail/{kind}")
    async def fail(kind: str) -> None:
        raise FAILURES[kind]

    return application


async def request(kind: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        return await client.patch(f"/fail/{kind}", content=b"chunk")


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("full", 507, "STORAGE_FULL"), ("unavailable", 503, "UNAVAILABLE")]
)
async def test_told_to_the_client_without_a_path_and_logged_once_with_it(
    kind: str, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="registry"):
        response = await request(kind)
    assert response.status_code == status
    [error] = response.json()["errors"]
    assert error["code"] == code and error["message"] and "detail" in error
    assert SECRET_PATH not in response.text and "_uploads" not in response.text
    assert (response.headers.get("Retry-After") == str(RETRY_AFTER_SECONDS)) == (status == 503)
    logged = [r for r in caplog.records if SECRET_PATH in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.ERROR]


async def test_any_other_storage_error_is_the_registrys_own_failure() -> None:
    response = await request("other")
    assert response.status_code == 500
    assert response.json()["errors"][0]["code"] == "UNKNOWN"
    assert SECRET_PATH not in response.text
