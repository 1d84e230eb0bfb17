"""The ``notifications`` section: the Go registry's webhook endpoints, plus ``maxpending`` and ``maxbackoff`` (ours).

As in Go, ``timeout``, ``threshold`` and ``backoff`` of 0 (or absent) mean their defaults (1s, 10, 1s). Header
values and URLs may hold credentials: they are left out of ``repr`` and never appear in an error message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from registry_core.config.base import NonEmptyStr, _none_to_empty, _Section
from registry_core.durations import Duration, PositiveDuration

EventAction = Literal["push", "pull", "mount", "delete"]

_DEFAULT_TIMEOUT = timedelta(seconds=1)
_DEFAULT_THRESHOLD = 10
_DEFAULT_BACKOFF = timedelta(seconds=1)


def _webhook_url(value: str) -> str:
    """An http(s) URL with a host; the message never repeats the value (it may carry a token)."""
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        usable = False
    if not usable:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _null_list(value: Any) -> Any:
    return [] if value is None else value


StrList = Annotated[list[str], BeforeValidator(_null_list)]


class NotificationEventsSettings(_Section):
    includereferences: bool = False
    """Manifest events list the manifest's references (config and layers, or an index's manifests)."""


class IgnoreSettings(_Section):
    """Events an endpoint never receives: by the target's media type, or by action."""

    mediatypes: StrList = []
    actions: Annotated[list[EventAction], BeforeValidator(_null_list)] = []


class EndpointSettings(_Section):
    """One webhook endpoint; ``headers`` is Go's ``http.Header`` (a name maps to a list of values)."""

    name: NonEmptyStr
    disabled: bool = False
    url: Annotated[str, AfterValidator(_webhook_url)] = Field(repr=False)
    headers: Annotated[dict[str, list[str]], BeforeValidator(_none_to_empty)] = Field({}, repr=False)
    timeout: Duration = _DEFAULT_TIMEOUT
    threshold: int = Field(_DEFAULT_THRESHOLD, ge=0)
    backoff: Duration = _DEFAULT_BACKOFF
    ignoredmediatypes: StrList = []
    ignore: IgnoreSettings = Field(default_factory=IgnoreSettings)
    maxpending: int = Field(100_000, ge=1)
    """Ours: events held for this endpoint before the oldest are dropped (counted and logged)."""
    maxbackoff: PositiveDuration = timedelta(minutes=5)
    """Ours: the longest wait between two attempts while the endpoint keeps failing."""

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: timedelta) -> timedelta:
        return value or _DEFAULT_TIMEOUT

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: int) -> int:
        return value or _DEFAULT_THRESHOLD

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, value: timedelta) -> timedelta:
        return value or _DEFAULT_BACKOFF

    @property
    def ignored_media_types(self) -> frozenset[str]:
        """``ignore.mediatypes`` and the older ``ignoredmediatypes``, together (as Go)."""
        return frozenset((*self.ignore.mediatypes, *self.ignoredmediatypes))


class NotificationsSettings(_Section):
    events: NotificationEventsSettings = Field(default_factory=NotificationEventsSettings)
    endpoints: Annotated[list[EndpointSettings], BeforeValidator(_null_list)] = []

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationsSettings:
        seen: set[str] = set()
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.name in seen:
                raise ValueError(f"notifications.endpoints.{index}.name: {endpoint.name!r} names another endpoint too")
            seen.add(endpoint.name)
        return self

    @property
    def enabled(self) -> list[EndpointSettings]:
        """The endpoints events are sent to (``disabled: true`` ones are left out, as in Go)."""
        return [endpoint for endpoint in self.endpoints if not endpoint.disabled]
