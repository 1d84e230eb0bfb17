"""Go duration syntax (``time.ParseDuration``), as the Go registry's ``config.yml`` writes durations.

``"168h"``, ``"1h30m"``, ``"1.5h"``, ``"500ms"``, ``"250us"`` (or ``µs``), ``"0"``: one or more decimal numbers,
each with a unit among ns, us, ms, s, m, h. A bare integer is a number of **nanoseconds**, because that is what
Go's YAML decoder makes of ``interval: 3600000000000`` in a ``time.Duration`` field; write ``"1h"`` instead.

Values are :class:`datetime.timedelta`, which has microsecond resolution: sub-microsecond parts are dropped
(``"1500ns"`` is 1µs). Negative durations are refused: no setting of the registry means anything by them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

__all__ = ["Duration", "PositiveDuration", "format_duration", "parse_duration"]

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign, as Go accepts
    "\u03bcs": 1_000,  # Greek mu, as Go accepts
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = "|".join(sorted(map(re.escape, _UNITS_NS), key=len, reverse=True))  # longest first: "ms" before "m"
_PART = re.compile(rf"({_NUMBER})({_UNIT})")
_DURATION = re.compile(rf"([-+]?)((?:{_NUMBER}(?:{_UNIT}))+)")
_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
_SYNTAX = "expected a Go duration such as '168h', '1h30m', '500ms' or '0' (units: ns, us, ms, s, m, h)"


def parse_duration(value: str | int | float) -> timedelta:
    """Parse a Go duration string, or a bare number of nanoseconds; raise ``ValueError`` if invalid or negative."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{_SYNTAX}, got {value!r}")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")) or value != int(value):
            raise ValueError(f"a bare number is a count of nanoseconds (as in Go) and must be whole; {_SYNTAX}")
        nanos = int(value)
    else:
        text = value.strip()
        match = _DURATION.fullmatch(text)
        if text in ("0", "+0", "-0"):
            nanos = 0
        elif match is None:
            raise ValueError(f"invalid duration {value!r}: {_SYNTAX}")
        else:
            total = sum(Fraction(number) * _UNITS_NS[unit] for number, unit in _PART.findall(match.group(2)))
            nanos = int(total) * (-1 if match.group(1) == "-" else 1)  # Go truncates fractional nanoseconds
    if nanos < 0:
        raise ValueError(f"negative duration {value!r} is not allowed")
    if nanos > _MAX_NS:
        raise ValueError(f"duration {value!r} is out of range (at most about 292 years, as in Go)")
    return timedelta(microseconds=nanos // 1000)


def format_duration(td: timedelta) -> str:
    """Render ``td`` in compact Go syntax (``"168h"``, ``"1h30m"``, ``"1.5s"``, ``"500ms"``, ``"250us"``, ``"0s"``).

    Zero units are left out; the result parses back to ``td`` with :func:`parse_duration` and Go's
    ``time.ParseDuration``.
    """
    micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    if micros == 0:
        return "0s"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if rest and (hours or minutes or rest >= 1_000_000):
        parts.append(_decimal(rest, 1_000_000) + "s")
    elif rest >= 1_000:
        parts.append(_decimal(rest, 1_000) + "ms")
    elif rest:
        parts.append(f"{rest}us")
    return sign + "".join(parts)


def _decimal(amount: int, per_unit: int) -> str:
    whole, frac = divmod(amount, per_unit)
    digits = len(str(per_unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0") if frac else str(whole)


def _to_timedelta(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"negative duration {format_duration(value)!r} is not allowed")
        return value
    return parse_duration(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be greater than 0, got {format_duration(value)}")
    return value


_as_go = PlainSerializer(format_duration, return_type=str, when_used="json")

Duration = Annotated[timedelta, BeforeValidator(_to_timedelta), _as_go]
"""A pydantic field type: a non-negative duration in Go syntax (or a ``timedelta``), held as a ``timedelta``;
dumped to JSON in Go syntax."""

PositiveDuration = Annotated[timedelta, BeforeValidator(_to_timedelta), AfterValidator(_positive), _as_go]
"""As :data:`Duration`, and greater than zero."""
