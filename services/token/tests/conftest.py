"""Fixtures: ``make_token_app`` and ``token_app`` (see :mod:`token_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from token_app import USERS, MakeTokenApp, TokenApp, token_settings

from registry_core.testing.token_files import signing_pair, write_htpasswd
from registry_token.app import create_app


@pytest.fixture
async def make_token_app(tmp_path: Path) -> AsyncIterator[MakeTokenApp]:
    clients: list[httpx.AsyncClient] = []

    def make(kind: str = "ec", htpasswd: bool = True, **token: Any) -> TokenApp:
        directory = tmp_path / f"app{len(clients)}"
        directory.mkdir()
        pair = signing_pair(directory, kind=kind)  # type: ignore[arg-type]
        users = write_htpasswd(directory / "htpasswd", USERS)
        settings = token_settings(pair, users if htpasswd else None, **token)
        transport = httpx.ASGITransport(app=create_app(settings))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://token.test"))
        return TokenApp(clients[-1], pair, users, settings)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def token_app(make_token_app: MakeTokenApp) -> TokenApp:
    return make_token_app()
