"""An endpoint's filters (Go's ignore.actions, ignore.mediatypes and ignoredmediatypes) and the retry schedule."""

from __future__ import annotations

import pytest

from registry_core.config import EndpointSettings
from registry_core.notify.backoff import retry_delay
from registry_core.notify.filters import EventFilter


def event(action: str, media_type: str | None) -> dict[str, object]:
    return {"action": action, "target": {"repository": "r"} | ({"mediaType": media_type} if media_type else {})}


def test_filters_by_action_and_by_both_media_type_lists() -> None:
    endpoint = EndpointSettings.model_validate(
        {
            "name": "e",
            "url": "http://x",
            "ignoredmediatypes": ["a/old"],
            "ignore": {"mediatypes": ["a/new"], "actions": ["pull"]},
        }
    )
    accepts = EventFilter.of(endpoint).accepts
    assert not accepts(event("pull", "application/octet-stream"))
    assert not accepts(event("push", "a/old")) and not accepts(event("push", "a/new"))
    assert accepts(event("push", "application/octet-stream"))
    assert accepts(event("delete", None))  # a delete has no media type: only its action can filter it


def test_no_filter_accepts_everything() -> None:
    assert all(EventFilter().accepts(event(a, "x/y")) for a in ("push", "pull", "mount", "delete"))


@pytest.mark.parametrize(
    ("threshold", "backoff", "maxbackoff", "expected"),
    [
        (3, 1.0, 300.0, [0.1, 0.1, 1.0, 2.0, 4.0, 8.0]),
        (1, 0.5, 3.0, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]),
        (10, 0.05, 1.0, [0.05] * 6),  # a backoff shorter than the quick retry bounds it
    ],
)
def test_retry_schedule(threshold: int, backoff: float, maxbackoff: float, expected: list[float]) -> None:
    assert [retry_delay(n, threshold, backoff, maxbackoff) for n in range(1, 7)] == expected


def test_retry_delay_stays_capped_after_very_many_failures() -> None:
    assert retry_delay(10_000, 10, 1.0, 300.0) == 300.0
