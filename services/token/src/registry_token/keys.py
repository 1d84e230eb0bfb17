"""The signing key and its certificate (``services.token.key`` and ``.certificate``), read and checked once.

The certificate file may hold a chain (the key's certificate first, then intermediates): all of it goes in the
tokens' ``x5c`` header, which registries verify against their ``auth.token.rootcertbundle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from registry_core.config import ConfigError, TokenServiceSettings

log = logging.getLogger("registry.token")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KEY = "services.token.key"
CERTIFICATE = "services.token.certificate"


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    """The key's certificate first."""

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def _fail(key: str, problem: str) -> ConfigError:
    line = f"{key}: {problem}"
    return ConfigError(line, [line])


def _read(key: str, path: str | None) -> bytes:
    if path is None:
        raise _fail(key, "is required to serve tokens")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _fail(key, f"cannot read {path}: {exc.strerror}") from None


def load_private_key(path: str | None) -> PrivateKey:
    data = _read(KEY, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise _fail(KEY, f"{path} is encrypted: give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _fail(KEY, f"{path} is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise _fail(KEY, f"{path} holds a {type(key).__name__}: tokens are signed with RSA or EC keys")
    return key


def load_chain(path: str | None) -> tuple[x509.Certificate, ...]:
    data = _read(CERTIFICATE, path)
    try:
        chain = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise _fail(CERTIFICATE, f"{path} is not a PEM certificate") from None
    return chain


def _public_der(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_key(settings: TokenServiceSettings) -> SigningKey:
    """Raises :class:`ConfigError` naming the key at fault: missing, unreadable, not PEM, or not a pair."""
    private_key = load_private_key(settings.key)
    chain = load_chain(settings.certificate)
    if _public_der(chain[0].public_key()) != _public_der(private_key.public_key()):
        raise _fail(CERTIFICATE, f"{settings.certificate} is not the certificate of {KEY} (another public key)")
    now = datetime.now(UTC)
    if not chain[0].not_valid_before_utc <= now <= chain[0].not_valid_after_utc:
        log.warning(
            "%s: %s is valid from %s to %s only: registries will refuse the tokens outside that time",
            CERTIFICATE,
            settings.certificate,
            chain[0].not_valid_before_utc.isoformat(),
            chain[0].not_valid_after_utc.isoformat(),
        )
    return SigningKey(private_key, chain)
