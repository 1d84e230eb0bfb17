"""Manifest references: a digest or a tag, with 400s for anything else."""

from __future__ import annotations

import hashlib

import pytest

from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests.reference import parse_lookup, parse_reference

SHA256 = "sha256:" + hashlib.sha256(b"x").hexdigest()
SHA512 = "sha512:" + hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize("value", [SHA256, SHA512])
def test_digests(value: str) -> None:
    assert parse_reference(value) == Digest.parse(value)


@pytest.mark.parametrize("value", ["latest", "v1.2.3", "_x", "A" * 128, "1"])
def test_tags(value: str) -> None:
    assert parse_reference(value) == value


@pytest.mark.parametrize("value", ["sha256:baddigeststring", "sha384:" + "0" * 96, "md5:abc", ":", "sha256:"])
def test_bad_digests_are_digest_invalid(value: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_reference(value)
    assert info.value.code is ErrorCode.DIGEST_INVALID
    assert info.value.status == 400


@pytest.mark.parametrize("value", ["", "-x", ".x", "A" * 129, "a b", "a/b", "tag!"])
def test_bad_tags_are_tag_invalid(value: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_reference(value)
    assert info.value.code is ErrorCode.TAG_INVALID
    assert info.value.status == 400


@pytest.mark.parametrize("value", [".INVALID_MANIFEST_NAME", "-x", "A" * 129])
def test_a_lookup_of_an_impossible_tag_finds_nothing(value: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_lookup(value)
    assert (info.value.code, info.value.status) == (ErrorCode.MANIFEST_UNKNOWN, 404)


def test_a_lookup_keeps_digest_errors_and_valid_references() -> None:
    assert parse_lookup("latest") == "latest"
    assert parse_lookup(SHA512) == Digest.parse(SHA512)
    with pytest.raises(RegistryError) as info:
        parse_lookup("sha256:baddigeststring")
    assert info.value.code is ErrorCode.DIGEST_INVALID
