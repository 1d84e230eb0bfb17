"""What token tests and the auth benchmark need, made with ``cryptography`` in memory: keys, certificates (self-signed
or issued by another, for chains), the claims of a Docker token, and the files (PEM pairs, an htpasswd file of
bcrypt entries)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from registry_core.testing.certs import KeyPair

KeyKind = Literal["ec", "rsa"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def private_key(kind: KeyKind = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def self_signed_certificate(key: PrivateKey, name: str, *, days: int = 2) -> x509.Certificate:
    return certify(name, key, ca=True, valid_for=timedelta(days=days)).cert


def write_key(key: PrivateKey, path: Path) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    return path


def write_certificate(certificate: x509.Certificate, path: Path) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def signing_pair(directory: Path, name: str = "token", kind: KeyKind = "ec") -> KeyPair:
    """``directory/name.key`` (PKCS#8 PEM) and ``directory/name.crt``, its self-signed certificate."""
    key = private_key(kind)
    return KeyPair(
        write_certificate(self_signed_certificate(key, name), directory / f"{name}.crt"),
        write_key(key, directory / f"{name}.key"),
    )


@dataclass(frozen=True)
class Signer:
    """A key and its certificate; ``chain``: the certificates above it, its issuer first, up to the root."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path, name: str) -> KeyPair:
        """``<name>.crt`` and ``<name>.key`` (PEM) under ``directory``."""
        return KeyPair(
            write_certificate(self.cert, directory / f"{name}.crt"), write_key(self.key, directory / f"{name}.key")
        )


def certify(
    name: str,
    key: PrivateKey | None = None,
    *,
    issuer: Signer | None = None,
    ca: bool = False,
    valid_for: timedelta = timedelta(days=1),
    valid_from: timedelta = timedelta(minutes=-5),
) -> Signer:
    """A certificate ``CN=name`` of ``key`` (a new EC key if none), self-signed or issued by ``issuer``."""
    key = key or private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
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


def write_htpasswd(path: Path, users: dict[str, str], *, rounds: int = 4) -> Path:
    """``user:bcrypt(password)`` lines (cheap bcrypt rounds: these are tests)."""
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=rounds)).decode()}" for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
