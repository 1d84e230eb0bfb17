"""FastAPI dependencies as type aliases: handlers read ``registry: RegistryDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from registry_core.registry import Registry


async def get_registry(request: Request) -> Registry:
    """``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in the thread pool, a
    thread hop that cost ~40% of a cached blob HEAD (bench/RESULTS.md)."""
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
