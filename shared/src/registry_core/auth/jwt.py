"""Compact JWS (RFC 7515) as Docker tokens use it: parse, verify a signature, sign; JWK public keys (RFC 7517).

Only the asymmetric algorithms a registry accepts: RS256/384/512 (RSASSA-PKCS1-v1_5) and ES256/384/512 (ECDSA,
the signature being the raw ``r || s`` of RFC 7518 section 3.4, not DER).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

MAX_TOKEN_SIZE = 64 * 1024
"""Longer tokens are refused before any decoding (a header with a certificate chain is a few KiB)."""

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
# alg -> (curve, size of r and of s in bytes, hash)
_EC_ALGORITHMS: dict[str, tuple[type[ec.EllipticCurve], int, type[hashes.HashAlgorithm]]] = {
    "ES256": (ec.SECP256R1, 32, hashes.SHA256),
    "ES384": (ec.SECP384R1, 48, hashes.SHA384),
    "ES512": (ec.SECP521R1, 66, hashes.SHA512),
}
# JWK "crv" -> curve (RFC 7518 section 6.2.1.1)
_JWK_CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    """A token is refused. The message is safe to send to the client: it never holds the token or key material."""


@dataclass(frozen=True)
class Jws:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    raw_signature_b64: str


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """base64url without padding (RFC 7515 section 2); ``ValueError`` on anything else."""
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError("not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse(token: str) -> Jws:
    """Split and decode ``header.claims.signature``; verifies nothing. Any malformation is a :class:`TokenError`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_SIZE:
        raise TokenError("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token: not three dot-separated parts")
    header_b64, claims_b64, signature_b64 = parts
    try:
        header = _json_object(b64url_decode(header_b64))
    except ValueError:
        raise TokenError("malformed token: the header is not a base64url JSON object") from None
    try:
        claims = _json_object(b64url_decode(claims_b64))
    except ValueError:
        raise TokenError("malformed token: the claims are not a base64url JSON object") from None
    try:
        signature = b64url_decode(signature_b64)
    except ValueError:
        raise TokenError("malformed token: the signature is not base64url") from None
    if not isinstance(header.get("alg"), str):
        raise TokenError("malformed token: the header has no alg")
    return Jws(header, claims, f"{header_b64}.{claims_b64}".encode("ascii"), signature, signature_b64)


def verify_signature(alg: str, public_key: PublicKeyTypes, signing_input: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``alg``'s signature of ``signing_input`` by ``public_key``.

    False (never an exception) for an unknown alg, a key of another type or curve, or a signature of the wrong size.
    """
    rsa_hash = _RSA_HASHES.get(alg)
    if rsa_hash is not None:
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        try:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), rsa_hash())
        except (InvalidSignature, ValueError):
            return False
        return True
    ec_alg = _EC_ALGORITHMS.get(alg)
    if ec_alg is None:
        return False
    curve, size, ec_hash = ec_alg
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, curve):
        return False
    if len(signature) != 2 * size:
        return False
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(ec_hash()))
    except (InvalidSignature, ValueError):
        return False
    return True


def algorithms_of(key: PublicKeyTypes | PrivateKeyTypes) -> tuple[str, ...]:
    """The algorithms ``key`` (public or private) can sign or verify with, the default first."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return tuple(_RSA_HASHES)
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return tuple(alg for alg, (curve, _, _) in _EC_ALGORITHMS.items() if isinstance(key.curve, curve))
    return ()


def sign(
    claims: Mapping[str, Any],
    private_key: PrivateKey,
    *,
    alg: str | None = None,
    x5c: Sequence[x509.Certificate] = (),
    kid: str | None = None,
) -> str:
    """A compact JWS of ``claims``. ``alg`` defaults from the key (RSA: RS256, EC: ES256/384/512 by curve);
    ``x5c`` is the certificate chain, leaf first; ``kid`` names the key (e.g. its :func:`~.libtrust.key_id`)."""
    possible = algorithms_of(private_key)
    if not possible:
        raise ValueError("sign needs an RSA or an EC (P-256, P-384, P-521) private key")
    alg = possible[0] if alg is None else alg
    if alg not in possible:
        raise ValueError(f"{alg} cannot be signed with this key (it can: {', '.join(possible)})")
    header: dict[str, Any] = {"typ": "JWT", "alg": alg}
    if x5c:
        header["x5c"] = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in x5c]
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{_json_b64(header)}.{_json_b64(claims)}".encode("ascii")
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(signing_input, padding.PKCS1v15(), _RSA_HASHES[alg]())
    else:
        _, size, ec_hash = _EC_ALGORITHMS[alg]
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(ec_hash())))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"


def _json_b64(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _jwk_int(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} is missing")
    return int.from_bytes(b64url_decode(value), "big")


def jwk_public_key(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of an RSA or EC JWK (private members, if any, are ignored). ``ValueError`` if unusable."""
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_jwk_int(jwk, "e"), _jwk_int(jwk, "n")).public_key()
    if kty == "EC":
        curve = _JWK_CURVES.get(jwk.get("crv"))
        if curve is None:
            raise ValueError("unsupported EC curve (use P-256, P-384 or P-521)")
        return ec.EllipticCurvePublicNumbers(_jwk_int(jwk, "x"), _jwk_int(jwk, "y"), curve()).public_key()
    raise ValueError("unsupported key type (kty must be RSA or EC)")


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: the key ID the Go registry 3 gives a root certificate's key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = next((name for name, curve in _JWK_CURVES.items() if isinstance(public_key.curve, curve)), None)
        if crv is None:
            raise TypeError("jwk_thumbprint: unsupported EC curve")
        size = math.ceil(public_key.curve.key_size / 8)
        point = public_key.public_numbers()
        members = {"crv": crv, "kty": "EC", "x": _int_b64(point.x, size), "y": _int_b64(point.y, size)}
    else:
        raise TypeError("jwk_thumbprint: needs an RSA or EC public key")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def _int_b64(value: int, size: int = 0) -> str:
    return b64url_encode(value.to_bytes(max(size, (value.bit_length() + 7) // 8), "big"))
