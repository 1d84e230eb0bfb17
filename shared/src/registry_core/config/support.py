"""Keys the Go registry has that we accept only with a value that means what we do.

The project's rule: a key that is accepted does what it says, or start-up stops naming it. Each function below
returns ``"dotted.key: why"`` lines for the values we cannot honour; the messages never repeat values (which
may hold secrets), only key names and what to do instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_core.config.settings import Settings

UNSUPPORTED_SECTIONS = {
    "proxy": "this registry is not a pull-through cache",
    "middleware": "registry, repository and storage middleware are not implemented",
    "reporting": "error reporting (bugsnag, newrelic) is not implemented",
}


def _off(value: Any, *, enabled: str = "enabled", disabled: str = "disabled") -> bool:
    """An empty section, or one that only switches itself off (``enabled: false`` / ``disabled: true``)."""
    if not value:
        return True
    if not isinstance(value, dict):
        return False
    rest = {k: v for k, v in value.items() if not (k == enabled and v is False) and not (k == disabled and v is True)}
    return not rest and bool(value)


def _health(settings: Settings) -> list[str]:
    health = settings.health
    return [
        f"health.{key}: is not supported: only health.storagedriver checks are implemented"
        for key in ("file", "http", "tcp")
        if getattr(health, key)
    ]


def _validation(value: dict[str, Any]) -> list[str]:
    problems = []
    for key, section in value.items():
        if (key == "enabled" and section is True) or (key == "disabled" and section is False):
            continue  # manifests are always validated
        if key == "manifests" and _urls_unrestricted(section):
            continue
        problems.append(f"validation.{key}: is not supported: manifests are always validated, with no URL rules")
    return problems


def _urls_unrestricted(section: Any) -> bool:
    if not section:
        return True
    urls = section.get("urls") if isinstance(section, dict) and set(section) == {"urls"} else None
    return isinstance(urls, dict) and not urls.get("allow") and not urls.get("deny")


def _compatibility(value: dict[str, Any]) -> list[str]:
    schema1 = value.get("schema1")
    if set(value) <= {"schema1"} and _off(schema1):
        return []
    return ["compatibility: is not supported: Docker schema 1 manifests are not served (schema1.enabled: false is)"]


def _http(settings: Settings) -> list[str]:
    http = settings.http
    problems = []
    if http.prefix.strip("/"):
        problems.append("http.prefix: is not supported: the API is served at /v2/ (put a proxy in front for a prefix)")
    if http.host:
        problems.append("http.host: is not supported: Location headers are relative URLs (http.relativeurls: true)")
    if http.debug.get("addr") or _debug_prometheus(http.debug):
        problems.append("http.debug: is not supported: metrics are served at /metrics on http.addr")
    if http.http2 and http.http2 != {"disabled": True}:
        problems.append("http.http2: is not supported: HTTP/1.1 only (http2: {disabled: true} is accepted)")
    return problems


def _debug_prometheus(debug: dict[str, Any]) -> bool:
    prometheus = debug.get("prometheus")
    return isinstance(prometheus, dict) and prometheus.get("enabled") is True


def _s3(settings: Settings) -> list[str]:
    s3 = settings.storage.s3
    if s3 is None:
        return []
    problems = []
    if not s3.v4auth:
        problems.append("storage.s3.v4auth: false is not supported: requests are signed with AWS Signature V4")
    if s3.encrypt:
        problems.append("storage.s3.encrypt: is not supported: server-side encryption is not implemented")
    if s3.keyid:
        problems.append("storage.s3.keyid: is not supported: server-side encryption is not implemented")
    if s3.storageclass != "STANDARD":
        problems.append("storage.s3.storageclass: only STANDARD is supported")
    if s3.objectacl != "private":
        problems.append("storage.s3.objectacl: only private is supported")
    if s3.multipartcopymaxconcurrency != 100:
        problems.append(
            "storage.s3.multipartcopymaxconcurrency: only 100: parts in flight are bounded by maxconcurrency"
        )
    if s3.loglevel != "off":
        problems.append("storage.s3.loglevel: only off is supported (use log.level: debug for the driver's calls)")
    return problems


def _redis(settings: Settings) -> list[str]:
    redis = settings.redis
    problems = []
    if redis.pool.maxidle != 16:
        problems.append(
            "redis.pool.maxidle: only 16 (the default) is supported: idle connections are kept up to maxactive"
        )
    if redis.pool.idletimeout != timedelta(seconds=300):
        problems.append("redis.pool.idletimeout: only 300s (the default) is supported: idle connections stay open")
    if redis.writetimeout != redis.readtimeout:
        problems.append("redis.writetimeout: must equal redis.readtimeout (one socket timeout covers both)")
    return problems


def refusals(settings: Settings) -> list[str]:
    """Every ``"key: why"`` line for the values of ``settings`` that we cannot honour."""
    problems = [
        f"{name}: is not supported: {why}" for name, why in UNSUPPORTED_SECTIONS.items() if getattr(settings, name)
    ]
    problems += _validation(settings.validation) + _compatibility(settings.compatibility)
    problems += _health(settings) + _http(settings) + _s3(settings) + _redis(settings)
    return problems
