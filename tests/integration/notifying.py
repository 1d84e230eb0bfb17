"""What the notification tests share: endpoint and registry configurations, the client that pushes and keeps each
response's ``X-Request-Id``, the per-endpoint metrics, and polling with an upper bound."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from registry_core.digest import Digest
from registry_core.testing.configs import filesystem_config
from registry_core.testing.listener import WAIT, EventListener

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BLOB_TYPE = "application/octet-stream"
FAST_RETRIES = {"threshold": 2, "backoff": "10ms", "maxbackoff": "50ms"}
"""Quick retries, so a failing listener is tried again many times within a test."""


class Served(Protocol):
    """A running registry: a :class:`~registry_process.RunningRegistry` or a :class:`~servers.Process`."""

    @property
    def url(self) -> str: ...


def endpoint(name: str, listener: EventListener, **options: Any) -> dict[str, Any]:
    """An endpoint of the ``notifications`` section at ``listener`` (``url=`` in ``options`` for another path)."""
    return {"name": name, "url": listener.url, **FAST_RETRIES, **options}


def notifying_config(
    root: Path, port: int, endpoints: list[dict[str, Any]], *, redis: str | None = None, **sections: Any
) -> str:
    """A filesystem registry on ``port`` sending to ``endpoints``; with ``redis`` (``host:port``) as ``redis.addr``
    (the event log in Redis; no descriptor cache there); ``sections`` added at the top level."""
    config: dict[str, Any] = yaml.safe_load(filesystem_config(root, http={"addr": f"127.0.0.1:{port}"}))
    config["notifications"] = {"endpoints": endpoints}
    if redis is not None:
        config["redis"] = {"addr": redis}
    config |= sections
    return yaml.safe_dump(config)


class Pusher:
    """Registry API calls; the ``X-Request-Id`` of each response, in order."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.request_ids: list[str] = []

    def call(self, method: str, url: str, expected: int, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == expected, response.text
        self.request_ids.append(response.headers["x-request-id"])
        return response

    def blob(self, name: str, data: bytes) -> str:
        """A monolithic upload (one POST)."""
        digest = str(Digest.from_bytes(data))
        self.call("POST", f"/v2/{name}/blobs/uploads/", 201, params={"digest": digest}, content=data)
        return digest

    def chunked_blob(self, name: str, data: bytes) -> str:
        """An upload in two requests (POST, then PUT with the bytes); records the PUT's id only."""
        digest = str(Digest.from_bytes(data))
        location = self.client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
        self.call("PUT", location, 201, params={"digest": digest}, content=data)
        return digest

    def manifest(self, name: str, reference: str, config: str, **params: Any) -> tuple[str, bytes]:
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "c", "digest": config, "size": 2}}
        payload = json.dumps(doc).encode()
        headers = {"Content-Type": OCI_MANIFEST}
        self.call("PUT", f"/v2/{name}/manifests/{reference}", 201, content=payload, headers=headers, params=params)
        return str(Digest.from_bytes(payload)), payload


def metric(registry: Served, name: str, endpoint: str | None) -> float:
    """The sample of ``name`` for ``endpoint`` (None: a metric without labels) in the registry's ``/metrics``."""
    text = httpx.get(f"{registry.url}/metrics", timeout=5).text
    labels = "" if endpoint is None else rf'\{{endpoint="{re.escape(endpoint)}"\}}'
    match = re.search(rf"^{name}{labels} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name}{{endpoint={endpoint}}} not in /metrics"
    return float(match[1])


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Until ``condition`` holds (``timeout`` is a bound for a failing test, not a timing expectation)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)
