"""Real clients through the gateway: docker build/push/rmi/pull/run, skopeo round trips (an OCI image and a
multi-arch index), and several clients pushing different images at once."""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_stack import run
from images import OCI_INDEX, OCI_MANIFEST, OciLayout, Platform, build_image, build_index

if TYPE_CHECKING:
    from e2e_stack import Stack

pytestmark = pytest.mark.e2e

ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def docker_build(directory: Path, tag: str, base: str, message: str, payload: bytes = b"") -> None:
    """A small image FROM ``base``: a COPY, a RUN, and a command that prints ``message`` and the RUN's output
    (``payload``: a file of its own in the image, to make its layer bigger)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "message.txt").write_text(message + "\n")
    (directory / "payload.bin").write_bytes(payload)
    (directory / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY message.txt payload.bin /\n"
        'RUN echo "built in $(uname -s)" > /built.txt\n'
        'CMD ["cat", "/message.txt", "/built.txt"]\n'
    )
    run(["docker", "build", "-q", "--force-rm", "-t", tag, str(directory)], timeout=300)


def skopeo(*args: str) -> str:
    return run(["skopeo", "--insecure-policy", *args], timeout=300)


def test_docker_build_push_rmi_pull_run(stack: Stack, tmp_path: Path, docker_images: list[str]) -> None:
    tag = f"{stack.host}/e2e/app:1"
    message = f"hello from the registry e2e {uuid.uuid4().hex[:8]}"
    docker_images.append(tag)
    docker_build(tmp_path / "app", tag, stack.base_image, message)
    pushed = run(["docker", "push", tag], timeout=600)
    digest = next(line.split("digest: ")[1].split()[0] for line in pushed.splitlines() if "digest: " in line)

    run(["docker", "rmi", tag])
    assert run(["docker", "images", "-q", tag]).strip() == "", "the image must be gone before the pull"
    pulled = run(["docker", "pull", tag], timeout=600)
    assert f"Digest: {digest}" in pulled
    output = run(["docker", "run", "--rm", "--network", "none", tag], timeout=120)
    assert output.splitlines() == [message, "built in Linux"]

    manifest = httpx.get(f"{stack.gateway}/v2/e2e/app/manifests/1", headers={"Accept": "*/*"}, timeout=30)
    assert manifest.headers["docker-content-digest"] == digest


def test_skopeo_round_trip(stack: Stack, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "src")
    image = build_image(source, tag="v1", layers=4, layer_size=512 * 1024)
    index = build_index(source, tag="multi", platforms=[Platform("linux", "amd64"), Platform("linux", "arm64")])
    remote = f"docker://{stack.host}/e2e/skopeo"

    skopeo("copy", "--dest-tls-verify=false", f"oci:{source.root}:v1", f"{remote}:v1")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{source.root}:multi", f"{remote}:multi")
    assert skopeo("inspect", "--raw", "--tls-verify=false", f"{remote}:v1").encode() == source.blob(image["digest"])
    assert skopeo("inspect", "--raw", "--tls-verify=false", f"{remote}:multi").encode() == source.blob(index["digest"])

    out = OciLayout(tmp_path / "out")
    skopeo("copy", "--src-tls-verify=false", f"{remote}:v1", f"oci:{out.root}:v1")
    skopeo("copy", "--all", "--src-tls-verify=false", f"{remote}:multi", f"oci:{out.root}:multi")
    assert out.tagged("v1")["digest"] == image["digest"]
    assert out.tagged("multi")["digest"] == index["digest"]
    for child in json.loads(source.blob(index["digest"]))["manifests"]:
        for layer in json.loads(out.blob(child["digest"]))["layers"]:
            assert out.blob(layer["digest"]) == source.blob(layer["digest"])


def test_concurrent_pushes_of_different_images(stack: Stack, tmp_path: Path, docker_images: list[str]) -> None:
    """Four skopeo clients and two docker clients push different images at the same time; all pull back intact."""
    layouts = []
    for i in range(4):
        layout = OciLayout(tmp_path / f"oci-{i}")
        layouts.append((layout, build_image(layout, tag="v1", layers=3, layer_size=(2 + i) * 1024 * 1024)))
    tags = [f"{stack.host}/e2e/concurrent-docker-{i}:1" for i in range(2)]
    for i, tag in enumerate(tags):
        docker_images.append(tag)
        # A layer of its own, big enough that the pushes overlap.
        docker_build(tmp_path / f"docker-{i}", tag, stack.base_image, f"concurrent {i}", os.urandom(8 * 1024 * 1024))

    def push_oci(i: int) -> str:
        layout, _ = layouts[i]
        digest_file = tmp_path / f"digest-{i}"
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--digestfile",
            str(digest_file),
            f"oci:{layout.root}:v1",
            f"docker://{stack.host}/e2e/concurrent-oci-{i}:v1",
        )
        return digest_file.read_text().strip()

    def push_docker(tag: str) -> str:
        return run(["docker", "push", tag], timeout=600)

    with ThreadPoolExecutor(6) as pool:
        oci = [pool.submit(push_oci, i) for i in range(4)]
        docker = [pool.submit(push_docker, tag) for tag in tags]
        digests = [f.result() for f in oci]
        for f in docker:
            f.result()

    assert digests == [image["digest"] for _, image in layouts]
    for i, (layout, image) in enumerate(layouts):
        out = OciLayout(tmp_path / f"out-{i}")
        skopeo(
            "copy", "--src-tls-verify=false", f"docker://{stack.host}/e2e/concurrent-oci-{i}:v1", f"oci:{out.root}:v1"
        )
        for layer in json.loads(layout.blob(image["digest"]))["layers"]:
            assert out.blob(layer["digest"]) == layout.blob(layer["digest"])
    for tag in tags:
        run(["docker", "rmi", tag])
        run(["docker", "pull", tag], timeout=600)
        output = run(["docker", "run", "--rm", "--network", "none", tag], timeout=120)
        assert output.splitlines()[0] == f"concurrent {tags.index(tag)}"
