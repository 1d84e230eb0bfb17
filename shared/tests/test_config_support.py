# ruff: noqa: E501  (config texts read best on one line)
"""Keys the Go registry has that are accepted only when they mean what we do; every other value stops start-up
naming the key (never its value)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from registry_core.config import ConfigError, Settings, load_settings
from registry_core.testing.configs import DEBIAN_DEFAULT_CONFIG

BASE = "version: 0.1\nstorage:\n  inmemory:\n"
S3 = "version: 0.1\nstorage:\n  s3: {region: r, bucket: b, STORAGE_OPTION}\n"


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return load_settings(path, env={})


@pytest.mark.parametrize(
    "text",
    [
        BASE + "auth:\n  silly: {realm: r, service: s}\n",
        BASE + "proxy:\n  remoteurl: https://registry-1.docker.io\n  password: hunter2\n",
        BASE + "middleware:\n  storage:\n    - name: cloudfront\n",
        BASE + "reporting:\n  bugsnag: {apikey: k}\n",
        BASE + "health:\n  http:\n    - {uri: 'http://x'}\n",
        BASE + "validation:\n  manifests:\n    urls: {allow: ['^https?://']}\n",
        BASE + "compatibility:\n  schema1: {enabled: true}\n",
        BASE + "http:\n  prefix: /registry\n",
        BASE + "http:\n  host: https://example.com\n",
        BASE + "http:\n  debug: {addr: 'localhost:5001'}\n",
        BASE + "http:\n  http2: {disabled: false}\n",
        S3.replace("STORAGE_OPTION", "v4auth: false"),
        S3.replace("STORAGE_OPTION", "encrypt: true"),
        S3.replace("STORAGE_OPTION", "keyid: arn:kms"),
        S3.replace("STORAGE_OPTION", "storageclass: REDUCED_REDUNDANCY"),
        S3.replace("STORAGE_OPTION", "objectacl: public-read"),
        S3.replace("STORAGE_OPTION", "loglevel: debug"),
        S3.replace("STORAGE_OPTION", "multipartcopymaxconcurrency: 5"),
        BASE + "redis:\n  addr: r:6379\n  pool: {maxidle: 4}\n",
        BASE + "redis:\n  addr: r:6379\n  pool: {idletimeout: 60s}\n",
        BASE + "redis:\n  addr: r:6379\n  writetimeout: 2s\n",
    ],
    ids=[
        "auth", "proxy", "middleware", "reporting", "health.http", "validation.manifests", "compatibility",
        "prefix", "host", "debug", "http2", "v4auth", "encrypt", "keyid", "storageclass", "objectacl",
        "s3.loglevel", "multipartcopymaxconcurrency", "maxidle", "idletimeout", "writetimeout",
    ],
)  # fmt: skip
def test_refused_values_stop_start_up_naming_the_key(tmp_path: Path, text: str, request: pytest.FixtureRequest) -> None:
    key = request.node.callspec.id
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert key in message  # the (dotted) key it names
    for secret in ("hunter2", "arn:kms", "http://y", "apikey: k"):
        assert secret not in message


@pytest.mark.parametrize(
    "text",
    [
        BASE + "notifications:\n  events: {includereferences: true}\n  endpoints:\n    - {name: a, url: 'http://x', disabled: true}\n",
        BASE + "reporting:\nmiddleware:\nauth:\nproxy:\n",
        BASE + "validation:\n  disabled: false\n  manifests:\n    urls: {allow: [], deny: []}\n",
        BASE + "compatibility:\n  schema1: {enabled: false}\n",
        BASE + "http:\n  prefix: /\n  relativeurls: true\n  secret: s3cr3t\n  http2: {disabled: true}\n  debug: {prometheus: {enabled: false}}\n",
        BASE + "log:\n  formatter: text\n",
        BASE + "redis:\n  addr: r:6379\n  pool: {maxidle: 16, maxactive: 8, idletimeout: 300s}\n  readtimeout: 1s\n  writetimeout: 1s\n",
        S3.replace("STORAGE_OPTION", "v4auth: true, encrypt: false, storageclass: standard, objectacl: private, loglevel: 'off'"),
    ],
    ids=["notifications-disabled", "empty-sections", "validation", "schema1-off", "http", "formatter", "redis", "s3"],
)  # fmt: skip
def test_inert_or_equivalent_values_are_accepted(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, text).unknown_keys == []


def test_debian_default_config_still_loads_with_its_health_check(tmp_path: Path) -> None:
    settings = load(tmp_path, DEBIAN_DEFAULT_CONFIG)
    health = settings.health.storagedriver
    assert (health.enabled, health.interval, health.threshold) == (True, timedelta(seconds=10), 3)


def test_wired_keys(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        BASE + "  tag: {concurrencylimit: 3}\nhttp:\n  draintimeout: 2s\nlog:\n  accesslog: {disabled: false}\n",
    )
    assert settings.storage.tag.concurrencylimit == 3
    assert settings.http.draintimeout == timedelta(seconds=2)
    assert settings.log.accesslog.disabled is False
    defaults = load(tmp_path, BASE)
    assert defaults.http.draintimeout is None and defaults.log.accesslog.disabled is None


@pytest.mark.parametrize("formatter", ["text", "json", "logstash"])
def test_every_go_log_formatter_is_accepted(tmp_path: Path, formatter: str) -> None:
    assert load(tmp_path, BASE + f"log:\n  formatter: {formatter}\n").log.formatter == formatter


NOTIFICATIONS = (
    BASE
    + "notifications:\n  endpoints:\n    - {name: a, url: 'https://hooks.example/a?token=t0ps3cret', headers: {Authorization: [Bearer hunter2]}ENDPOINT}\n"
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (BASE + "notifications:\n  endpoints:\n    - {url: 'http://x'}\n", "notifications.endpoints.0.name"),
        (BASE + "notifications:\n  endpoints:\n    - {name: a}\n", "notifications.endpoints.0.url"),
        (NOTIFICATIONS.replace("https://hooks", "ftp://hooks").replace("ENDPOINT", ""), "notifications.endpoints.0.url"),
        (NOTIFICATIONS.replace("ENDPOINT", ", ignore: {actions: [fetch]}"), "notifications.endpoints.0.ignore.actions.0"),
        (NOTIFICATIONS.replace("ENDPOINT", ", timeout: soon"), "notifications.endpoints.0.timeout"),
        (NOTIFICATIONS.replace("ENDPOINT", ", maxpending: 0"), "notifications.endpoints.0.maxpending"),
        (NOTIFICATIONS.replace("ENDPOINT", "") + "    - {name: a, url: 'http://y'}\n", "notifications.endpoints.1.name"),
        (NOTIFICATIONS.replace("[Bearer hunter2]", "Bearer hunter2").replace("ENDPOINT", ""), "notifications.endpoints.0.headers.Authorization"),
    ],
    ids=["no-name", "no-url", "scheme", "action", "timeout", "maxpending", "duplicate", "header-not-a-list"],
)  # fmt: skip
def test_a_bad_endpoint_stops_start_up_naming_the_key_never_a_header_value(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert key in message
    assert "hunter2" not in message and "t0ps3cret" not in message


def test_endpoints_are_read_as_go_reads_them(tmp_path: Path) -> None:
    text = (
        NOTIFICATIONS.replace(
            "ENDPOINT",
            ", timeout: 500ms, threshold: 3, backoff: 2s, ignoredmediatypes: [x/a], ignore: {mediatypes: [x/b], actions: [pull]}",
        )
        + "    - {name: b, url: 'http://y', disabled: true, timeout: 0, threshold: 0}\n  events: {includereferences: true}\n"
    )
    settings = load(tmp_path, text)
    notifications = settings.notifications
    first, second = notifications.endpoints
    assert notifications.events.includereferences is True
    assert [e.name for e in notifications.enabled] == ["a"]
    assert first.headers == {"Authorization": ["Bearer hunter2"]}
    assert (first.timeout, first.threshold, first.backoff) == (timedelta(milliseconds=500), 3, timedelta(seconds=2))
    assert first.ignored_media_types == {"x/a", "x/b"} and first.ignore.actions == ["pull"]
    assert (first.maxpending, first.maxbackoff) == (100_000, timedelta(minutes=5))
    assert (second.timeout, second.threshold, second.backoff) == (
        timedelta(seconds=1),
        10,
        timedelta(seconds=1),
    )  # 0: Go's defaults
    assert "hunter2" not in repr(settings) and "t0ps3cret" not in repr(settings)
    assert settings.unknown_keys == []


def test_unknown_endpoint_keys_are_reported(tmp_path: Path) -> None:
    assert load(tmp_path, NOTIFICATIONS.replace("ENDPOINT", ", colour: red")).unknown_keys == [
        "notifications.endpoints.0.colour"
    ]
