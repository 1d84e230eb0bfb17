"""The app: refused at start when its files cannot be used, and counting what it issues and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from token_app import MakeTokenApp, token_settings

from registry_core.auth.htpasswd import HtpasswdError
from registry_core.config import ConfigError, Settings
from registry_core.testing.token_files import signing_pair
from registry_token.app import create_app


def test_no_key_stops_start_up_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^services\.token\.key: is required to serve tokens$"):
        create_app(Settings())


def test_a_mismatched_certificate_stops_start_up(tmp_path: Path) -> None:
    pair, other = signing_pair(tmp_path, "one"), signing_pair(tmp_path, "two")
    with pytest.raises(ConfigError, match=r"^services\.token\.certificate: .* is not the certificate of "):
        create_app(token_settings(pair, None, certificate=str(other.cert)))


def test_an_unusable_htpasswd_file_stops_start_up(tmp_path: Path) -> None:
    pair = signing_pair(tmp_path)
    with pytest.raises(HtpasswdError, match=r"^services\.token\.htpasswd: cannot read "):
        create_app(token_settings(pair, tmp_path / "absent"))
    plain = tmp_path / "plain"
    plain.write_text("alice:{SHA}not-bcrypt\n")
    with pytest.raises(HtpasswdError, match=r"services\.token\.htpasswd .*only bcrypt"):
        create_app(token_settings(pair, plain))


async def test_issued_and_refused_tokens_are_counted(make_token_app: MakeTokenApp) -> None:
    app = make_token_app()
    client = app.client
    await client.get("/token", params={"service": "registry"}, auth=("bob", "bob-secret"))
    await client.get("/token", params={"service": "registry"})
    await client.get("/token", params={"service": "registry"}, auth=("bob", "wrong"))
    await client.get("/token", params={"service": "other"})
    form = {"grant_type": "password", "username": "bob", "password": "bob-secret", "client_id": "t"}
    refresh = (await client.post("/token", data={**form, "service": "registry", "access_type": "offline"})).json()
    await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh["refresh_token"], "service": "registry"}
        | {"client_id": "t"},
    )
    await client.post("/token", data={"grant_type": "password"})
    text = (await client.get("/metrics")).text
    for line in (
        'registry_token_issued_total{grant="basic"} 1.0',
        'registry_token_issued_total{grant="anonymous"} 1.0',
        'registry_token_issued_total{grant="password"} 1.0',
        'registry_token_issued_total{grant="refresh_token"} 1.0',
        'registry_token_refused_total{reason="credentials"} 1.0',
        'registry_token_refused_total{reason="service"} 1.0',
        'registry_token_refused_total{reason="request"} 1.0',
    ):
        assert line in text, line
    assert "bob-secret" not in text


async def test_health_is_served(make_token_app: MakeTokenApp) -> None:
    assert (await make_token_app().client.get("/healthz")).status_code == 200
