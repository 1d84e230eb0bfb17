"""FastAPI dependencies as type aliases: handlers read ``registry: RegistryDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from registry_core.registry import Registry


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
