"""Test certificates made with the ``openssl`` command (no Python dependency): a self-signed server certificate
for 127.0.0.1 and localhost, and client CAs with client certificates they sign."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def self_signed(directory: Path, name: str, *, ca: bool = False) -> KeyPair:
    """``openssl req -x509``: a certificate for 127.0.0.1 and localhost (a CA's if ``ca``), signed by its own key."""
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    extensions = ["-addext", "basicConstraints=critical,CA:TRUE"] if ca else []
    _openssl(
        "req", "-x509", *EC_KEY, "-keyout", str(pair.key), "-out", str(pair.cert), "-days", "2",
        "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", *extensions,
    )  # fmt: skip
    return pair


def signed_by(issuer: KeyPair, directory: Path, name: str) -> KeyPair:
    """A client certificate ``CN=name`` signed by ``issuer``."""
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    _openssl("req", "-new", *EC_KEY, "-keyout", str(pair.key), "-out", str(csr), "-subj", f"/CN={name}")
    extensions = directory / f"{name}.ext"
    extensions.write_text("extendedKeyUsage=clientAuth\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(issuer.cert), "-CAkey", str(issuer.key), "-set_serial", "1",
        "-days", "2", "-out", str(pair.cert), "-extfile", str(extensions),
    )  # fmt: skip
    return pair
