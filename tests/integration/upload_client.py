"""A few Distribution API calls as a client makes them (over ``httpx.Client``), asserting each answer's status.

For tests that push step by step and look at every answer: chunked and monolithic pushes, an upload's offset,
the OCI error body.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_error(response: httpx.Response) -> dict[str, Any]:
    """The one error of an OCI error body, checked for shape: ``{"errors": [{"code", "message", "detail"}]}``."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    errors = response.json()["errors"]
    assert isinstance(errors, list) and len(errors) == 1, errors
    assert {"code", "message", "detail"} <= errors[0].keys(), errors[0]
    return dict(errors[0])


def start_upload(client: httpx.Client, repository: str) -> str:
    """POST a new upload; its location."""
    response = client.post(f"/v2/{repository}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def patch_chunk(client: httpx.Client, location: str, chunk: bytes, start: int) -> httpx.Response:
    """PATCH ``chunk`` at ``start`` (``Content-Range``), whatever the answer."""
    headers = {"Content-Range": f"{start}-{start + len(chunk) - 1}", "Content-Type": "application/octet-stream"}
    return client.patch(location, content=chunk, headers=headers)


def upload_offset(client: httpx.Client, location: str) -> int:
    """The bytes an upload holds, from its status (``Range: 0-<last>``; meant for uploads holding at least 2)."""
    response = client.get(location)
    assert response.status_code == 204, response.text
    first, last = response.headers["Range"].split("-")
    assert first == "0"
    return int(last) + 1


def finish_upload(client: httpx.Client, location: str, digest: str, last: bytes = b"") -> httpx.Response:
    return client.put(location, params={"digest": digest}, content=last)


def push_chunked(client: httpx.Client, repository: str, data: bytes, chunk_size: int) -> str:
    """Push ``data`` as Content-Range chunks of ``chunk_size``; its digest."""
    location = start_upload(client, repository)
    for start in range(0, len(data), chunk_size):
        response = patch_chunk(client, location, data[start : start + chunk_size], start)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
    digest = sha256(data)
    response = finish_upload(client, location, digest)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    return digest


def push_monolithic(client: httpx.Client, repository: str, data: bytes) -> str:
    """Push ``data`` in one ``POST ?digest=``; its digest."""
    digest = sha256(data)
    response = client.post(f"/v2/{repository}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    return digest


def pulled(client: httpx.Client, repository: str, digest: str) -> bytes:
    """The blob's bytes, as a GET answers them."""
    response = client.get(f"/v2/{repository}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    return response.content


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    """An OCI image manifest of ``config`` and ``layers`` (their blobs must be pushed before it)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": sha256(layer), "size": len(layer)} for layer in layers],
    }
    return json.dumps(manifest).encode()


def put_manifest(client: httpx.Client, repository: str, reference: str, manifest: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{repository}/manifests/{reference}", content=manifest, headers={"Content-Type": MANIFEST_TYPE}
    )
