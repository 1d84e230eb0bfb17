"""The server's ``ssl.SSLContext``, built from ``http.tls`` before uvicorn starts.

uvicorn's own TLS options take one CA file and no minimum version, so the context is built here and handed
to uvicorn through its ``ssl_context_factory``. Every file problem becomes a :class:`ConfigError` naming its
key (``http.tls.key: ...``), so that ``registry serve`` stops with exit status 2 instead of a traceback. The
messages name files, never their contents.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from registry_core.config import ConfigError
from registry_core.config.tls import TLSSettings

VERSIONS = {
    "tls1.0": ssl.TLSVersion.TLSv1,
    "tls1.1": ssl.TLSVersion.TLSv1_1,
    "tls1.2": ssl.TLSVersion.TLSv1_2,
    "tls1.3": ssl.TLSVersion.TLSv1_3,
}


def _fail(key: str, problem: str) -> ConfigError:
    line = f"http.tls.{key}: {problem}"
    return ConfigError(line, [line])


def _read(key: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise _fail(key, f"cannot read {path}: {exc.strerror or exc}") from None


def _no_password() -> bytes:
    """Stops OpenSSL from prompting on the terminal for an encrypted key's password."""
    raise ssl.SSLError("encrypted keys are not supported")


def _check_certificates(key: str, path: str) -> None:
    """Raise naming ``key`` unless ``path`` holds at least one PEM certificate OpenSSL can parse."""
    if "-----BEGIN CERTIFICATE-----" not in _read(key, path):
        raise _fail(key, f"{path} holds no PEM certificate")
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        raise _fail(key, f"{path} holds an invalid certificate: {exc.reason or exc}") from None


def server_context(tls: TLSSettings) -> ssl.SSLContext:
    """The server side of ``tls`` (which must be enabled): certificate chain, minimum version, suites, client CAs."""
    assert tls.certificate is not None and tls.key is not None
    _check_certificates("certificate", tls.certificate)
    key_text = _read("key", tls.key)
    if "PRIVATE KEY-----" not in key_text:
        raise _fail("key", f"{tls.key} holds no PEM private key")
    if "ENCRYPTED" in key_text:
        raise _fail("key", f"{tls.key} is encrypted (password-protected): give an unencrypted key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.minimumtls]
    if tls.minimumtls in ("tls1.0", "tls1.1"):
        # OpenSSL 3's default security level refuses TLS < 1.2 whatever the minimum says; the config asks for it.
        context.set_ciphers(f"{tls.openssl_ciphers or 'DEFAULT'}:@SECLEVEL=0")
    elif tls.openssl_ciphers:
        context.set_ciphers(tls.openssl_ciphers)
    try:
        context.load_cert_chain(tls.certificate, tls.key, password=_no_password)
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)
        if "MISMATCH" in reason.upper():
            raise _fail("key", f"{tls.key} does not match the certificate in http.tls.certificate") from None
        raise _fail("key", f"{tls.key} cannot be used with http.tls.certificate: {reason}") from None
    for index, path in enumerate(tls.clientcas):
        _check_certificates(f"clientcas[{index}]", path)
        context.load_verify_locations(cafile=path)
    if tls.clientcas:
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as Go's tls.RequireAndVerifyClientCert
    context.set_alpn_protocols(["http/1.1"])  # uvicorn speaks HTTP/1.1 only
    return context
