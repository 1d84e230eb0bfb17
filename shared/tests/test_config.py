"""The settings model: Go config.yml compatibility, environment overrides, errors, unknown keys."""

from __future__ import annotations

import logging
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from registry_core.config import ConfigError, Settings, load_settings
from registry_core.testing.configs import DEBIAN_DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[2]

DEBIAN_DEFAULT = DEBIAN_DEFAULT_CONFIG

GO_S3 = """\
version: 0.1
storage:
  s3:
    accesskey: minioadmin
    secretkey: minio-secret
    region: us-east-1
    regionendpoint: http://127.0.0.1:9000
    bucket: registry
    rootdirectory: /prefix
    chunksize: "10485760"
    secure: false
    v4auth: true
    encrypt: false
    storageclass: standard
  delete:
    enabled: true
  redirect:
    disable: true
  cache:
    blobdescriptor: redis
  maintenance:
    uploadpurging:
      enabled: true
      age: 72h
      interval: 1h30m
      dryrun: false
redis:
  addr: redis:6379
  password: 1234
  db: 2
  dialtimeout: 10ms
  pool:
    maxactive: 8
"""


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(text))
    return load_settings(path, env=env or {})


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return info.value


# --- Go configs load -------------------------------------------------------------------------------------------


def test_debian_default_config(tmp_path: Path) -> None:
    settings = load(tmp_path, DEBIAN_DEFAULT)
    assert settings.version == "0.1"
    assert settings.storage.driver == "filesystem"
    assert settings.storage.filesystem is not None
    assert settings.storage.filesystem.rootdirectory == "/var/lib/docker-registry"
    assert settings.storage.filesystem.maxthreads == 100
    assert settings.storage.s3 is None and settings.storage.inmemory is None
    assert settings.storage.cache.blobdescriptor == "inmemory"
    assert settings.log.fields == {"service": "registry"}
    assert settings.log.level == "info"
    assert settings.http.addr == ":5000"
    assert settings.http.headers == {"X-Content-Type-Options": ["nosniff"]}
    health = settings.health.storagedriver
    assert (health.enabled, health.interval, health.threshold) == (True, timedelta(seconds=10), 3)
    assert settings.storage.delete.enabled is False
    assert settings.unknown_keys == []


def test_go_s3_config_with_regionendpoint(tmp_path: Path) -> None:
    settings = load(tmp_path, GO_S3)
    s3 = settings.storage.s3
    assert settings.storage.driver == "s3"
    assert s3 is not None
    assert (s3.bucket, s3.region, s3.regionendpoint) == ("registry", "us-east-1", "http://127.0.0.1:9000")
    assert (s3.accesskey, s3.secretkey, s3.rootdirectory) == ("minioadmin", "minio-secret", "/prefix")
    assert s3.chunksize == 10485760  # from a numeric string
    assert s3.forcepathstyle is True  # the default with a regionendpoint
    assert (s3.secure, s3.v4auth, s3.encrypt, s3.skipverify) == (False, True, False, False)
    assert s3.storageclass == "STANDARD"
    assert settings.storage.delete.enabled and settings.storage.redirect.disable
    purging = settings.storage.maintenance.uploadpurging
    assert (purging.age, purging.interval) == (timedelta(hours=72), timedelta(hours=1, minutes=30))
    assert purging.jitter == timedelta(minutes=60)
    assert settings.redis.addr == "redis:6379"
    assert settings.redis.password == "1234"  # Go reads a YAML number into a string field too
    assert settings.redis.db == 2
    assert settings.redis.dialtimeout == timedelta(milliseconds=10)
    assert settings.redis.readtimeout == timedelta(milliseconds=500)
    assert (settings.redis.pool.maxidle, settings.redis.pool.maxactive) == (16, 8)
    assert settings.unknown_keys == []


def test_s3_path_style_defaults_false_on_aws_and_explicit_value_wins(tmp_path: Path) -> None:
    aws = load(tmp_path, "storage: {s3: {region: eu-west-1, bucket: b}}").storage.s3
    assert aws is not None and aws.forcepathstyle is False and aws.chunksize == 10 * 1024 * 1024
    minio = load(
        tmp_path, "storage: {s3: {region: r, bucket: b, regionendpoint: 'http://m:9000', forcepathstyle: false}}"
    )
    assert minio.storage.s3 is not None and minio.storage.s3.forcepathstyle is False


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    settings = load(tmp_path, GO_S3)
    assert "minio-secret" not in repr(settings)
    assert "1234" not in repr(settings.redis)


@pytest.mark.parametrize("text", ["storage:\n  inmemory:\n", "storage: {inmemory: {}}"])
def test_inmemory_as_yaml_null(tmp_path: Path, text: str) -> None:
    storage = load(tmp_path, text).storage
    assert storage.driver == "inmemory"
    assert storage.filesystem is None


