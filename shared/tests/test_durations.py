"""Go duration syntax: parsing, formatting, and the pydantic field types."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from registry_core.durations import Duration, PositiveDuration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("168h", timedelta(hours=168)),
        ("24h", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("60m", timedelta(hours=1)),
        ("3s", timedelta(seconds=3)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
        ("250us", timedelta(microseconds=250)),
        ("250\u00b5s", timedelta(microseconds=250)),  # micro sign, as Go accepts
        ("250\u03bcs", timedelta(microseconds=250)),  # Greek mu, as Go accepts
        ("1500ns", timedelta(microseconds=1)),  # sub-microsecond parts are dropped
        ("1h1m1s1ms1us", timedelta(hours=1, minutes=1, seconds=1, milliseconds=1, microseconds=1)),
        (".5s", timedelta(milliseconds=500)),
        ("5.s", timedelta(seconds=5)),
        ("+5s", timedelta(seconds=5)),
        ("0s", timedelta(0)),
        ("0", timedelta(0)),
        ("-0s", timedelta(0)),
        (" 10s ", timedelta(seconds=10)),
    ],
)
def test_parse_go_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0, timedelta(0)),
        (1_000, timedelta(microseconds=1)),
        (3_600_000_000_000, timedelta(hours=1)),  # Go's YAML: a bare int in a Duration field is nanoseconds
        (500_000_000.0, timedelta(milliseconds=500)),
    ],
)
def test_bare_numbers_are_nanoseconds(number: float, expected: timedelta) -> None:
    assert parse_duration(number) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("5 parsecs", "invalid duration '5 parsecs'"),
        ("", "invalid duration"),
        ("h", "invalid duration"),
        ("10", "invalid duration"),  # a string needs a unit (as Go's time.ParseDuration)
        ("1.5", "invalid duration"),
        ("5d", "invalid duration"),
        ("1e3s", "invalid duration"),
        (".s", "invalid duration"),
        ("1h 30m", "invalid duration"),
        ("-5s", "negative duration '-5s'"),
        ("-1h30m", "negative duration"),
        (-1, "negative duration"),
        (1.5, "must be whole"),
        (float("nan"), "must be whole"),
        ("3000000h", "out of range"),  # Go: at most 2562047h
        (True, "got True"),
        (None, "got None"),
        ([1], "got [1]"),
    ],
)
def test_invalid_values_raise_value_error(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=168), "168h"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(minutes=60), "1h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=250), "250us"),
        (timedelta(hours=1, microseconds=1), "1h0.000001s"),
        (timedelta(seconds=-3), "-3s"),
    ],
)
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@pytest.mark.parametrize(
    "td",
    [timedelta(days=400, seconds=7, microseconds=3), timedelta(microseconds=999_999), timedelta(minutes=61)],
)
def test_format_round_trips(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


class _Model(BaseModel):
    timeout: Duration = timedelta(seconds=1)
    interval: PositiveDuration = timedelta(hours=1)


def test_pydantic_types_hold_timedeltas_and_dump_go_syntax() -> None:
    model = _Model(timeout="250ms", interval=timedelta(minutes=5))
    assert model.timeout == timedelta(milliseconds=250)
    assert model.interval == timedelta(minutes=5)
    assert model.model_dump(mode="json") == {"timeout": "250ms", "interval": "5m"}
    assert model.model_dump()["timeout"] == timedelta(milliseconds=250)
    assert _Model(timeout=0).timeout == timedelta(0)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"timeout": "soon"}, "timeout", "invalid duration 'soon'"),
        ({"timeout": timedelta(seconds=-1)}, "timeout", "negative duration"),
        ({"interval": "0s"}, "interval", "must be greater than 0, got 0s"),
        ({"interval": "-1m"}, "interval", "negative duration"),
    ],
)
def test_pydantic_errors_name_the_field(data: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Model.model_validate(data)
    [error] = info.value.errors()
    assert error["loc"] == (field,)
    assert fragment in error["msg"]
