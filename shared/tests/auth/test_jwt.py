"""Compact JWS: parse, verify_signature, sign, and JWK keys."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from token_helpers import b64url, certificate, ec_key, encode, pki, public_jwk, rsa_key

from registry_core.auth.jwt import (
    MAX_TOKEN_SIZE,
    TokenError,
    jwk_public_key,
    jwk_thumbprint,
    parse,
    sign,
    verify_signature,
)

# distribution's docs/content/spec/auth/jwt.md: an ES256 token and the JWK that signed it
SPEC_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIsImtpZCI6IlBZWU86VEVXVTpWN0pIOjI2SlY6QVFUWjpMSkMzOlNYVko6WEdIQTozNEYy"
    "OjJMQVE6WlJNSzpaN1E2In0.eyJpc3MiOiJhdXRoLmRvY2tlci5jb20iLCJzdWIiOiJqbGhhd24iLCJhdWQiOiJyZWdpc3RyeS5kb2Nr"
    "ZXIuY29tIiwiZXhwIjoxNDE1Mzg3MzE1LCJuYmYiOjE0MTUzODcwMTUsImlhdCI6MTQxNTM4NzAxNSwianRpIjoidFlKQ08xYzZjbnl5"
    "N2tBbjBjN3JLUGdiVjFIMWJGd3MiLCJhY2Nlc3MiOlt7InR5cGUiOiJyZXBvc2l0b3J5IiwibmFtZSI6InNhbWFsYmEvbXktYXBwIiwi"
    "YWN0aW9ucyI6WyJwdXNoIl19XX0.QhflHPfbd6eVF4lM9bwYpFZIV0PfikbyXuLx959ykRTBpe3CYnzs6YBK8FToVb5R47920PVLrh8zuL"
    "zdCr9t3w"
)
SPEC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6",
    "d": "R7OnbfMaD5J2jl7GeE8ESo7CnHSBm_1N2k9IXYFrKJA",
    "x": "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q",
    "y": "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc",
}


def test_the_spec_example_parses() -> None:
    jws = parse(SPEC_TOKEN)
    assert jws.header == {"typ": "JWT", "alg": "ES256", "kid": SPEC_JWK["kid"]}
    assert jws.claims["sub"] == "jlhawn"
    assert jws.claims["access"] == [{"type": "repository", "name": "samalba/my-app", "actions": ["push"]}]
    assert jws.signing_input == SPEC_TOKEN.rpartition(".")[0].encode()
    assert jws.raw_signature_b64 == SPEC_TOKEN.rpartition(".")[2]
    assert len(jws.signature) == 64


def test_the_spec_key_signs_and_verifies_the_spec_claims() -> None:
    """The spec's example signature does not verify with the spec's key (the example looks edited: its text shows
    ``["push","pull"]``, its base64 ``["push"]``), so the spec's private key signs the claims again here."""
    spec = parse(SPEC_TOKEN)
    private = ec.derive_private_key(
        int.from_bytes(base64.urlsafe_b64decode(SPEC_JWK["d"] + "="), "big"), ec.SECP256R1()
    )
    jws = parse(sign(spec.claims, private, kid=SPEC_JWK["kid"]))
    key = jwk_public_key(SPEC_JWK)
    assert verify_signature("ES256", key, jws.signing_input, jws.signature)
    assert not verify_signature("ES256", key, jws.signing_input + b"x", jws.signature)
    assert not verify_signature("ES384", key, jws.signing_input, jws.signature)  # the curve is P-256
    assert not verify_signature("ES256", key, spec.signing_input, spec.signature)