def test_filesystem_as_yaml_null_takes_defaults(tmp_path: Path) -> None:
    storage = load(tmp_path, "storage:\n  filesystem:\n").storage
    assert storage.driver == "filesystem"
    assert storage.filesystem is not None and storage.filesystem.rootdirectory == "/var/lib/registry"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "version: 0.1\n"])
def test_empty_file_and_no_storage_section_mean_filesystem_defaults(tmp_path: Path, text: str) -> None:
    settings = load(tmp_path, text)
    assert settings.storage.driver == "filesystem"
    assert settings.storage.filesystem is not None
    assert settings.storage.filesystem.rootdirectory == "/var/lib/registry"
    assert settings.http.addr == ":5000"
    assert settings.http.blobcachemaxage == timedelta(hours=168)
    assert settings.services.descriptorcache.timeout == timedelta(milliseconds=250)
    assert settings.services.purger.lease == timedelta(seconds=60)
    assert settings.storage.cache.blobdescriptor is None


def test_no_file_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None, env={})
    assert settings.storage.driver == "filesystem"
    assert settings.storage.maintenance.uploadpurging.interval == timedelta(hours=24)


def test_layerinfo_is_an_alias_of_blobdescriptor(tmp_path: Path) -> None:
    text = "storage: {inmemory: , cache: {layerinfo: redis}}\nredis: {addr: 'localhost:6379'}"
    assert load(tmp_path, text).storage.cache.blobdescriptor == "redis"
    same = "storage: {inmemory: , cache: {layerinfo: inmemory, blobdescriptor: inmemory}}"
    assert load(tmp_path, same).storage.cache.blobdescriptor == "inmemory"


def test_layerinfo_and_blobdescriptor_disagreeing_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {inmemory: , cache: {layerinfo: redis, blobdescriptor: inmemory}}")
    assert "storage.cache: layerinfo ('redis') and blobdescriptor ('inmemory') disagree" in str(error)


def test_shipped_configs_load() -> None:
    dev = load_settings(ROOT / "deploy" / "config.dev.yml", env={})
    assert dev.storage.driver == "filesystem"
    assert dev.storage.filesystem is not None and dev.storage.filesystem.rootdirectory == "./data"
    assert dev.storage.cache.blobdescriptor == "inmemory"
    assert dev.storage.delete.enabled is True
    assert dev.http.addr == "127.0.0.1:5000"
    assert dev.unknown_keys == []
    example = load_settings(ROOT / "deploy" / "config.example.yml", env={})
    assert example.storage.driver == "s3"
    assert example.storage.cache.blobdescriptor == "remote"
    assert example.redis.addr and example.services.descriptorcache.url
    assert example.unknown_keys == []


# --- environment -----------------------------------------------------------------------------------------------


def test_env_overrides_file_and_merges_with_sibling_keys(tmp_path: Path) -> None:
    env = {
        "REGISTRY_STORAGE_S3_BUCKET": "from-env",
        "REGISTRY_STORAGE_DELETE_ENABLED": "false",
        "REGISTRY_HTTP_ADDR": "127.0.0.1:6000",
        "REGISTRY_REDIS_ADDR": "other:6380",
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "12h",
    }
    settings = load(tmp_path, GO_S3, env)
    s3 = settings.storage.s3
    assert s3 is not None
    assert s3.bucket == "from-env"
    assert (s3.region, s3.regionendpoint, s3.accesskey) == ("us-east-1", "http://127.0.0.1:9000", "minioadmin")
    assert settings.storage.delete.enabled is False
    assert settings.storage.redirect.disable is True
    assert settings.http.addr == "127.0.0.1:6000"
    assert (settings.redis.addr, settings.redis.db, settings.redis.pool.maxactive) == ("other:6380", 2, 8)
    purging = settings.storage.maintenance.uploadpurging
    assert (purging.age, purging.interval) == (timedelta(hours=12), timedelta(hours=1, minutes=30))


def test_env_sets_cache_and_descriptor_cache_service(tmp_path: Path) -> None:
    env = {
        "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "remote",
        "REGISTRY_SERVICES_DESCRIPTORCACHE_URL": "http://127.0.0.1:5001/",
        "registry_services_descriptorcache_timeout": "1s",  # names are case-insensitive
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
    }
    settings = load(tmp_path, DEBIAN_DEFAULT, env)
    assert settings.storage.cache.blobdescriptor == "remote"
    assert settings.services.descriptorcache.url == "http://127.0.0.1:5001"
    assert settings.services.descriptorcache.timeout == timedelta(seconds=1)
    assert settings.storage.delete.enabled is True
    assert settings.storage.filesystem is not None
    assert settings.storage.filesystem.rootdirectory == "/var/lib/docker-registry"


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", "0.0.0.0:7000")
    path = tmp_path / "config.yml"
    path.write_text(DEBIAN_DEFAULT)
    assert load_settings(path).http.addr == "0.0.0.0:7000"
    assert load_settings(path, env={}).http.addr == ":5000"  # an empty mapping is not "use os.environ"


