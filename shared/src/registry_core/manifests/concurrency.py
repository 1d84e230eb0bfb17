"""Bounded fan-out for the many small storage calls of one request (stat every layer, read every link)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 16
"""Storage calls in flight per request: enough to hide S3 latency, few enough not to starve other requests."""


async def bounded_map(fn: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int = DEFAULT_LIMIT) -> list[R]:
    """``[await fn(x) for x in items]``, at most ``limit`` at a time, results in order; the first error propagates
    and the calls still pending are cancelled."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await fn(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:  # after a failure, stop the rest rather than leave them running unobserved
            task.cancel()
