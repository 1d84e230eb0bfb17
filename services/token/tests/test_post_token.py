"""``POST /token`` (oauth.md): the password and refresh_token grants, stateless refresh tokens, OAuth2 errors."""

from __future__ import annotations

import re

import httpx
import pytest
from token_app import MakeTokenApp, TokenApp, jwt_part

import registry_core.auth.htpasswd
from registry_core.auth.tokens import TokenVerifier
from registry_core.testing.token_files import write_htpasswd


def verifier(app: TokenApp, audience: str = "registry") -> TokenVerifier:
    return TokenVerifier(issuer="registry-token", audience=audience, roots=[app.certificate])


def password_form(user: str = "bob", password: str = "bob-secret", **extra: str) -> dict[str, str]:
    base = {"grant_type": "password", "username": user, "password": password}
    return {**base, "service": "registry", "client_id": "tests", **extra}


def refresh_form(refresh_token: str, **extra: str) -> dict[str, str]:
    base = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return {**base, "service": "registry", "client_id": "tests", **extra}


async def post(app: TokenApp, form: dict[str, str]) -> httpx.Response:
    return await app.client.post("/token", data=form)


async def test_a_password_grant_answers_the_granted_scope(token_app: TokenApp) -> None:
    response = await post(token_app, password_form(scope="repository:team/app:pull,push repository:other/x:pull"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "scope", "expires_in", "issued_at"}
    assert body["scope"] == "repository:team/app:pull"
    assert body["expires_in"] == 300 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    verified = verifier(token_app).verify(body["access_token"])
    assert verified.subject == "bob" and verified.actions("repository", "team/app") == {"pull"}
    assert response.headers["cache-control"] == "no-store"


async def test_offline_access_adds_a_refresh_token_for_the_refresh_audience_only(token_app: TokenApp) -> None:
    body = (await post(token_app, password_form("alice", "alice-secret", access_type="offline"))).json()
    refresh_token = body["refresh_token"]
    claims = jwt_part(refresh_token, 1)
    assert claims["aud"] == "registry:refresh" and claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert verifier(token_app, "registry:refresh").verify(refresh_token).subject == "alice"
    with pytest.raises(Exception):  # noqa: B017 - whatever the verifier raises, a registry never accepts it
        verifier(token_app).verify(refresh_token)


async def test_a_refresh_grant_evaluates_the_rules_for_the_scope_asked_now(token_app: TokenApp) -> None:
    refresh_token = (await post(token_app, password_form("alice", "alice-secret", access_type="offline"))).json()[
        "refresh_token"
    ]
    response = await post(token_app, refresh_form(refresh_token, scope="repository:team/b:pull,push,delete"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "repository:team/b:pull,push"
    assert body["refresh_token"] == refresh_token  # oauth.md: the same one back, not a new one
    verified = verifier(token_app).verify(body["access_token"])
    assert verified.subject == "alice" and verified.actions("repository", "team/b") == {"pull", "push"}


async def test_a_refresh_token_ends_with_its_user(
    make_token_app: MakeTokenApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_core.auth.htpasswd, "RECHECK_SECONDS", 0.0)
    app = make_token_app()
    refresh_token = (await post(app, password_form(access_type="offline"))).json()["refresh_token"]
    assert (await post(app, refresh_form(refresh_token))).status_code == 200
    write_htpasswd(app.htpasswd, {"alice": "alice-secret"})  # bob removed
    response = await post(app, refresh_form(refresh_token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


async def test_what_is_not_our_refresh_token_is_refused(make_token_app: MakeTokenApp) -> None:
    app, other = make_token_app(), make_token_app()
    access_token = (await post(app, password_form())).json()["access_token"]
    foreign = (await post(other, password_form(access_type="offline"))).json()["refresh_token"]
    for token in (access_token, foreign, "not.a.token", "garbage"):
        response = await post(app, refresh_form(token))
        assert response.status_code == 401, token
        assert response.json()["error"] == "invalid_grant"
        assert token not in response.text


async def test_wrong_credentials_are_invalid_grant_and_never_echoed(token_app: TokenApp) -> None:
    for user, password in (("bob", "not-bobs"), ("nobody", "bob-secret")):
        response = await post(token_app, password_form(user, password))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_grant"
        assert password not in response.text
        assert response.headers["www-authenticate"] == 'Basic realm="registry"'


@pytest.mark.parametrize("missing", ["grant_type", "service", "client_id", "username", "password"])
async def test_a_missing_parameter_is_invalid_request(token_app: TokenApp, missing: str) -> None:
    form = password_form()
    del form[missing]
    response = await post(token_app, form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert missing in response.json()["error_description"]
    assert "bob-secret" not in response.text


async def test_other_grants_are_unsupported(token_app: TokenApp) -> None:
    response = await post(token_app, password_form(grant_type="authorization_code"))
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


async def test_another_service_is_invalid_request(token_app: TokenApp) -> None:
    response = await post(token_app, password_form(service="elsewhere"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_a_body_that_is_not_a_form_is_invalid_request(token_app: TokenApp) -> None:
    as_json = await token_app.client.post("/token", json=password_form())
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    twice = await token_app.client.post(
        "/token",
        content="grant_type=password&username=bob&username=alice&password=x&service=registry&client_id=t",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400 and "username" in twice.json()["error_description"]
    huge = await token_app.client.post("/token", data={"scope": "x" * 70_000, **password_form()})
    assert huge.status_code == 400 and huge.json()["error"] == "invalid_request"


async def test_a_charset_in_the_content_type_is_fine(token_app: TokenApp) -> None:
    response = await token_app.client.post(
        "/token",
        content="grant_type=password&username=bob&password=bob-secret&service=registry&client_id=t",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200, response.text
