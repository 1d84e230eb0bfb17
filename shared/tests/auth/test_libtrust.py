"""libtrust key IDs: the spec's published vector, and an independent computation for an RSA key."""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from registry_core.auth.libtrust import key_id


def _b64url(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_the_token_spec_example_key() -> None:
    """distribution's docs/spec/auth/jwt.md: the ES256 JWK whose ``kid`` is this libtrust ID."""
    x = _b64url("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q")
    y = _b64url("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    assert key_id(key) == "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"


def _base32_by_hand(data: bytes) -> str:
    """RFC 4648 base32, five bits at a time (independent of :mod:`base64`); ``data`` is a multiple of 5 bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    bits = "".join(f"{byte:08b}" for byte in data)
    return "".join(alphabet[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def test_an_rsa_key_step_by_step() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = _base32_by_hand(hashlib.sha256(spki).digest()[:30])
    assert len(encoded) == 48
    expected = ":".join([encoded[i : i + 4] for i in range(0, 48, 4)])
    assert key_id(key) == expected
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", key_id(key))


def test_the_private_and_public_key_share_the_id_and_keys_differ() -> None:
    one, two = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    assert key_id(one.public_key()) == key_id(one.public_key())
    assert key_id(one.public_key()) != key_id(two.public_key())
