"""Keys and certificates for token tests and benchmarks, made with ``cryptography`` in memory (no files unless
written): a key, a certificate of it (self-signed, or issued by another), and a token signed by it."""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(kind: str = "ec") -> PrivateKey:
    """An EC P-256 (``"ec"``) or RSA 2048 (``"rsa"``) private key."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Signer:
    """A key and its certificate (``chain``: the certificates above it, leaf's issuer first, root excluded)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """``<name>.crt`` and ``<name>.key`` (PEM) under ``directory``."""
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_bytes(self.pem)
        key.write_bytes(self.key_pem)
        return cert, key


def certify(
    name: str,
    key: PrivateKey | None = None,
    *,
    issuer: Signer | None = None,
    ca: bool = False,
    valid_for: datetime.timedelta = datetime.timedelta(days=1),
    valid_from: datetime.timedelta = datetime.timedelta(minutes=-5),
) -> Signer:
    """A certificate ``CN=name`` of ``key`` (a new EC key if none), self-signed or issued by ``issuer``."""
    key = key or new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_from + valid_for)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    chain = (issuer.cert, *issuer.chain) if issuer else ()
    return Signer(key, cert, chain)


def token_claims(
    access: list[dict[str, Any]],
    *,
    issuer: str,
    audience: str,
    subject: str = "tester",
    lifetime: float = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a Docker token (``access``: ``[{"type", "name", "actions"}]``)."""
    now = int(now if now is not None else time.time())
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now - 5,
        "exp": now + int(lifetime),
        "jti": uuid.uuid4().hex,
        "access": access,
    }