def test_registry_storage_env_switches_the_driver(tmp_path: Path) -> None:
    settings = load(tmp_path, DEBIAN_DEFAULT, {"REGISTRY_STORAGE": "inmemory", "REGISTRY_STORAGE_DELETE_ENABLED": "1"})
    assert settings.storage.driver == "inmemory"
    assert settings.storage.filesystem is None
    assert settings.storage.cache.blobdescriptor == "inmemory"  # options of the file are kept
    assert settings.storage.delete.enabled is True
    s3_env = {"REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_BUCKET": "b", "REGISTRY_STORAGE_S3_REGION": "r"}
    s3 = load(tmp_path, DEBIAN_DEFAULT, s3_env).storage.s3
    assert s3 is not None and s3.bucket == "b"


def test_the_driver_switch_drops_the_other_drivers_variables(tmp_path: Path) -> None:
    """One environment (compose's S3 keys, say) serves a service switched to another driver."""
    env = {
        "REGISTRY_STORAGE": "filesystem",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/data",
        "REGISTRY_STORAGE_S3_ACCESSKEY": "key",
        "REGISTRY_STORAGE_S3_SECRETKEY": "secret",
    }
    storage = load(tmp_path, "version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n", env).storage
    assert storage.driver == "filesystem" and storage.s3 is None
    assert storage.filesystem is not None and storage.filesystem.rootdirectory == "/data"


