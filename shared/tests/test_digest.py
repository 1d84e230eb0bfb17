from __future__ import annotations

import hashlib

import pytest

from registry_core.digest import Digest, new_hasher
from registry_core.errors import ErrorCode, RegistryError

HEX256 = hashlib.sha256(b"").hexdigest()
HEX512 = hashlib.sha512(b"").hexdigest()


@pytest.mark.parametrize("value", [f"sha256:{HEX256}", f"sha512:{HEX512}"])
def test_parse_roundtrip(value: str) -> None:
    assert str(Digest.parse(value)) == value


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", ErrorCode.DIGEST_INVALID),
        ("sha256", ErrorCode.DIGEST_INVALID),
        (f"sha256:{HEX256[:-1]}", ErrorCode.DIGEST_INVALID),
        (f"sha256:{HEX256.upper()}", ErrorCode.DIGEST_INVALID),
        (f"sha256:{HEX256}0", ErrorCode.DIGEST_INVALID),
        (f"SHA256:{HEX256}", ErrorCode.DIGEST_INVALID),
        (f"sha256:{'g' * 64}", ErrorCode.DIGEST_INVALID),
        (f"sha256:../{HEX256[3:]}", ErrorCode.DIGEST_INVALID),
        (f"md5:{'a' * 32}", ErrorCode.DIGEST_INVALID),
        (f"blake3:{'a' * 64}", ErrorCode.DIGEST_INVALID),
    ],
)
def test_parse_rejects(value: str, code: ErrorCode) -> None:
    with pytest.raises(RegistryError) as err:
        Digest.parse(value)
    assert err.value.code is code


def test_from_bytes_and_hasher_agree() -> None:
    h = new_hasher("sha256")
    for piece in (b"hello ", b"world"):
        h.update(piece)
    assert Digest.from_bytes(b"hello world") == Digest("sha256", h.hexdigest())
    assert Digest.from_bytes(b"x", "sha512").hex == hashlib.sha512(b"x").hexdigest()


def test_unknown_hasher_is_an_invalid_digest() -> None:
    with pytest.raises(RegistryError) as err:
        new_hasher("md5")
    assert err.value.code is ErrorCode.DIGEST_INVALID
    assert err.value.status == 400