@pytest.mark.parametrize(
    ("key", "alg", "size"),
    [
        (rsa_key(), "RS256", 256),
        (ec_key(), "ES256", 64),
        (ec_key(0, ec.SECP384R1), "ES384", 96),
        (ec_key(0, ec.SECP521R1), "ES512", 132),
    ],
)
def test_sign_picks_the_algorithm_of_the_key(key: object, alg: str, size: int) -> None:
    token = sign({"sub": "alice"}, key)  # type: ignore[arg-type]
    jws = parse(token)
    assert jws.header == {"typ": "JWT", "alg": alg}
    assert jws.claims == {"sub": "alice"}
    assert len(jws.signature) == size
    assert verify_signature(alg, key.public_key(), jws.signing_input, jws.signature)  # type: ignore[attr-defined]


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_sign_with_another_rsa_algorithm(alg: str) -> None:
    jws = parse(sign({"a": 1}, rsa_key(), alg=alg))
    assert jws.header["alg"] == alg
    assert verify_signature(alg, rsa_key().public_key(), jws.signing_input, jws.signature)
    assert not verify_signature("RS256", rsa_key().public_key(), jws.signing_input, jws.signature)


def test_an_es256_signature_is_raw_r_and_s_not_der() -> None:
    """Checked independently of sign(): r || s, each 32 bytes, is the DER signature's two integers."""
    jws = parse(sign({"a": 1}, ec_key()))
    r, s = int.from_bytes(jws.signature[:32], "big"), int.from_bytes(jws.signature[32:], "big")
    ec_key().public_key().verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
    der = encode_dss_signature(r, s)
    assert not verify_signature("ES256", ec_key().public_key(), jws.signing_input, der)  # DER: wrong length
    assert not verify_signature("ES256", ec_key().public_key(), jws.signing_input, jws.signature[:-1])
    assert not verify_signature("ES256", ec_key().public_key(), jws.signing_input, b"\0" * 64)


def test_sign_refuses_an_algorithm_the_key_cannot_make() -> None:
    with pytest.raises(ValueError, match="ES256"):
        sign({}, rsa_key(), alg="ES256")
    with pytest.raises(ValueError, match="ES384"):
        sign({}, ec_key(), alg="ES384")
    with pytest.raises(ValueError):
        sign({}, ec_key(), alg="HS256")


def test_sign_writes_x5c_leaf_first_and_kid() -> None:
    chain = [pki().leaf, pki().intermediate]
    jws = parse(sign({}, pki().leaf_key, x5c=chain, kid="KEY"))
    assert jws.header["kid"] == "KEY"
    assert jws.header["x5c"] == [
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in chain
    ]
    assert list(jws.header) == ["typ", "alg", "x5c", "kid"]


def test_key_type_must_match_the_algorithm() -> None:
    rsa_signed = parse(sign({}, rsa_key()))
    ec_signed = parse(sign({}, ec_key()))
    assert not verify_signature("ES256", rsa_key().public_key(), rsa_signed.signing_input, rsa_signed.signature)
    assert not verify_signature("RS256", ec_key().public_key(), ec_signed.signing_input, ec_signed.signature)
    p384 = ec_key(0, ec.SECP384R1).public_key()
    assert not verify_signature("ES256", p384, ec_signed.signing_input, ec_signed.signature)


@pytest.mark.parametrize("alg", ["none", "HS256", "PS256", "EdDSA", "", "rs256"])
def test_other_algorithms_never_verify(alg: str) -> None:
    jws = parse(sign({}, rsa_key()))
    assert not verify_signature(alg, rsa_key().public_key(), jws.signing_input, jws.signature)
    assert not verify_signature(alg, rsa_key().public_key(), jws.signing_input, b"")


def test_an_rsa_signature_of_the_wrong_size_is_false_not_an_error() -> None:
    jws = parse(sign({}, rsa_key()))
    assert not verify_signature("RS256", rsa_key().public_key(), jws.signing_input, jws.signature[:-1])
    assert not verify_signature("RS256", rsa_key().public_key(), jws.signing_input, b"")


def test_an_rsa_signature_made_independently_verifies() -> None:
    signing_input = f"{encode({'alg': 'RS256'})}.{encode({'a': 1})}".encode()
    signature = rsa_key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    assert verify_signature("RS256", rsa_key().public_key(), signing_input, signature)