def test_env_adding_a_second_driver_is_an_error(tmp_path: Path) -> None:
    env = {"REGISTRY_STORAGE_S3_BUCKET": "b", "REGISTRY_STORAGE_S3_REGION": "r"}
    error = load_error(tmp_path, DEBIAN_DEFAULT, env)
    assert "storage: exactly one storage driver must be configured, got filesystem, s3" in str(error)


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    error = load_error(tmp_path, DEBIAN_DEFAULT, {"REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "3"})
    assert error.problems == [
        "storage.filesystem.maxthreads: must be greater than or equal to 25, got '3'"
        " (from REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS)"
    ]


def test_malformed_json_in_env_is_a_config_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, DEBIAN_DEFAULT, {"REGISTRY_HTTP_HEADERS": "{not json"})
    assert "http" in str(error)


# --- errors ----------------------------------------------------------------------------------------------------


def test_chunksize_too_small(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {s3: {region: r, bucket: b, chunksize: 1}}")
    assert error.problems == ["storage.s3.chunksize: must be at least 5242880 (5 MiB), got 1"]
    assert "storage.s3.chunksize" in str(error)


def test_chunksize_too_large_or_not_a_number(tmp_path: Path) -> None:
    too_large = load_error(tmp_path, "storage: {s3: {region: r, bucket: b, chunksize: 5368709121}}")
    assert "storage.s3.chunksize: must be at most 5368709120 (5 GiB)" in str(too_large)
    garbage = load_error(tmp_path, "storage: {s3: {region: r, bucket: b, chunksize: 10MB}}")
    assert "storage.s3.chunksize: must be a valid integer" in str(garbage)


def test_s3_requires_region_and_bucket(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {s3: {bucket: ''}}")
    assert set(error.problems) == {"storage.s3.region: is required", "storage.s3.bucket: must not be empty"}


def test_two_drivers(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage:\n  filesystem:\n  s3: {region: r, bucket: b}\n")
    assert error.problems == ["storage: exactly one storage driver must be configured, got filesystem, s3"]


@pytest.mark.parametrize("text", ["storage:\n", "storage: {delete: {enabled: true}}", "storage: {gcs: {bucket: b}}"])
def test_storage_section_without_a_driver(tmp_path: Path, text: str) -> None:
    error = load_error(tmp_path, text)
    assert "storage: exactly one storage driver must be configured, got none" in str(error)


def test_redis_cache_requires_redis_addr(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {inmemory: , cache: {blobdescriptor: redis}}")
    assert error.problems == ["redis.addr: is required when storage.cache.blobdescriptor is redis"]


def test_remote_cache_requires_the_service_url(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {inmemory: , cache: {blobdescriptor: remote}}")
    assert error.problems == ["services.descriptorcache.url: is required when storage.cache.blobdescriptor is remote"]


def test_bad_duration_names_the_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, "storage: {inmemory: , maintenance: {uploadpurging: {age: 5 parsecs}}}")
    [problem] = error.problems
    assert problem.startswith("storage.maintenance.uploadpurging.age: invalid duration '5 parsecs'")


def test_negative_and_zero_durations(tmp_path: Path) -> None:
    text = "storage: {inmemory: , maintenance: {uploadpurging: {interval: -1h, age: 0s}}}"
    error = load_error(tmp_path, text)
    assert set(error.problems) == {
        "storage.maintenance.uploadpurging.interval: negative duration '-1h' is not allowed",
        "storage.maintenance.uploadpurging.age: must be greater than 0, got 0s",
    }
    jitter = load(tmp_path, "storage: {inmemory: , maintenance: {uploadpurging: {jitter: 0s}}}")
    assert jitter.storage.maintenance.uploadpurging.jitter == timedelta(0)


def test_bare_int_duration_is_nanoseconds_as_in_go(tmp_path: Path) -> None:
    settings = load(tmp_path, "storage: {inmemory: , maintenance: {uploadpurging: {interval: 3600000000000}}}")
    assert settings.storage.maintenance.uploadpurging.interval == timedelta(hours=1)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
    version: 0.2
    log: {level: verbose}
    storage: {filesystem: {maxthreads: 10}}
    redis: {addr: localhost, db: -1}
    services: {descriptorcache: {url: 'ftp://cache'}}
    http: {relativeurls: maybe, headers: {X-Frame-Options: DENY}}
    """
    error = load_error(tmp_path, text)
    assert sorted(problem.split(":")[0] for problem in error.problems) == [
        "http.headers.X-Frame-Options",
        "http.relativeurls",
        "log.level",
        "redis.addr",
        "redis.db",
        "services.descriptorcache.url",
        "storage.filesystem.maxthreads",
        "version",
    ]
    assert "log.level: must be 'error', 'warn', 'info' or 'debug', got 'verbose'" in error.problems
    assert "redis.addr: must be host:port, got 'localhost'" in error.problems
    assert str(error).startswith(f"invalid configuration ({tmp_path / 'config.yml'}")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match="configuration file not found") as info:
        load_settings(missing, env={})
    assert str(missing) in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("storage: [\n", "config.yml:2:1: invalid YAML"),
        ("http:\n  addr: :5000\n  addr: :6000\n", "config.yml:3:3: invalid YAML: duplicate key 'addr'"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("1: one\n", "invalid top-level keys: 1"),
        ("_env_prefix: X_\n", "invalid top-level keys: _env_prefix"),
    ],
)
def test_unusable_yaml(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in str(load_error(tmp_path, text))


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path, DEBIAN_DEFAULT)
    with pytest.raises(ValidationError):
        settings.http = settings.http  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.storage.delete.enabled = True  # type: ignore[misc]


def test_json_dump_loads_back(tmp_path: Path) -> None:
    settings = load(tmp_path, GO_S3)
    dumped = settings.model_dump(mode="json", exclude_none=True)
    assert dumped["storage"]["maintenance"]["uploadpurging"]["interval"] == "1h30m"
    assert load(tmp_path, yaml.safe_dump(dumped)) == settings


# --- unknown keys and sections we do not implement ---------------------------------------------------------------


def test_unknown_keys_are_reported_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = DEBIAN_DEFAULT + "loglevel: debug\nstorage_typo: 1\n"
    text = text.replace("  filesystem:\n", "  filesystem:\n    maxthread: 4\n").replace(
        "http:\n", "http:\n  net: tcp\n"
    )
    env = {
        "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTORS": "redis",
        "REGISTRY_FOO_BAR": "1",
        "REGISTRY_CONFIGURATION_PATH": "x",
    }
    with caplog.at_level(logging.WARNING, logger="registry.config"):
        settings = load(tmp_path, text, env)
    expected = {
        "loglevel",
        "storage_typo",
        "foo",
        "storage.filesystem.maxthread",
        "storage.cache.blobdescriptors",
        "http.net",
    }
    assert set(settings.unknown_keys) == expected
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for key in expected:
        assert f"config: unknown key {key} ignored" in logged
    assert settings.storage.filesystem is not None and settings.storage.filesystem.maxthreads == 100


def test_known_config_logs_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="registry.config"):
        load(tmp_path, DEBIAN_DEFAULT)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("auth:\n  silly: {realm: basic-realm, service: s}\n", "auth.silly: is not supported"),
        ("proxy:\n  remoteurl: https://registry-1.docker.io\n", "proxy: is not supported"),
    ],
    ids=["auth", "proxy"],
)
def test_unimplemented_sections_stop_start_up(tmp_path: Path, text: str, fragment: str) -> None:
    """An auth mode we do not have must never start an open registry silently: start-up stops naming it."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, DEBIAN_DEFAULT + text)
    assert fragment in str(error.value)
    assert "basic-realm" not in str(error.value) and "http://x" not in str(error.value)  # keys, not values
