"""The token service (``registry serve token``): Docker Bearer tokens for the users of an htpasswd file, under
the access rules, signed with ``services.token.key``.

It needs no storage. Everything it reads (key, certificate, htpasswd file, rules) is read once, here: a key
that is missing, unreadable or not the certificate's stops start-up with a :class:`ConfigError` naming it.
"""

from __future__ import annotations

from fastapi import FastAPI

from registry_core.config import Settings
from registry_core.web.app import create_service_app
from registry_token.metrics import TokenMetrics
from registry_token.routes import router
from registry_token.service import TokenService


def create_app(settings: Settings) -> FastAPI:
    app = create_service_app("token", settings, routers=[router], with_registry=False)
    app.state.token_service = TokenService(settings.services.token, TokenMetrics(app.state.metrics.registry))
    return app
