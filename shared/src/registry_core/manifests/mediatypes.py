"""The manifest media types the registry stores, and the layer types it never fetches itself.

Docker schema 1 (``...manifest.v1+json`` / ``+prettyjws``) is listed only so it can be refused by name.
"""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
"""Manifests with a config and layers."""

INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
"""Manifests that list other manifests."""

MANIFESTS = IMAGE_MANIFESTS | INDEXES
"""Every media type a manifest PUT is accepted as."""

FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
"""Layers that clients fetch from their ``urls``: with ``urls`` set, the registry need not hold them."""


def normalize(content_type: str | None) -> str | None:
    """``Content-Type`` without parameters, lower-cased; ``None`` when absent or empty."""
    if content_type is None:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None
