"""Keys, certificates and JWTs for the token tests, all made in-process with ``cryptography``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from registry_core.auth.jwt import PrivateKey, PublicKey

NOW = time.time()
ISSUER = "token.example.test"
SERVICE = "registry.example.test"
DAY = dt.timedelta(days=1)


@cache
def rsa_key(index: int = 0) -> rsa.RSAPrivateKey:
    """RSA 2048 keys, made once per session (``index`` tells them apart)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(index: int = 0, curve: type[ec.EllipticCurve] = ec.SECP256R1) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve())


def certificate(
    name: str,
    key: PublicKey,
    *,
    issuer: tuple[str, PrivateKey] | None = None,
    signer: PrivateKey | None = None,
    ca: bool = True,
    path_length: int | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    """A certificate for ``key`` named ``name``: self-signed with ``signer`` unless ``issuer`` is (name, key)."""
    now = dt.datetime.fromtimestamp(NOW, dt.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (name, signer)
    assert issuer_key is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - DAY)
        .not_valid_after(not_after or now + DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """A root CA, an intermediate CA under it, and a leaf under that; plus a self-signed token certificate."""

    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    token_cert: x509.Certificate
    token_key: rsa.RSAPrivateKey


@cache
def pki() -> Pki:
    root_key, inter_key, leaf_key, token_key = rsa_key(1), ec_key(1), ec_key(2), rsa_key(2)
    root = certificate("root", root_key.public_key(), signer=root_key)
    intermediate = certificate("intermediate", inter_key.public_key(), issuer=("root", root_key))
    leaf = certificate("leaf", leaf_key.public_key(), issuer=("intermediate", inter_key), ca=False)
    token_cert = certificate("token", token_key.public_key(), signer=token_key)
    return Pki(root, intermediate, leaf, leaf_key, token_cert, token_key)


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for ``SERVICE`` from ``ISSUER`` at ``NOW``, with ``overrides`` (``None`` removes a claim)."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": SERVICE,
        "exp": int(NOW) + 300,
        "nbf": int(NOW) - 10,
        "iat": int(NOW),
        "jti": "1234",
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}],
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def public_jwk(key: PublicKey, kid: str) -> dict[str, Any]:
    """The JWK of a public key, as a JWKS file holds it."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {
            "kty": "RSA",
            "kid": kid,
            "e": b64url(numbers.e.to_bytes(3, "big")),
            "n": b64url(numbers.n.to_bytes(256, "big")),
        }
    point = key.public_numbers()
    return {
        "kty": "EC",
        "kid": kid,
        "crv": "P-256",
        "x": b64url(point.x.to_bytes(32, "big")),
        "y": b64url(point.y.to_bytes(32, "big")),
    }
