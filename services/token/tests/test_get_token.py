"""``GET /token`` (token.md): Basic or anonymous, the granted access, the token's claims and header."""

from __future__ import annotations

import base64
import re
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from token_app import MakeTokenApp, TokenApp, jwt_part

from registry_core.auth.libtrust import key_id
from registry_core.auth.tokens import TokenVerifier

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def verifier(app: TokenApp, audience: str = "registry") -> TokenVerifier:
    return TokenVerifier(issuer="registry-token", audience=audience, roots=[app.certificate])


async def get(app: TokenApp, *scopes: str, auth: tuple[str, str] | None = None, **params: str) -> httpx.Response:
    query = [("service", "registry"), *(("scope", s) for s in scopes), *params.items()]
    return await app.client.get("/token", params=query, auth=auth)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_a_user_gets_what_was_asked_and_allowed(make_token_app: MakeTokenApp, kind: str) -> None:
    app = make_token_app(kind)
    before = int(time.time())
    response = await get(app, "repository:team/app:pull,push", auth=("bob", "bob-secret"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert RFC3339_UTC.fullmatch(body["issued_at"])
    assert response.headers["cache-control"] == "no-store"

    verified = verifier(app).verify(body["token"])
    assert verified.subject == "bob"
    assert verified.actions("repository", "team/app") == {"pull"}  # bob may pull only: push is left out

    claims = jwt_part(body["token"], 1)
    assert claims["iss"] == "registry-token" and claims["aud"] == "registry" and claims["sub"] == "bob"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 300
    assert claims["iat"] - 60 < claims["nbf"] < claims["iat"]
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"])) == body["issued_at"]


async def test_the_header_names_the_key_both_ways(token_app: TokenApp) -> None:
    token = (await get(token_app, "repository:team/app:pull", auth=("alice", "alice-secret"))).json()["token"]
    header = jwt_part(token, 0)
    der = token_app.certificate.public_bytes(serialization.Encoding.DER)
    assert header["x5c"] == [base64.b64encode(der).decode()]
    assert header["kid"] == key_id(token_app.certificate.public_key())
    assert header["alg"] == "ES256"


async def test_every_token_has_its_own_id(token_app: TokenApp) -> None:
    tokens = [(await get(token_app, auth=("alice", "alice-secret"))).json()["token"] for _ in range(3)]
    assert len({jwt_part(t, 1)["jti"] for t in tokens}) == 3


async def test_scopes_repeat_and_hold_several(token_app: TokenApp) -> None:
    response = await get(
        token_app,
        "repository:team/a:pull repository:team/b:push",
        "repository:team/a:push",
        "registry:catalog:*",
        auth=("alice", "alice-secret"),
    )
    access = {(a["type"], a["name"]): a["actions"] for a in jwt_part(response.json()["token"], 1)["access"]}
    assert access == {
        ("repository", "team/a"): ["pull", "push"],
        ("repository", "team/b"): ["push"],
        ("registry", "catalog"): ["*"],
    }


async def test_anonymous_gets_the_anonymous_access(token_app: TokenApp) -> None:
    response = await get(token_app, "repository:public/lib:pull,push", "repository:team/app:pull")
    assert response.status_code == 200
    verified = verifier(token_app).verify(response.json()["token"])
    assert verified.subject == ""
    assert verified.actions("repository", "public/lib") == {"pull"}
    assert verified.actions("repository", "team/app") == set()
    assert jwt_part(response.json()["token"], 1)["access"] == [
        {"type": "repository", "name": "public/lib", "actions": ["pull"]}
    ]


async def test_no_scope_is_a_token_without_access(token_app: TokenApp) -> None:
    response = await get(token_app, auth=("alice", "alice-secret"))
    assert jwt_part(response.json()["token"], 1)["access"] == []


@pytest.mark.parametrize("auth", [("alice", "wrong"), ("nobody", "alice-secret"), ("alice", ""), ("", "")], ids=str)
async def test_wrong_credentials_are_401_with_a_basic_challenge(token_app: TokenApp, auth: tuple[str, str]) -> None:
    response = await get(token_app, "repository:team/app:pull", auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="registry"'
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert "alice-secret" not in response.text and "wrong" not in response.text


async def test_malformed_basic_credentials_are_401(token_app: TokenApp) -> None:
    response = await token_app.client.get(
        "/token", params={"service": "registry"}, headers={"Authorization": "Basic @@"}
    )
    assert response.status_code == 401 and "www-authenticate" in response.headers


async def test_another_service_is_400_and_no_service_is_ours(token_app: TokenApp) -> None:
    response = await token_app.client.get("/token", params={"service": "elsewhere", "scope": "repository:a:pull"})
    assert response.status_code == 400
    assert "registry" in response.json()["errors"][0]["message"]
    assert (await token_app.client.get("/token")).status_code == 200


async def test_the_account_must_be_the_basic_user(token_app: TokenApp) -> None:
    assert (await get(token_app, auth=("alice", "alice-secret"), account="alice")).status_code == 200
    assert (await get(token_app, auth=("alice", "alice-secret"), account="bob")).status_code == 400
    assert (await get(token_app, account="bob")).status_code == 200  # anonymous: the account names no one


async def test_offline_token_adds_a_refresh_token_for_users_only(token_app: TokenApp) -> None:
    body = (await get(token_app, auth=("alice", "alice-secret"), offline_token="true")).json()
    refresh = verifier(token_app, "registry:refresh").verify(body["refresh_token"])
    assert refresh.subject == "alice"
    assert "refresh_token" not in (await get(token_app, offline_token="true")).json()
    assert "refresh_token" not in (await get(token_app, auth=("alice", "alice-secret"))).json()


async def test_without_htpasswd_only_anonymous_tokens(make_token_app: MakeTokenApp) -> None:
    app = make_token_app(htpasswd=False)
    assert (await get(app, auth=("alice", "alice-secret"))).status_code == 401
    response = await get(app, "repository:public/x:pull")
    assert response.status_code == 200
    assert verifier(app).verify(response.json()["token"]).actions("repository", "public/x") == {"pull"}


async def test_the_configured_issuer_service_and_expiration_are_used(make_token_app: MakeTokenApp) -> None:
    app = make_token_app(issuer="auth.example", service="registry.example", expiration="90s")
    response = await app.client.get("/token", params={"service": "registry.example"}, auth=("bob", "bob-secret"))
    assert response.json()["expires_in"] == 90
    claims = jwt_part(response.json()["token"], 1)
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == ("auth.example", "registry.example", 90)
    wrong = await app.client.get("/token", params={"service": "registry"}, auth=("bob", "wrong"))
    assert wrong.status_code == 400  # the service is checked first
    denied = await app.client.get("/token", params={"service": "registry.example"}, auth=("bob", "wrong"))
    assert denied.headers["www-authenticate"] == 'Basic realm="registry.example"'
