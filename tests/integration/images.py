"""OCI image layouts on disk, built in Python, for real clients to push (``skopeo copy oci:<dir>:<tag> ...``).

An image layout (image-spec ``image-layout.md``) is ``oci-layout``, ``index.json`` (tags as
``org.opencontainers.image.ref.name`` annotations) and ``blobs/<alg>/<hex>``. :func:`build_image` writes a
runnable-shaped image (random-content gzip tar layers, a config whose ``rootfs.diff_ids`` match them, a manifest);
:func:`build_index` a multi-platform index of such images.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

Descriptor = dict[str, Any]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"


def random_layer(size: int, name: str = "data.bin") -> tuple[bytes, bytes]:
    """A gzip-compressed tar holding one file of ``size`` random bytes: ``(compressed, uncompressed tar)``."""
    content = os.urandom(size)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    uncompressed = tar_bytes.getvalue()
    return gzip.compress(uncompressed, compresslevel=1, mtime=0), uncompressed


class OciLayout:
    """A writable OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (root / "index.json").exists():
            self._write_index([])

    def add_blob(self, data: bytes, media_type: str, **extra: Any) -> Descriptor:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def blob(self, digest: str) -> bytes:
        algorithm, encoded = digest.split(":", 1)
        return (self.root / "blobs" / algorithm / encoded).read_bytes()

    def tag(self, descriptor: Descriptor, tag: str) -> None:
        entries = [m for m in self.index()["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
        entries.append({**descriptor, "annotations": {REF_NAME: tag}})
        self._write_index(entries)

    def index(self) -> dict[str, Any]:
        index: dict[str, Any] = json.loads((self.root / "index.json").read_text())
        return index

    def tagged(self, tag: str) -> Descriptor:
        """The descriptor ``index.json`` holds for ``tag``."""
        return next(m for m in self.index()["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag)

    def _write_index(self, manifests: list[Descriptor]) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        (self.root / "index.json").write_text(json.dumps(index, indent=2))


def build_image(
    layout: OciLayout,
    *,
    tag: str | None = None,
    layers: int = 3,
    layer_size: int = 64 * 1024,
    platform: Platform = Platform(),
) -> Descriptor:
    """An image of ``layers`` random layers; tagged ``tag`` in the layout if given. Returns its descriptor."""
    layer_descriptors: list[Descriptor] = []
    diff_ids: list[str] = []
    for i in range(layers):
        compressed, uncompressed = random_layer(layer_size + i * 1024, f"layer-{i}.bin")
        layer_descriptors.append(layout.add_blob(compressed, OCI_LAYER_GZIP))
        diff_ids.append(sha256(uncompressed))
    config = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(layers)],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": layout.add_blob(canonical_json(config), OCI_CONFIG),
        "layers": layer_descriptors,
    }
    descriptor = layout.add_blob(json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)
    if tag is not None:
        layout.tag(descriptor, tag)
    return descriptor


def build_index(layout: OciLayout, *, tag: str, platforms: list[Platform], layers: int = 2) -> Descriptor:
    """A multi-platform image index of one image per platform, tagged ``tag``."""
    children = [
        {**build_image(layout, layers=layers, platform=p), "platform": {"os": p.os, "architecture": p.architecture}}
        for p in platforms
    ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    descriptor = layout.add_blob(json.dumps(index, indent=2).encode(), OCI_INDEX)
    layout.tag(descriptor, tag)
    return descriptor
