"""Configuration texts the tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEBIAN_DEFAULT_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""
"""The Debian ``docker-registry`` package's own ``/etc/docker/registry/config.yml``: it must start us unchanged."""


def filesystem_config(
    root: Path | str,
    redis: str | None = None,
    *,
    cache: str | None = None,
    descriptor_cache: str | None = None,
    log_level: str | None = None,
    http: dict[str, Any] | None = None,
    readonly: bool | None = None,
    redis_db: int | None = None,
) -> str:
    """A registry on one filesystem root, deletes enabled, as the integration tests configure it (the Go
    registry's ``config.yml`` shape, so that it starts the Go registry too).

    ``redis`` (``host:port``) makes ``redis`` the blob descriptor cache unless ``cache`` names another kind
    (``remote`` needs ``descriptor_cache``, the descriptor-cache service's URL); ``http`` is the ``http`` section
    (``addr``, ``sendfile``, ...); ``readonly`` sets maintenance read-only mode either way."""
    config: dict[str, Any] = {"version": "0.1"}
    if log_level is not None:
        config["log"] = {"level": log_level}
    storage: dict[str, Any] = {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}}
    if readonly is not None:
        storage["maintenance"] = {"readonly": {"enabled": readonly}}
    cache = cache or ("redis" if redis else None)
    if cache is not None:
        storage["cache"] = {"blobdescriptor": cache}
    config["storage"] = storage
    if http:
        config["http"] = http
    if redis is not None:
        config["redis"] = {"addr": redis} | ({"db": redis_db} if redis_db is not None else {})
    if descriptor_cache is not None:
        config["services"] = {"descriptorcache": {"url": descriptor_cache}}
    return yaml.safe_dump(config, sort_keys=False)


def s3_config(
    endpoint: str,
    bucket: str,
    *,
    rootdirectory: str = "/registry",
    log_level: str | None = None,
    http: dict[str, Any] | None = None,
) -> str:
    """A registry on an S3 server (moto's, with its ``test`` keys) at ``endpoint``, redirects off, deletes enabled;
    ``http`` is the ``http`` section."""
    config: dict[str, Any] = {"version": "0.1"}
    if log_level is not None:
        config["log"] = {"level": log_level}
    s3 = {"accesskey": "test", "secretkey": "test", "region": "us-east-1", "regionendpoint": endpoint}
    s3 |= {"bucket": bucket, "rootdirectory": rootdirectory, "chunksize": 5 * 1024 * 1024, "secure": False}
    config["storage"] = {"s3": s3, "redirect": {"disable": True}, "delete": {"enabled": True}}
    if http:
        config["http"] = http
    return yaml.safe_dump(config, sort_keys=False)
