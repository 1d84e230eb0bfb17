"""The signing key and certificate: read once, refused at start naming the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_core.config import ConfigError, TokenServiceSettings
from registry_core.testing.token_files import (
    private_key,
    self_signed_certificate,
    signing_pair,
    write_certificate,
    write_key,
)
from registry_token.keys import load_signing_key


def settings(key: Path | str | None, certificate: Path | str | None) -> TokenServiceSettings:
    return TokenServiceSettings(
        key=None if key is None else str(key), certificate=None if certificate is None else str(certificate)
    )


def refusal(config: TokenServiceSettings) -> str:
    with pytest.raises(ConfigError) as error:
        load_signing_key(config)
    return str(error.value)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_a_matching_pair_loads(tmp_path: Path, kind: str) -> None:
    pair = signing_pair(tmp_path, kind=kind)  # type: ignore[arg-type]
    key = load_signing_key(settings(pair.key, pair.cert))
    assert key.certificate.public_key() == key.private_key.public_key()
    assert len(key.chain) == 1


def test_a_missing_key_or_certificate_is_named(tmp_path: Path) -> None:
    pair = signing_pair(tmp_path)
    assert refusal(settings(None, pair.cert)) == "services.token.key: is required to serve tokens"
    assert refusal(settings(pair.key, None)) == "services.token.certificate: is required to serve tokens"


def test_an_unreadable_file_is_named_with_its_path(tmp_path: Path) -> None:
    pair = signing_pair(tmp_path)
    message = refusal(settings(tmp_path / "absent.key", pair.cert))
    assert message.startswith("services.token.key: cannot read ") and "absent.key" in message
    message = refusal(settings(pair.key, tmp_path / "absent.crt"))
    assert message.startswith("services.token.certificate: cannot read ")


def test_files_that_are_not_pem_are_refused(tmp_path: Path) -> None:
    pair = signing_pair(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a pem file\n")
    assert "is not a PEM private key" in refusal(settings(junk, pair.cert))
    assert "is not a PEM certificate" in refusal(settings(pair.key, junk))
    # each file given for the other
    assert refusal(settings(pair.cert, pair.key)).startswith("services.token.key: ")


def test_a_certificate_of_another_key_is_refused(tmp_path: Path) -> None:
    pair = signing_pair(tmp_path, "one")
    other = signing_pair(tmp_path, "other")
    message = refusal(settings(pair.key, other.cert))
    assert message.startswith("services.token.certificate: ") and "is not the certificate of services.token.key" in (
        message
    )


def test_a_chain_is_kept_whole_with_the_key_certificate_first(tmp_path: Path) -> None:
    key = private_key("ec")
    leaf = self_signed_certificate(key, "leaf")
    intermediate = self_signed_certificate(private_key("ec"), "intermediate")
    chain = tmp_path / "chain.crt"
    chain.write_bytes(
        write_certificate(leaf, tmp_path / "a").read_bytes()
        + write_certificate(intermediate, tmp_path / "b").read_bytes()
    )
    loaded = load_signing_key(settings(write_key(key, tmp_path / "k.key"), chain))
    assert loaded.chain == (leaf, intermediate)


def test_an_encrypted_key_is_refused_saying_so(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = private_key("ec")
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    cert = write_certificate(self_signed_certificate(key, "x"), tmp_path / "x.crt")
    assert "is encrypted" in refusal(settings(encrypted, cert))


def test_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "ed.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pair = signing_pair(tmp_path)
    assert "RSA or EC" in refusal(settings(path, pair.cert))
