"""How long a sender waits before it tries a failed batch again (a pure function of the failure count).

Go's retrying sink retries at once until ``threshold`` consecutive failures, then waits ``backoff`` between
attempts. Ours: a short pause (at most 0.1s, so a dead listener does not spin a core) below the threshold, then
an exponential backoff from ``backoff``, doubling at each failure, capped at ``maxbackoff``.
"""

from __future__ import annotations

QUICK_RETRY = 0.1
"""Seconds between attempts below the threshold (or ``backoff`` if shorter)."""

_MAX_DOUBLINGS = 64  # 2**64 times any backoff is past any maxbackoff: no need for bigger numbers


def retry_delay(failures: int, threshold: int, backoff: float, maxbackoff: float) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (``failures >= 1``)."""
    if failures < threshold:
        return min(QUICK_RETRY, backoff)
    return min(backoff * 2 ** min(failures - threshold, _MAX_DOUBLINGS), maxbackoff)
