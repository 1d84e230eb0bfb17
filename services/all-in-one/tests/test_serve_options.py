"""What ``registry serve`` hands uvicorn from the config: ``http.draintimeout`` as the graceful shutdown timeout
and ``log.accesslog.disabled`` as the switch of the app's access log, uvicorn's own staying off (the process-level
tests show what the process does with them: ``tests/integration/test_process_settings.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

from registry_core.web.access_log import AccessLogMiddleware
from registry_server import cli

BASE = "version: 0.1\nstorage:\n  inmemory:\n"


def serve_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> dict[str, Any]:
    """The keyword arguments ``registry serve all`` passes to ``uvicorn.run`` for the config ``text``."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)  # leave pytest's logging alone
    config = tmp_path / "config.yml"
    config.write_text(text)
    assert cli.main(["serve", "all", "--config", str(config)]) == 0
    [options] = calls
    return options


@pytest.mark.parametrize(
    ("http", "seconds"),
    [("", cli.DEFAULT_DRAIN_TIMEOUT), ("http:\n  draintimeout: 3s\n", 3.0), ("http:\n  draintimeout: 0s\n", 0.0)],
    ids=["unset-10s", "3s", "0-no-drain"],
)
def test_draintimeout_is_the_graceful_shutdown_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: str, seconds: float
) -> None:
    assert serve_options(tmp_path, monkeypatch, BASE + http)["timeout_graceful_shutdown"] == seconds


@pytest.mark.parametrize(
    ("log", "on"),
    [
        ("", False),
        ("log:\n  accesslog:\n    disabled: false\n", True),
        ("log:\n  accesslog:\n    disabled: true\n", False),
    ],
    ids=["unset-off", "disabled-false-on", "disabled-true-off"],
)
def test_accesslog_disabled_false_turns_the_access_log_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: str, on: bool
) -> None:
    options = serve_options(tmp_path, monkeypatch, BASE + log)
    assert options["access_log"] is False and options["log_config"] is None  # our handler, our access log
    middleware = [m.cls for m in options["app"].user_middleware]
    assert (AccessLogMiddleware in middleware) is on
