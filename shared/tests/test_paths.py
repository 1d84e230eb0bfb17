"""The storage layout, pinned byte for byte to the Go registry's (registry/storage/paths.go)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_core import paths
from registry_core.digest import Digest

D = Digest("sha256", "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4")
R = "/docker/registry/v2"

CASES: list[tuple[Callable[[], str], str]] = [
    (lambda: paths.blob_data(D), f"{R}/blobs/sha256/a3/{D.hex}/data"),
    (lambda: paths.blob_dir(D), f"{R}/blobs/sha256/a3/{D.hex}"),
    (lambda: paths.layer_link("foo/bar", D), f"{R}/repositories/foo/bar/_layers/sha256/{D.hex}/link"),
    (
        lambda: paths.manifest_revision_link("foo/bar", D),
        f"{R}/repositories/foo/bar/_manifests/revisions/sha256/{D.hex}/link",
    ),
    (lambda: paths.tags("foo/bar"), f"{R}/repositories/foo/bar/_manifests/tags"),
    (
        lambda: paths.tag_current_link("foo/bar", "thetag"),
        f"{R}/repositories/foo/bar/_manifests/tags/thetag/current/link",
    ),
    (lambda: paths.tag_index("foo/bar", "thetag"), f"{R}/repositories/foo/bar/_manifests/tags/thetag/index"),
    (
        lambda: paths.tag_index_link("foo/bar", "thetag", D),
        f"{R}/repositories/foo/bar/_manifests/tags/thetag/index/sha256/{D.hex}/link",
    ),
    (
        lambda: paths.upload_data("foo/bar", "asdf-asdf-asdf-adsf"),
        f"{R}/repositories/foo/bar/_uploads/asdf-asdf-asdf-adsf/data",
    ),
    (
        lambda: paths.upload_started_at("foo/bar", "asdf-asdf-asdf-adsf"),
        f"{R}/repositories/foo/bar/_uploads/asdf-asdf-asdf-adsf/startedat",
    ),
    (
        lambda: paths.upload_hash_state("foo/bar", "u", "sha256", 1024),
        f"{R}/repositories/foo/bar/_uploads/u/hashstates/sha256/1024",
    ),
    (
        lambda: paths.referrer_link("foo/bar", D, Digest("sha512", "b" * 128)),
        f"{R}/repositories/foo/bar/_referrers/subjects/sha256/{D.hex}/sha512/{'b' * 128}/link",
    ),
]


@pytest.mark.parametrize(("build", "expected"), CASES, ids=[e.removeprefix(R) for _, e in CASES])
def test_layout(build: Callable[[], str], expected: str) -> None:
    assert build() == expected
