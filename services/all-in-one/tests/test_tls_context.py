"""``registry_server.tls.server_context``: the SSLContext built from ``http.tls``, and file problems by key."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from registry_core.config import ConfigError
from registry_core.config.tls import TLSSettings
from registry_core.testing.certs import KeyPair, self_signed, signed_by
from registry_server.tls import server_context

pytestmark = pytest.mark.needs("openssl")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return self_signed(tmp_path_factory.mktemp("certs"), "server")


def settings(pair: KeyPair, **extra: object) -> TLSSettings:
    return TLSSettings.model_validate({"certificate": str(pair.cert), "key": str(pair.key), **extra})


def test_defaults(pair: KeyPair) -> None:
    context = server_context(settings(pair))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE


def test_client_cas_from_several_files_require_a_certificate(pair: KeyPair, tmp_path: Path) -> None:
    first, second = self_signed(tmp_path, "ca1", ca=True), self_signed(tmp_path, "ca2", ca=True)
    context = server_context(settings(pair, clientcas=[str(first.cert), str(second.cert)], minimumtls="tls1.3"))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert {c["subject"] for c in context.get_ca_certs()} == {((("commonName", "ca1"),),), ((("commonName", "ca2"),),)}
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_cipher_suites_are_applied(pair: KeyPair) -> None:
    context = server_context(settings(pair, ciphersuites=["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]))
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES256-GCM-SHA384"}


def problem(tls: TLSSettings) -> str:
    with pytest.raises(ConfigError) as error:
        server_context(tls)
    return str(error.value)


def test_file_problems_name_their_key(pair: KeyPair, tmp_path: Path) -> None:
    other = signed_by(self_signed(tmp_path, "ca", ca=True), tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n")
    assert problem(settings(pair, key=str(tmp_path / "nope.key"))).startswith("http.tls.key: cannot read")
    assert problem(settings(pair, certificate=str(tmp_path / "nope.crt"))).startswith(
        "http.tls.certificate: cannot read"
    )
    assert "does not match" in problem(settings(pair, key=str(other.key)))
    assert problem(settings(pair, certificate=str(pair.key))).startswith("http.tls.certificate: ")
    assert problem(settings(pair, certificate=str(garbage))).startswith("http.tls.certificate: ")
    assert problem(settings(pair, key=str(pair.cert))).startswith("http.tls.key: ")
    assert problem(settings(pair, key=str(encrypted))).startswith("http.tls.key: ")
    assert problem(settings(pair, clientcas=[str(pair.cert), str(garbage)])).startswith("http.tls.clientcas[1]: ")
