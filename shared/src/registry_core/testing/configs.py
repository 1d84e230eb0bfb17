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
    redis: str,
    *,
    cache: str = "redis",
    descriptor_cache: str | None = None,
    log_level: str | None = None,
) -> str:
    """Services sharing one filesystem root and one Redis (``host:port``), deletes enabled: the split deployment
    of the integration tests. ``cache`` is the blob descriptor cache kind; ``remote`` needs ``descriptor_cache``,
    the descriptor-cache service's URL."""
    config: dict[str, Any] = {"version": "0.1"}
    if log_level is not None:
        config["log"] = {"level": log_level}
    config["storage"] = {
        "filesystem": {"rootdirectory": str(root)},
        "delete": {"enabled": True},
        "cache": {"blobdescriptor": cache},
    }
    config["redis"] = {"addr": redis}
    if descriptor_cache is not None:
        config["services"] = {"descriptorcache": {"url": descriptor_cache}}
    return yaml.safe_dump(config, sort_keys=False)
