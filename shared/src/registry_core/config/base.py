"""What every part of the settings model shares: the error type, the section base class, small validators."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

log = logging.getLogger("registry.config")

MiB = 1024 * 1024
GiB = 1024 * MiB
DRIVERS = ("filesystem", "inmemory", "s3")
ENV_PREFIX = "REGISTRY_"
_SECRET_KEYS = {"accesskey", "secretkey", "sessiontoken", "password", "secret", "headers", "url"}


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one ``"dotted.key: what is wrong"`` line each."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"must be at least {low} ({_human(low)}), got {value}")
        if value > high:
            raise ValueError(f"must be at most {high} ({_human(high)}), got {value}")
        return value

    return check


def _human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _none_to_empty(value: Any) -> Any:
    return {} if value is None else value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError(f"must be host:port, got {value!r}")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
RawSection = Annotated[dict[str, Any], BeforeValidator(_none_to_empty)]
"""A section we accept but do not interpret (kept as the raw mapping)."""


class _Section(BaseModel):
    """Every section: frozen, null means defaults (``inmemory:``), unknown keys kept in ``model_extra``.

    Secrets are plain strings left out of ``repr`` (so out of logged reprs), not ``SecretStr``.
    """

    model_config = ConfigDict(frozen=True, extra="allow", coerce_numbers_to_str=True)  # `password: 1234` as Go

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return _none_to_empty(data)
