"""The issuer: claims on a given clock, and refresh tokens that expire and are only ever ours."""

from __future__ import annotations

import time
from pathlib import Path

from token_app import jwt_part

from registry_core.auth.scope import repository_access
from registry_core.config import TokenServiceSettings
from registry_core.testing.token_files import signing_pair
from registry_token.issuer import REFRESH_LIFETIME, TokenIssuer, rfc3339
from registry_token.keys import load_signing_key

NOW = 1_700_000_000


def issuer(tmp_path: Path, clock: float = NOW, **settings: str) -> TokenIssuer:
    """An issuer with the key of ``tmp_path`` (made on first use) on a clock stopped at ``clock``."""
    if not (tmp_path / "token.key").exists():
        signing_pair(tmp_path)
    files = {"key": str(tmp_path / "token.key"), "certificate": str(tmp_path / "token.crt")}
    config = TokenServiceSettings.model_validate(files | settings)
    return TokenIssuer(config, load_signing_key(config), clock=lambda: clock)


def test_access_token_claims_on_the_clock(tmp_path: Path) -> None:
    issued = issuer(tmp_path, expiration="2m").access_token("alice", [repository_access("a/b", "pull")])
    assert (issued.issued_at, issued.expires_in) == (NOW, 120)
    claims = jwt_part(issued.token, 1)
    assert {k: claims[k] for k in ("iss", "sub", "aud", "iat", "nbf", "exp")} == {
        "iss": "registry-token",
        "sub": "alice",
        "aud": "registry",
        "iat": NOW,
        "nbf": NOW - 10,
        "exp": NOW + 120,
    }
    assert rfc3339(NOW) == "2023-11-14T22:13:20Z"


def test_a_refresh_token_is_taken_back_until_it_expires(tmp_path: Path) -> None:
    fresh = issuer(tmp_path, clock=time.time())
    assert fresh.refresh_subject(fresh.refresh_token("alice")) == "alice"
    old = issuer(tmp_path, clock=time.time() - REFRESH_LIFETIME.total_seconds() - 300)  # the same key, a day ago
    assert fresh.refresh_subject(old.refresh_token("alice")) is None


def test_an_access_token_is_no_refresh_token(tmp_path: Path) -> None:
    fresh = issuer(tmp_path, clock=time.time())
    assert fresh.refresh_subject(fresh.access_token("alice", []).token) is None
    assert fresh.refresh_subject("") is None
