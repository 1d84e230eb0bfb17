"""The oras Python client against the real server: artifacts with custom config types, a referrer pushed with a
``subject``, the referrers API listing it (filtered and not), and the artifact pulled back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import oras.client
import oras.oci
import pytest

if TYPE_CHECKING:
    from conftest import RunningRegistry

pytestmark = pytest.mark.integration

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SBOM_CONFIG = "application/vnd.example.sbom.config.v1+json"
SIGNATURE_CONFIG = "application/vnd.example.signature.config.v1+json"


@pytest.fixture
def client() -> oras.client.OrasClient:
    return oras.client.OrasClient(insecure=True)


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def push(
    client: oras.client.OrasClient,
    target: str,
    files: list[str],
    config_type: str,
    *,
    subject: oras.oci.Subject | None = None,
    annotations: dict[str, str] | None = None,
) -> httpx.Headers:
    """``oras push``; the headers of the manifest PUT."""
    response = client.push(
        target=target,
        files=files,
        manifest_config=f"/dev/null:{config_type}",
        manifest_annotations=annotations,
        subject=subject,  # type: ignore[arg-type]  # typed str, used as a Subject
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    return httpx.Headers(dict(response.headers))


def subject_of(registry_url: str, repository: str, tag: str) -> oras.oci.Subject:
    head = httpx.head(f"{registry_url}/v2/{repository}/manifests/{tag}")
    assert head.status_code == 200
    return oras.oci.Subject(
        mediaType=head.headers["content-type"],
        digest=head.headers["docker-content-digest"],
        size=int(head.headers["content-length"]),
    )


def referrers(registry_url: str, repository: str, digest: str, **params: str) -> httpx.Response:
    response = httpx.get(f"{registry_url}/v2/{repository}/referrers/{digest}", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    return response


def test_artifact_referrers(registry_server: RunningRegistry, client: oras.client.OrasClient, tmp_path: Path) -> None:
    repository = "oras/app"
    base = f"{registry_server.host}/{repository}"
    payload = write(tmp_path / "app.txt", b"the application " * 1000)
    push(client, f"{base}:v1", [f"{payload}:application/vnd.example.app.v1"], "application/vnd.example.app.config")
    subject = subject_of(registry_server.url, repository, "v1")
    assert referrers(registry_server.url, repository, subject.digest).json()["manifests"] == []

    sbom = write(tmp_path / "sbom.json", json.dumps({"packages": ["a", "b"]}).encode())
    sbom_headers = push(
        client,
        f"{base}:sbom",
        [f"{sbom}:application/spdx+json"],
        SBOM_CONFIG,
        subject=subject,
        annotations={"org.example.kind": "sbom"},
    )
    assert sbom_headers["oci-subject"] == subject.digest
    signature = write(tmp_path / "sig.bin", b"signature bytes")
    push(client, f"{base}:signature", [f"{signature}:application/octet-stream"], SIGNATURE_CONFIG, subject=subject)

    listed = referrers(registry_server.url, repository, subject.digest).json()
    assert (listed["schemaVersion"], listed["mediaType"]) == (2, OCI_INDEX)
    by_type: dict[str, Any] = {entry["artifactType"]: entry for entry in listed["manifests"]}
    assert set(by_type) == {SBOM_CONFIG, SIGNATURE_CONFIG}
    sbom_entry = by_type[SBOM_CONFIG]
    sbom_manifest = httpx.get(f"{registry_server.url}/v2/{repository}/manifests/sbom").content
    assert sbom_entry["digest"] == "sha256:" + hashlib.sha256(sbom_manifest).hexdigest()
    assert (sbom_entry["mediaType"], sbom_entry["size"]) == (OCI_MANIFEST, len(sbom_manifest))
    assert sbom_entry["annotations"] == {"org.example.kind": "sbom"}

    filtered = referrers(registry_server.url, repository, subject.digest, artifactType=SBOM_CONFIG)
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert filtered.json()["manifests"] == [sbom_entry]

    out = tmp_path / "pulled"
    files = client.pull(target=f"{base}:sbom", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [sbom.read_bytes()]
    assert sorted(client.get_tags(base)) == ["sbom", "signature", "v1"]


def test_deleting_a_referrer_removes_it(
    registry_server: RunningRegistry, client: oras.client.OrasClient, tmp_path: Path
) -> None:
    repository = "oras/deletes"
    base = f"{registry_server.host}/{repository}"
    push(client, f"{base}:v1", [f"{write(tmp_path / 'a.txt', b'a')}:text/plain"], "application/vnd.example.config")
    subject = subject_of(registry_server.url, repository, "v1")
    note = write(tmp_path / "note.txt", b"a note")
    push(client, f"{base}:note", [f"{note}:text/plain"], SBOM_CONFIG, subject=subject)
    assert len(referrers(registry_server.url, repository, subject.digest).json()["manifests"]) == 1

    assert client.delete_tag(base, "note")  # oras resolves the tag and deletes the manifest by digest
    assert referrers(registry_server.url, repository, subject.digest).json()["manifests"] == []
    assert client.get_tags(base) == ["v1"]
