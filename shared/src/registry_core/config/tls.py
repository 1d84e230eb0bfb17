"""``http.tls``: HTTPS in the Go registry's shape (``certificate``, ``key``, ``clientcas``, ``minimumtls``,
``ciphersuites``; ``letsencrypt`` is refused).

Only the shape and the names are checked here; the files are read when the server builds its context
(``registry_server.tls``), so that a bad file stops start-up naming its key there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from registry_core.config.base import NonEmptyStr, _Section

TLS_VERSIONS = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")

GO_CIPHER_SUITES: dict[str, str] = {
    # Go's crypto/tls names (as the Go registry's ``ciphersuites`` takes them) -> OpenSSL's, TLS 1.0-1.2.
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}
TLS13_CIPHER_SUITES = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
"""Accepted and always on: TLS 1.3 suites are not configurable, in Go's crypto/tls as in OpenSSL's cipher list."""


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else [] if value is None else value


class LetsEncryptSettings(_Section):
    cachefile: str | None = None
    email: str | None = None
    hosts: list[str] = []


class TLSSettings(_Section):
    """``certificate`` + ``key`` turn HTTPS on; ``clientcas`` (CA files) makes a client certificate mandatory."""

    certificate: NonEmptyStr | None = None
    key: NonEmptyStr | None = None
    clientcas: Annotated[list[NonEmptyStr], BeforeValidator(_one_or_many)] = []
    minimumtls: Annotated[Literal["tls1.0", "tls1.1", "tls1.2", "tls1.3"], BeforeValidator(_lower)] = "tls1.2"
    ciphersuites: Annotated[list[str], BeforeValidator(_one_or_many)] = []
    letsencrypt: LetsEncryptSettings | None = Field(None, description="refused: not implemented")

    @field_validator("ciphersuites")
    @classmethod
    def _known_suites(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in GO_CIPHER_SUITES and n not in TLS13_CIPHER_SUITES]
        if unknown:
            raise ValueError(
                f"unknown cipher suite(s) {', '.join(unknown)}: give Go's names, e.g. "
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (TLS 1.3 suites are always on)"
            )
        return names

    @field_validator("letsencrypt", mode="before")
    @classmethod
    def _no_letsencrypt(cls, value: Any) -> Any:
        if value:
            raise ValueError("is not implemented: give http.tls.certificate and http.tls.key (files) instead")
        return None

    @model_validator(mode="after")
    def _complete(self) -> TLSSettings:
        if bool(self.certificate) != bool(self.key):
            missing = "key" if self.certificate else "certificate"
            raise ValueError(f"http.tls.{missing}: is required when http.tls.certificate or http.tls.key is set")
        if not self.enabled and self.clientcas:
            raise ValueError("http.tls.clientcas: needs http.tls.certificate and http.tls.key (HTTPS)")
        if self.ciphersuites and self.minimumtls != "tls1.3" and not self.openssl_ciphers:
            raise ValueError(
                "http.tls.ciphersuites: lists only TLS 1.3 suites, so TLS 1.2 and older would have none: "
                "add TLS 1.2 suites or set http.tls.minimumtls: tls1.3"
            )
        return self

    @property
    def enabled(self) -> bool:
        return self.certificate is not None

    @property
    def openssl_ciphers(self) -> str:
        """The TLS 1.0-1.2 suites as an OpenSSL cipher list ("" when none are configured)."""
        names = dict.fromkeys(GO_CIPHER_SUITES[n] for n in self.ciphersuites if n in GO_CIPHER_SUITES)
        return ":".join(names)