HEADER = encode({"alg": "RS256"})
CLAIMS = encode({"sub": "x"})
NAN_CLAIMS = b64url(b'{"exp": NaN}')
NOT_UTF8 = b64url(b"\xff\xfe")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        f"{HEADER}.{CLAIMS}",
        f"{HEADER}.{CLAIMS}.abc.def",
        f"{HEADER}.{CLAIMS}.ab=",  # padding
        f"{HEADER}.{CLAIMS}.a+/b",  # standard, not url-safe, base64
        f"{HEADER}.{CLAIMS}.abcde",  # a length base64 cannot have
        f"{HEADER}.{CLAIMS}.ab cd",
        f"{HEADER}..abcd",
        f".{CLAIMS}.abcd",
        f"{b64url(b'not json')}.{CLAIMS}.abcd",
        f"{encode([1, 2])}.{CLAIMS}.abcd",
        f"{HEADER}.{encode('a string')}.abcd",
        f"{HEADER}.{NAN_CLAIMS}.abcd",
        f"{HEADER}.{NOT_UTF8}.abcd",
        f"{encode({'typ': 'JWT'})}.{CLAIMS}.abcd",  # no alg
        f"{encode({'alg': 256})}.{CLAIMS}.abcd",
        f"{HEADER}.{b64url(b'[' * 10000 + b']' * 10000)}.abcd",
        f"{HEADER}.{CLAIMS}.{'a' * MAX_TOKEN_SIZE}",
        f"{HEADER}.{CLAIMS}.ab\u00e9",
    ],
)
def test_malformed_tokens_are_token_errors_without_the_token(token: str) -> None:
    with pytest.raises(TokenError) as caught:
        parse(token)
    assert token[:20] not in str(caught.value) or not token


def test_parse_accepts_an_empty_signature() -> None:
    """``alg: none`` tokens parse (and are refused by the verifier, not here)."""
    jws = parse(f"{encode({'alg': 'none'})}.{CLAIMS}.")
    assert jws.signature == b""
    assert jws.raw_signature_b64 == ""


def test_jwk_public_keys_round_trip() -> None:
    for key in (rsa_key().public_key(), ec_key().public_key()):
        jwk = public_jwk(key, "k")
        assert jwk_public_key(jwk).public_numbers() == key.public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        ({"kty": "oct", "k": "c2VjcmV0"}, "kty"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "kty"),
        ({"kty": "EC", "crv": "secp256k1", "x": "AAAA", "y": "AAAA"}, "curve"),
        ({"kty": "EC", "crv": "P-256", "x": SPEC_JWK["x"], "y": SPEC_JWK["x"]}, None),  # not on the curve
        ({"kty": "EC", "crv": "P-256", "x": SPEC_JWK["x"]}, "'y'"),
        ({"kty": "RSA", "e": "AQAB"}, "'n'"),
        ({"kty": "RSA", "e": "AQAB", "n": "a+b/"}, None),
    ],
)
def test_unusable_jwks_are_value_errors(jwk: dict[str, str], message: str | None) -> None:
    with pytest.raises(ValueError, match=message):
        jwk_public_key(jwk)


def test_rfc7638_thumbprint_example() -> None:
    """RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1 and its SHA-256 thumbprint."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
        "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    key = jwk_public_key({"kty": "RSA", "n": n, "e": "AQAB"})
    assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_thumbprint_pads_the_coordinates() -> None:
    key = jwk_public_key(SPEC_JWK)
    members = {"crv": "P-256", "kty": "EC", "x": SPEC_JWK["x"], "y": SPEC_JWK["y"]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    assert jwk_thumbprint(key) == b64url(digest)


def test_certificate_helper_makes_ca_certificates() -> None:
    """The helpers the token tests build on: the root is a self-signed CA."""
    root = pki().root
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    pki().intermediate.verify_directly_issued_by(root)
    assert certificate("x", ec_key().public_key(), signer=ec_key(), ca=False).subject.rfc4514_string() == "CN=x"
