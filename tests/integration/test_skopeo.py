"""skopeo against the real server: OCI and Docker v2s2 images and a multi-arch index, pushed and pulled back with
identical digests, tags listed, a manifest deleted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from images import OCI_INDEX, OCI_MANIFEST, OciLayout, Platform, build_image, build_index, sha256

if TYPE_CHECKING:
    from conftest import RunningRegistry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.needs("skopeo"),
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = {"Accept": ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST])}
SKOPEO_TIMEOUT = 300


def skopeo(*args: str) -> str:
    """Run skopeo (no signature policy: these are test images); its stdout, or a failure showing stderr."""
    result = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=SKOPEO_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"skopeo {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def push(source: str, dest: str, tmp_path: Path, *options: str) -> str:
    """``skopeo copy`` into the registry; the digest of the manifest it pushed."""
    digest_file = tmp_path / f"digest-{len(list(tmp_path.glob('digest-*')))}"
    skopeo("copy", "--dest-tls-verify=false", "--digestfile", str(digest_file), *options, source, dest)
    return digest_file.read_text().strip()


def raw_manifest(reference: str) -> bytes:
    return skopeo("inspect", "--raw", "--tls-verify=false", reference).encode()


def test_oci_image_round_trip(registry_server: RunningRegistry, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=4, layer_size=256 * 1024)
    remote = f"docker://{registry_server.host}/skopeo/oci-image:v1"

    assert push(f"oci:{source.root}:v1", remote, tmp_path) == image["digest"]
    assert raw_manifest(remote) == source.blob(image["digest"])  # stored and served byte for byte

    response = httpx.get(f"{registry_server.url}/v2/skopeo/oci-image/manifests/v1", headers=ACCEPT)
    assert response.headers["content-type"] == OCI_MANIFEST
    assert response.headers["docker-content-digest"] == image["digest"]

    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", remote, f"oci:{out}:v1")
    pulled = OciLayout(out)
    assert pulled.tagged("v1")["digest"] == image["digest"]
    manifest = json.loads(pulled.blob(image["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert sha256(pulled.blob(descriptor["digest"])) == descriptor["digest"]
        assert pulled.blob(descriptor["digest"]) == source.blob(descriptor["digest"])


def test_docker_v2s2_round_trip(registry_server: RunningRegistry, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=3)
    remote = f"docker://{registry_server.host}/skopeo/docker-image:v1"

    digest = push(f"oci:{source.root}:v1", remote, tmp_path, "--format", "v2s2")
    pushed = raw_manifest(remote)
    assert sha256(pushed) == digest != image["digest"]  # converted, then stored as pushed
    assert json.loads(pushed)["mediaType"] == DOCKER_MANIFEST
    head = httpx.head(f"{registry_server.url}/v2/skopeo/docker-image/manifests/{digest}", headers=ACCEPT)
    assert (head.headers["content-type"], head.headers["content-length"]) == (DOCKER_MANIFEST, str(len(pushed)))

    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", remote, f"dir:{out}")
    assert sha256((out / "manifest.json").read_bytes()) == digest
    for layer in json.loads(source.blob(image["digest"]))["layers"]:  # layer bytes survive the conversion
        assert (out / layer["digest"].split(":", 1)[1]).read_bytes() == source.blob(layer["digest"])


def test_multi_arch_index_round_trip(registry_server: RunningRegistry, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64"), Platform("linux", "s390x")]
    index = build_index(source, tag="multi", platforms=platforms)
    remote = f"docker://{registry_server.host}/skopeo/multi-arch:v1"

    assert push(f"oci:{source.root}:multi", remote, tmp_path, "--all") == index["digest"]
    assert raw_manifest(remote) == source.blob(index["digest"])
    children = json.loads(source.blob(index["digest"]))["manifests"]
    for child in children:
        by_digest = f"docker://{registry_server.host}/skopeo/multi-arch@{child['digest']}"
        assert raw_manifest(by_digest) == source.blob(child["digest"])
    response = httpx.get(f"{registry_server.url}/v2/skopeo/multi-arch/manifests/v1", headers=ACCEPT)
    assert response.headers["content-type"] == OCI_INDEX

    out = tmp_path / "out"
    skopeo("copy", "--all", "--src-tls-verify=false", remote, f"oci:{out}:multi")
    pulled = OciLayout(out)
    assert pulled.tagged("multi")["digest"] == index["digest"]
    for child in children:
        assert pulled.blob(child["digest"]) == source.blob(child["digest"])
        for layer in json.loads(pulled.blob(child["digest"]))["layers"]:
            assert pulled.blob(layer["digest"]) == source.blob(layer["digest"])


def test_tags_and_delete(registry_server: RunningRegistry, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    build_image(source, tag="v1", layers=1)
    repository = f"{registry_server.host}/skopeo/tagged"
    tags = [f"t{i}" for i in range(5)]
    for tag in tags:
        push(f"oci:{source.root}:v1", f"docker://{repository}:{tag}", tmp_path)
    listed = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repository}"))
    assert listed["Tags"] == tags
    catalog = httpx.get(f"{registry_server.url}/v2/_catalog", params={"n": 1000}).json()["repositories"]
    assert "skopeo/tagged" in catalog

    skopeo("delete", "--tls-verify=false", f"docker://{repository}:t0")  # deletes the manifest by digest
    response = httpx.get(f"{registry_server.url}/v2/skopeo/tagged/tags/list")
    assert response.json() == {"name": "skopeo/tagged", "tags": []}  # every tag pointed at it
    gone = httpx.get(f"{registry_server.url}/v2/skopeo/tagged/manifests/t1", headers=ACCEPT)
    assert gone.status_code == 404
