"""``n`` / ``last`` pagination, shared by the tag list and the catalog.

The spec: entries in order, strictly after ``last``, at most ``n``; ``n=0`` gives an empty page and no next
link; a page shorter than asked for is allowed only when the list is exhausted or a ``Link`` is sent (we clamp an
``n`` above :data:`MAX_PAGE` and send the link). ``n`` that is not a non-negative integer is
``PAGINATION_NUMBER_INVALID``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from registry_core.errors import ErrorCode, RegistryError

MAX_PAGE = 1000
"""The most entries one page holds (the Go registry's default ``catalog.maxentries``)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool
    """Entries remain after this page: send a ``Link`` to the next one."""

    @property
    def last(self) -> str | None:
        return self.items[-1] if self.items else None


@overload
def parse_page_size(value: str | None, default: int) -> int: ...


@overload
def parse_page_size(value: str | None, default: None) -> int | None: ...


def parse_page_size(value: str | None, default: int | None) -> int | None:
    """``n`` as a number of entries (clamped to :data:`MAX_PAGE`); ``default`` when absent (``None``: no limit)."""
    if value is None:
        return default
    if not value.isascii() or not value.isdigit():
        raise RegistryError(
            ErrorCode.PAGINATION_NUMBER_INVALID, {"n": value[:32]}, message="n must be a non-negative integer"
        )
    digits = value.lstrip("0")
    return MAX_PAGE if len(digits) > len(str(MAX_PAGE)) else min(int(digits or "0"), MAX_PAGE)


def page_after(items: Sequence[str], n: int | None, last: str | None) -> Page:
    """The page of sorted ``items`` after ``last``, of at most ``n`` (``None``: all the rest)."""
    rest = items[bisect_right(items, last) :] if last is not None else items
    if n is None:
        return Page(list(rest), more=False)
    return Page(list(rest[:n]), more=n > 0 and len(rest) > n)
