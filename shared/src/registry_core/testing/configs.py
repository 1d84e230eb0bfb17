"""Configuration texts the tests share."""

from __future__ import annotations

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

FILESYSTEM_REDIS_CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: redis
redis:
  addr: {redis}
"""
"""Split services on one filesystem root sharing one Redis descriptor cache (format ``root`` and ``redis``)."""
