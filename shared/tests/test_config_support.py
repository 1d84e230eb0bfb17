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
        BASE + "notifications:\n  endpoints:\n    - {name: a, url: 'http://x', disabled: true}\n    - {name: b, url: 'http://y'}\n",
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
        "auth", "proxy", "notifications.endpoints", "middleware", "reporting", "health.http", "validation.manifests", "compatibility",
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
