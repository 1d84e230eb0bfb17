"""The token app over httpx's ASGI transport (a fresh signing key, an htpasswd file, access rules), and JWT peeking."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from registry_core.config import Settings
from registry_core.testing.certs import KeyPair

USERS = {"alice": "alice-secret", "bob": "bob-secret", "admin": "admin-secret"}
RULES = [
    {"repository": "public/**", "users": ["anonymous"], "actions": ["pull"]},
    {"repository": "team/*", "users": ["alice"], "actions": ["pull", "push"]},
    {"repository": "team/*", "users": ["bob"], "actions": ["pull"]},
    {"repository": "**", "users": ["admin"], "actions": ["*"]},
]


@dataclass
class TokenApp:
    client: httpx.AsyncClient
    pair: KeyPair
    htpasswd: Path
    settings: Settings

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pair.cert.read_bytes())


def token_settings(pair: KeyPair, htpasswd: Path | None, **token: Any) -> Settings:
    section = {"key": str(pair.key), "certificate": str(pair.cert), "access": RULES, **token}
    if htpasswd is not None:
        section["htpasswd"] = str(htpasswd)
    return Settings.model_validate({"services": {"token": section}})


MakeTokenApp = Callable[..., TokenApp]
"""``make_token_app(kind="ec", htpasswd=True, **services_token_keys)``."""


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """A JWT's header (0) or claims (1), decoded without verification (to look at what a verifier hides)."""
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded
