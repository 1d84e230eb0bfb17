"""``http.limits``: the request-head limits and the keep-alive idle timeout (ours; the Go registry has no keys)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from registry_core.config import ConfigError, Settings, load_settings


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(text))
    return load_settings(path, env=env or {})


def test_defaults(tmp_path: Path) -> None:
    limits = load(tmp_path, "storage: {inmemory: }\n").http.limits
    assert limits.maxheaderbytes == 64 * 1024
    assert limits.headertimeout == timedelta(seconds=30)
    assert limits.idletimeout == timedelta(seconds=120)


def test_from_the_file_and_the_environment(tmp_path: Path) -> None:
    text = """\
    storage: {inmemory: }
    http:
      addr: :5000
      limits: {maxheaderbytes: 16384, headertimeout: 10s}
    """
    limits = load(tmp_path, text, {"REGISTRY_HTTP_LIMITS_IDLETIMEOUT": "2m"}).http.limits
    assert (limits.maxheaderbytes, limits.headertimeout) == (16384, timedelta(seconds=10))
    assert limits.idletimeout == timedelta(minutes=2)


def test_an_empty_section_means_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "storage: {inmemory: }\nhttp: {limits: }\n").http.limits.maxheaderbytes == 64 * 1024


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ("{maxheaderbytes: 100}", "http.limits.maxheaderbytes: must be at least 4096 (4 KiB), got 100"),
        ("{maxheaderbytes: 2097152}", "http.limits.maxheaderbytes: must be at most 1048576 (1 MiB), got 2097152"),
        ("{maxheaderbytes: lots}", "http.limits.maxheaderbytes: "),
        ("{headertimeout: 0s}", "http.limits.headertimeout: must be greater than 0, got 0s"),
        ("{headertimeout: -1s}", "http.limits.headertimeout: negative duration '-1s' is not allowed"),
        ("{idletimeout: soon}", "http.limits.idletimeout: invalid duration 'soon'"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, limits: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"storage: {{inmemory: }}\nhttp: {{limits: {limits}}}\n")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(problem), info.value.problems


def test_unknown_keys_in_the_section_are_reported(tmp_path: Path) -> None:
    settings = load(tmp_path, "storage: {inmemory: }\nhttp: {limits: {maxbodybytes: 1}}\n")
    assert "http.limits.maxbodybytes" in settings.unknown_keys
