"""``http_protocol``: the one protocol class ``registry serve`` gives uvicorn, built from ``http`` settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from registry_core.config import HttpLimitsSettings, HttpSettings
from registry_server.limits import LimitedHttpToolsProtocol
from registry_server.protocol import http_protocol
from registry_server.zerocopy import ZeroCopyHttpToolsProtocol


def settings(**limits: object) -> HttpSettings:
    return HttpSettings(sendfile=False, limits=HttpLimitsSettings.model_validate(limits))


def test_limits_and_file_sending_in_one_class() -> None:
    protocol = http_protocol(settings(maxheaderbytes=8192, headertimeout="2s", idletimeout="90s"))
    assert issubclass(protocol, ZeroCopyHttpToolsProtocol) and issubclass(protocol, LimitedHttpToolsProtocol)
    assert protocol.max_head_bytes == 8192  # type: ignore[attr-defined]
    assert protocol.head_timeout == 2.0  # type: ignore[attr-defined]
    assert protocol.idle_timeout == 90.0  # type: ignore[attr-defined]
    assert protocol.sendfile is False  # type: ignore[attr-defined]


def test_defaults() -> None:
    protocol = http_protocol(HttpSettings())
    limits = HttpLimitsSettings()
    assert protocol.max_head_bytes == limits.maxheaderbytes == 64 * 1024  # type: ignore[attr-defined]
    assert protocol.head_timeout == limits.headertimeout.total_seconds() == 30.0  # type: ignore[attr-defined]
    assert limits.idletimeout == timedelta(seconds=120)


def test_without_the_file_sending_hooks_the_limits_still_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "_start_asgi_task")
    protocol = http_protocol(settings())
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert not issubclass(protocol, ZeroCopyHttpToolsProtocol)


def test_without_the_parser_hooks_start_up_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "on_header")
    with pytest.raises(RuntimeError, match=r"HttpToolsProtocol\.on_header: the request limits of http.limits"):
        http_protocol(settings())
