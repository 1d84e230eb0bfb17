"""Files a token service's tests need: a signing key with its self-signed certificate (RSA or EC, made with
``cryptography``), and an htpasswd file of bcrypt entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

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
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


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


def write_htpasswd(path: Path, users: dict[str, str], *, rounds: int = 4) -> Path:
    """``user:bcrypt(password)`` lines (cheap bcrypt rounds: these are tests)."""
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=rounds)).decode()}" for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
