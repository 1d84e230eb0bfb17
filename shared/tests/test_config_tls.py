"""``http.tls``: each key in the Go registry's shape, and each refusal naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core.config import ConfigError, load_settings
from registry_core.config.tls import TLSSettings


def load(tmp_path: Path, tls: str) -> TLSSettings:
    path = tmp_path / "config.yml"
    path.write_text(f"version: 0.1\nstorage:\n  inmemory:\nhttp:\n  tls:\n{tls}")
    return load_settings(path, env={}).http.tls


def refusal(tmp_path: Path, tls: str) -> str:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, tls)
    return str(error.value)


def test_no_tls_by_default(tmp_path: Path) -> None:
    tls = load_settings(None, env={}).http.tls
    assert not tls.enabled and tls.minimumtls == "tls1.2" and tls.clientcas == [] and tls.ciphersuites == []


def test_go_keys(tmp_path: Path) -> None:
    tls = load(
        tmp_path,
        "    certificate: /c.pem\n    key: /k.pem\n    clientcas: [/ca1.pem, /ca2.pem]\n    minimumtls: TLS1.3\n"
        "    ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n",
    )
    assert (tls.certificate, tls.key, tls.clientcas, tls.minimumtls) == (
        "/c.pem",
        "/k.pem",
        ["/ca1.pem", "/ca2.pem"],
        "tls1.3",
    )
    assert tls.enabled
    assert tls.openssl_ciphers == "ECDHE-RSA-AES128-GCM-SHA256"  # TLS 1.3 suites are always on


def test_from_the_environment(tmp_path: Path) -> None:
    env = {
        "REGISTRY_HTTP_TLS_CERTIFICATE": "/c.pem",
        "REGISTRY_HTTP_TLS_KEY": "/k.pem",
        "REGISTRY_HTTP_TLS_MINIMUMTLS": "tls1.3",
    }
    tls = load_settings(None, env=env).http.tls
    assert (tls.certificate, tls.key, tls.minimumtls) == ("/c.pem", "/k.pem", "tls1.3")


def test_a_single_client_ca_may_be_a_string(tmp_path: Path) -> None:
    assert load(tmp_path, "    certificate: /c\n    key: /k\n    clientcas: /ca.pem\n").clientcas == ["/ca.pem"]


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ("    certificate: /c.pem\n", "http.tls.key: is required"),
        ("    key: /k.pem\n", "http.tls.certificate: is required"),
        ("    clientcas: [/ca.pem]\n", "http.tls.clientcas: needs http.tls.certificate"),
        ("    certificate: /c\n    key: /k\n    minimumtls: tls1.4\n", "http.tls.minimumtls: must be"),
        (
            "    certificate: /c\n    key: /k\n    ciphersuites: [TLS_FAST]\n",
            "http.tls.ciphersuites: unknown cipher suite(s) TLS_FAST",
        ),
        (
            "    certificate: /c\n    key: /k\n    ciphersuites: [TLS_AES_128_GCM_SHA256]\n",
            "http.tls.ciphersuites: lists only TLS 1.3",
        ),
        (
            "    certificate: /c\n    key: /k\n    letsencrypt:\n      email: a@b.c\n",
            "http.tls.letsencrypt: is not implemented",
        ),
        ("    certificate: /c\n    key: /k\n    clientcas: ['']\n", "http.tls.clientcas.0: must not be empty"),
    ],
    ids=[
        "no-key",
        "no-certificate",
        "clientcas-without-https",
        "version",
        "cipher",
        "only-tls13",
        "letsencrypt",
        "empty-ca",
    ],
)
def test_refusals_name_the_key(tmp_path: Path, tls: str, message: str) -> None:
    assert message in refusal(tmp_path, tls)


def test_tls13_suites_alone_are_fine_with_tls13_minimum(tmp_path: Path) -> None:
    tls = load(
        tmp_path,
        "    certificate: /c\n    key: /k\n    minimumtls: tls1.3\n    ciphersuites: [TLS_AES_256_GCM_SHA384]\n",
    )
    assert tls.openssl_ciphers == ""


def test_empty_letsencrypt_is_inert(tmp_path: Path) -> None:
    assert load(tmp_path, "    letsencrypt:\n").letsencrypt is None
