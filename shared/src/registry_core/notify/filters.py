"""Which events an endpoint receives: Go's ``ignore.actions`` and ``ignore.mediatypes`` (with the older
``ignoredmediatypes``), applied to the event's ``action`` and ``target.mediaType``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry_core.config.notifications import EndpointSettings


@dataclass(frozen=True, slots=True)
class EventFilter:
    actions: frozenset[str] = frozenset()
    media_types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, endpoint: EndpointSettings) -> EventFilter:
        return cls(frozenset(endpoint.ignore.actions), endpoint.ignored_media_types)

    @property
    def ignores_nothing(self) -> bool:
        """True when every event passes: the sender then need not decode events at all."""
        return not (self.actions or self.media_types)

    def accepts(self, event: dict[str, Any]) -> bool:
        if event.get("action") in self.actions:
            return False
        target = event.get("target")
        return not (isinstance(target, dict) and target.get("mediaType") in self.media_types)
