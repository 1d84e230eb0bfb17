"""The registry's token verifier: trusted keys (x5c chains, kid, jwk, JWKS), claims, the cache, the settings."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from token_helpers import (
    DAY,
    ISSUER,
    NOW,
    SERVICE,
    b64url,
    certificate,
    claims,
    ec_key,
    encode,
    pki,
    public_jwk,
    rsa_key,
)

from registry_core.auth.jwt import TokenError, jwk_thumbprint, sign
from registry_core.auth.libtrust import key_id
from registry_core.auth.scope import ResourceAccess
from registry_core.auth.tokens import TokenVerifier, VerifiedToken
from registry_core.config import ConfigError, TokenSettings

HOUR = 3600.0


def verifier(**options: Any) -> TokenVerifier:
    """Trusts the root CA and the self-signed token certificate of :func:`pki`."""
    options.setdefault("roots", [pki().root, pki().token_cert])
    return TokenVerifier(issuer=ISSUER, audience=SERVICE, **options)


def chain_token(**overrides: Any) -> str:
    """ES256, signed by the leaf, x5c = leaf then intermediate."""
    return sign(claims(**overrides), pki().leaf_key, x5c=[pki().leaf, pki().intermediate])


def kid_token(**overrides: Any) -> str:
    """RS256, signed by the token certificate's key, named by its libtrust key ID."""
    return sign(claims(**overrides), pki().token_key, kid=key_id(pki().token_key.public_key()))


def refused(token: str, message: str, now: float = NOW, **options: Any) -> None:
    with pytest.raises(TokenError, match=message) as caught:
        verifier(**options).verify(token, now=now)
    assert token not in str(caught.value)


# -- trusted keys --


def test_x5c_leaf_intermediate_root() -> None:
    verified = verifier().verify(chain_token(), now=NOW)
    assert verified == VerifiedToken(
        "alice", (ResourceAccess("repository", "team/app", frozenset({"pull", "push"})),), float(int(NOW) + 300)
    )


def test_x5c_leaf_is_a_root() -> None:
    token = sign(claims(), pki().token_key, x5c=[pki().token_cert])
    assert verifier().verify(token, now=NOW).subject == "alice"


def test_x5c_with_the_root_included_and_intermediates_in_any_order() -> None:
    token = sign(claims(), pki().leaf_key, x5c=[pki().leaf, pki().root, pki().intermediate])
    assert verifier().verify(token, now=NOW).subject == "alice"


def test_x5c_without_the_intermediate_is_refused() -> None:
    refused(sign(claims(), pki().leaf_key, x5c=[pki().leaf]), "does not chain")


def test_x5c_chain_to_another_root_is_refused() -> None:
    other_key = rsa_key(3)
    other_root = certificate("root", other_key.public_key(), signer=other_key)  # same name, other key
    intermediate = certificate("intermediate", ec_key(1).public_key(), issuer=("root", other_key))
    token = sign(claims(), pki().leaf_key, x5c=[pki().leaf, intermediate])
    refused(token, "does not chain")
    assert verifier(roots=[other_root]).verify(token, now=NOW).subject == "alice"


def test_x5c_signed_by_another_key_than_the_leaf_is_refused() -> None:
    token = sign(claims(), ec_key(3), x5c=[pki().leaf, pki().intermediate])
    refused(token, "signature")


def test_x5c_expired_leaf_is_refused() -> None:
    expired = certificate(
        "leaf",
        pki().leaf_key.public_key(),
        issuer=("intermediate", ec_key(1)),
        ca=False,
        not_before=dt.datetime.fromtimestamp(NOW, dt.UTC) - 2 * DAY,
        not_after=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(hours=1),
    )
    refused(sign(claims(), pki().leaf_key, x5c=[expired, pki().intermediate]), "not valid now")


def test_x5c_expired_intermediate_is_refused() -> None:
    expired = certificate(
        "intermediate",
        ec_key(1).public_key(),
        issuer=("root", rsa_key(1)),
        not_before=dt.datetime.fromtimestamp(NOW, dt.UTC) - 2 * DAY,
        not_after=dt.datetime.fromtimestamp(NOW, dt.UTC) - dt.timedelta(hours=1),
    )
    refused(sign(claims(), pki().leaf_key, x5c=[pki().leaf, expired]), "does not chain")


def test_x5c_issuer_that_is_not_a_ca_is_refused() -> None:
    not_ca = certificate("intermediate", ec_key(1).public_key(), issuer=("root", rsa_key(1)), ca=False)
    refused(sign(claims(), pki().leaf_key, x5c=[pki().leaf, not_ca]), "does not chain")


def test_x5c_path_length_is_enforced() -> None:
    root_key = rsa_key(4)
    root = certificate("strict root", root_key.public_key(), signer=root_key, path_length=0)
    intermediate = certificate("intermediate", ec_key(1).public_key(), issuer=("strict root", root_key))
    token = sign(claims(), pki().leaf_key, x5c=[pki().leaf, intermediate])
    refused(token, "does not chain", roots=[root])
    root = certificate("strict root", root_key.public_key(), signer=root_key, path_length=1)
    assert verifier(roots=[root]).verify(token, now=NOW).subject == "alice"


def test_x5c_crafted_to_make_the_path_search_explode_is_refused_quickly() -> None:
    """Nine CA certificates of one key and one name: each signs every other, 9! paths none reaching a root."""
    key = ec_key(5)
    loop = [certificate("loop", key.public_key(), signer=key) for _ in range(9)]
    leaf = certificate("leaf", pki().leaf_key.public_key(), issuer=("loop", key), ca=False)
    started = time.monotonic()
    refused(sign(claims(), pki().leaf_key, x5c=[leaf, *loop]), "too many")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("x5c", ["not a list", [], [1], ["not base64!"], ["aGVsbG8="]])
def test_malformed_x5c_is_refused(x5c: Any) -> None:
    jws = sign(claims(), pki().leaf_key).split(".")
    header = encode({"typ": "JWT", "alg": "ES256", "x5c": x5c})
    refused(f"{header}.{jws[1]}.{jws[2]}", "x5c")


def test_kid_libtrust_id_of_a_root() -> None:
    assert verifier().verify(kid_token(), now=NOW).subject == "alice"


def test_kid_rfc7638_thumbprint_of_a_root() -> None:
    """The Go registry 3 names a root certificate's key by its JWK thumbprint."""
    token = sign(claims(), pki().token_key, kid=jwk_thumbprint(pki().token_key.public_key()))
    assert verifier().verify(token, now=NOW).subject == "alice"


def test_kid_of_a_jwks_key() -> None:
    token = sign(claims(), ec_key(4), kid="my-key")
    assert verifier(roots=(), jwks={"my-key": ec_key(4).public_key()}).verify(token, now=NOW).subject == "alice"
    refused(token, "unknown key", roots=(), jwks={"other": ec_key(4).public_key()})


def test_kid_of_an_unknown_key_is_refused() -> None:
    foreign = rsa_key(5)
    refused(sign(claims(), foreign, kid=key_id(foreign.public_key())), "unknown key")


def test_kid_of_a_trusted_key_on_a_token_signed_by_another_is_refused() -> None:
    refused(sign(claims(), rsa_key(5), kid=key_id(pki().token_key.public_key())), "signature")


def test_jwk_header_equal_to_a_trusted_key() -> None:
    token = _with_header(
        {"typ": "JWT", "alg": "RS256", "jwk": public_jwk(pki().token_key.public_key(), "x")}, pki().token_key
    )
    assert verifier().verify(token, now=NOW).subject == "alice"
    foreign = rsa_key(5)
    untrusted = _with_header({"typ": "JWT", "alg": "RS256", "jwk": public_jwk(foreign.public_key(), "x")}, foreign)
    refused(untrusted, "untrusted key")
    refused(_with_header({"typ": "JWT", "alg": "RS256", "jwk": "x"}, foreign), "jwk")


def test_no_key_named_is_refused() -> None:
    refused(sign(claims(), pki().token_key), "names no signing key")


def _with_header(header: dict[str, Any], key: Any, body: dict[str, Any] | None = None) -> str:
    signing_input = f"{encode(header)}.{encode(claims() if body is None else body)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


# -- algorithms and signatures --


def test_alg_none_is_refused() -> None:
    kid = key_id(pki().token_key.public_key())
    refused(f"{encode({'typ': 'JWT', 'alg': 'none', 'kid': kid})}.{encode(claims())}.", "algorithm")


def test_hs256_with_the_public_key_as_secret_is_refused() -> None:
    """The classic confusion: an HMAC keyed with the (public) verification key."""
    kid = key_id(pki().token_key.public_key())
    secret = (
        pki()
        .token_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{encode({'typ': 'JWT', 'alg': 'HS256', 'kid': kid})}.{encode(claims())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(f"{signing_input}.{b64url(signature)}", "algorithm")


def test_an_algorithm_not_configured_is_refused() -> None:
    refused(kid_token(), "algorithm", algorithms=["ES256"])
    assert verifier(algorithms=["ES256"]).verify(chain_token(), now=NOW).subject == "alice"


def test_alg_and_key_type_mismatch_is_refused() -> None:
    """An RSA signature under a header claiming ES256 (and the reverse) never verifies."""
    kid = key_id(pki().token_key.public_key())
    refused(_with_header({"typ": "JWT", "alg": "ES256", "kid": kid}, pki().token_key), "signature")
    ec_token = sign(claims(), pki().leaf_key, x5c=[pki().leaf, pki().intermediate]).split(".")
    header = encode({"typ": "JWT", "alg": "RS256", "x5c": json.loads(_decode(ec_token[0]))["x5c"]})
    refused(f"{header}.{ec_token[1]}.{ec_token[2]}", "signature")


def test_tampered_payload_with_the_original_signature_is_refused() -> None:
    header, _, signature = kid_token().split(".")
    more = claims(access=[{"type": "repository", "name": "team/app", "actions": ["*"]}])
    refused(f"{header}.{encode(more)}.{signature}", "signature")


def test_critical_header_extensions_are_refused() -> None:
    kid = key_id(pki().token_key.public_key())
    refused(_with_header({"typ": "JWT", "alg": "RS256", "kid": kid, "crit": ["exp"]}, pki().token_key), "critical")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b.c.d", "....", "e30.e30.", "\u00e9.\u00e9.\u00e9"])
def test_malformed_strings_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verifier().verify(token, now=NOW)


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- claims --


def test_expired_beyond_the_leeway_is_refused_within_it_accepted() -> None:
    refused(kid_token(exp=int(NOW) - 61), "expired")
    assert verifier().verify(kid_token(exp=int(NOW) - 30), now=NOW).expires_at == int(NOW) - 30
    assert verifier(leeway=0).verify(kid_token(exp=int(NOW)), now=int(NOW)).subject == "alice"
    refused(kid_token(exp=int(NOW) - 1), "expired", now=int(NOW), leeway=0)


def test_nbf_in_the_future_is_refused_within_the_leeway_accepted() -> None:
    refused(kid_token(nbf=int(NOW) + 120), "not yet valid")
    assert verifier().verify(kid_token(nbf=int(NOW) + 30), now=NOW).subject == "alice"
    assert verifier().verify(kid_token(nbf=None), now=NOW).subject == "alice"


@pytest.mark.parametrize(("exp", "message"), [(None, "exp"), ("soon", "exp"), (True, "exp"), ([1], "exp")])
def test_exp_is_required_and_a_number(exp: Any, message: str) -> None:
    refused(kid_token(exp=exp), message)


def test_nbf_must_be_a_number() -> None:
    refused(kid_token(nbf="now"), "nbf")


def test_wrong_audience_is_refused_a_list_holding_ours_accepted() -> None:
    refused(kid_token(aud="other.registry"), "audience")
    refused(kid_token(aud=None), "audience")
    refused(kid_token(aud={"aud": SERVICE}), "audience")
    refused(kid_token(aud=[SERVICE, 1]), "audience")  # Go: not a list of strings
    assert verifier().verify(kid_token(aud=["other", SERVICE]), now=NOW).subject == "alice"


def test_wrong_issuer_is_refused() -> None:
    refused(kid_token(iss="evil.example"), "issuer")
    refused(kid_token(iss=None), "issuer")


def test_iat_is_not_required_and_sub_may_be_missing() -> None:
    assert verifier().verify(kid_token(iat=None, sub=None, jti=None), now=NOW).subject == ""
    refused(kid_token(sub=42), "sub")


@pytest.mark.parametrize(
    "access",
    [
        "repository:team/app:pull",
        {"type": "repository"},
        ["repository"],
        [{"name": "team/app", "actions": ["pull"]}],
        [{"type": "repository", "actions": ["pull"]}],
        [{"type": "repository", "name": "team/app", "actions": "pull"}],
        [{"type": "repository", "name": "team/app", "actions": [1]}],
    ],
)
def test_malformed_access_is_refused(access: Any) -> None:
    refused(kid_token(access=access), "access")


def test_missing_or_null_access_is_no_access() -> None:
    assert verifier().verify(kid_token(access=None), now=NOW).access == ()
    no_actions = [{"type": "repository", "name": "team/app", "actions": None, "class": "image"}]
    assert verifier().verify(kid_token(access=no_actions), now=NOW).actions("repository", "team/app") == frozenset()


def test_actions_union_and_star() -> None:
    access = [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "repository", "name": "team/app", "actions": ["push"]},
        {"type": "repository", "name": "team/all", "actions": ["*"]},
        {"type": "repository", "name": "team/app/sub", "actions": ["delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    verified = verifier().verify(kid_token(access=access), now=NOW)
    assert verified.actions("repository", "team/app") == {"pull", "push"}
    assert verified.actions("repository", "team/all") == {"pull", "push", "delete"}
    assert verified.actions("registry", "catalog") == {"*"}
    assert verified.actions("repository", "team") == frozenset()
    assert verified.actions("registry", "team/all") == frozenset()


# -- the cache --


def test_a_cached_token_is_the_same_and_still_expires() -> None:
    checker = verifier()
    token = kid_token(exp=int(NOW) + 300)
    first = checker.verify(token, now=NOW)
    assert checker.verify(token, now=NOW + 100) is first
    with pytest.raises(TokenError, match="expired"):
        checker.verify(token, now=NOW + 300 + 61)
    with pytest.raises(TokenError, match="expired"):  # and stays refused (it left the cache)
        checker.verify(token, now=NOW + 300 + 61)


def test_a_cached_token_is_not_valid_before_its_nbf() -> None:
    checker = verifier()
    token = kid_token(nbf=int(NOW) + 30)
    checker.verify(token, now=NOW)
    with pytest.raises(TokenError, match="not yet valid"):
        checker.verify(token, now=NOW - 100)


def test_a_cached_token_expires_with_its_certificate() -> None:
    short_leaf = certificate(
        "leaf",
        pki().leaf_key.public_key(),
        issuer=("intermediate", ec_key(1)),
        ca=False,
        not_after=dt.datetime.fromtimestamp(int(NOW) + 100, dt.UTC),
    )
    token = sign(claims(exp=int(NOW) + 300), pki().leaf_key, x5c=[short_leaf, pki().intermediate])
    checker = verifier()
    checker.verify(token, now=NOW)
    with pytest.raises(TokenError):
        checker.verify(token, now=NOW + 150)


def test_another_payload_with_a_cached_signature_is_refused() -> None:
    checker = verifier()
    token = kid_token()
    checker.verify(token, now=NOW)
    header, _, signature = token.split(".")
    with pytest.raises(TokenError, match="signature"):
        checker.verify(f"{header}.{encode(claims(sub='mallory'))}.{signature}", now=NOW)
    assert checker.verify(token, now=NOW).subject == "alice"


def test_refused_tokens_are_not_cached_and_the_cache_is_bounded() -> None:
    checker = verifier(cache_size=2)
    with pytest.raises(TokenError):
        checker.verify(kid_token(aud="other"), now=NOW)
    assert checker._cache == {}
    tokens = [kid_token(jti=str(n)) for n in range(3)]
    for token in tokens:
        checker.verify(token, now=NOW)
    assert len(checker._cache) == 2
    assert [entry[0] for entry in checker._cache.values()] == tokens[1:]
    assert verifier(cache_size=0).verify(tokens[0], now=NOW).subject == "alice"


# -- real token servers --


def test_a_docker_auth_token(tmp_path: Path) -> None:
    """Built as cesanta/docker_auth's CreateToken does: libtrust kid, RS256, a string aud, nbf = now - 10."""
    key = rsa_key(6)
    cert = certificate("docker_auth", key.public_key(), signer=key, ca=False)
    bundle = tmp_path / "server.pem"
    bundle.write_bytes(
        pki().root.public_bytes(serialization.Encoding.PEM) + cert.public_bytes(serialization.Encoding.PEM)
    )
    now = int(NOW)
    header = json.dumps({"typ": "JWT", "alg": "RS256", "kid": key_id(key.public_key())}, separators=(",", ":"))
    body = {
        "iss": "Acme auth server",
        "sub": "admin",
        "aud": "Docker registry",
        "exp": now + 900,
        "nbf": now - 10,
        "iat": now,
        "jti": "5577006791947779410",
        "access": [{"type": "repository", "name": "library/busybox", "actions": ["pull", "push"]}],
    }
    payload = f"{b64url(header.encode())}.{b64url(json.dumps(body, separators=(',', ':')).encode())}"
    token = f"{payload}.{b64url(key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256()))}"
    settings = TokenSettings(
        realm="https://auth.example/auth",
        service="Docker registry",
        issuer="Acme auth server",
        rootcertbundle=str(bundle),
    )
    verified = TokenVerifier.from_settings(settings).verify(token, now=now)
    assert verified.subject == "admin"
    assert verified.actions("repository", "library/busybox") == {"pull", "push"}


# -- from_settings --


def _settings(**keys: str) -> TokenSettings:
    return TokenSettings(realm="https://auth.example/token", service=SERVICE, issuer=ISSUER, **keys)


def test_from_settings_reads_every_certificate_of_the_bundle_and_the_jwks(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"  # other blocks are skipped
        + pki().root.public_bytes(serialization.Encoding.PEM)
        + pki().token_cert.public_bytes(serialization.Encoding.PEM)
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(
        json.dumps({"keys": [public_jwk(ec_key(4).public_key(), "k1"), public_jwk(rsa_key(5).public_key(), "k2")]})
    )
    checker = TokenVerifier.from_settings(_settings(rootcertbundle=str(bundle), jwks=str(jwks)))
    assert checker.verify(chain_token(), now=NOW).subject == "alice"
    assert checker.verify(kid_token(), now=NOW).subject == "alice"
    assert checker.verify(sign(claims(), ec_key(4), kid="k1"), now=NOW).subject == "alice"
    assert checker.verify(sign(claims(), rsa_key(5), kid="k2"), now=NOW).subject == "alice"
    only_es256 = TokenVerifier.from_settings(_settings(jwks=str(jwks), signingalgorithms=["ES256"]))  # type: ignore[arg-type]
    with pytest.raises(TokenError, match="algorithm"):
        only_es256.verify(sign(claims(), rsa_key(5), kid="k2"), now=NOW)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "auth.token.rootcertbundle: cannot read"),
        (b"", "auth.token.rootcertbundle: .* holds no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n", "auth.token.rootcertbundle"),
    ],
)
def test_unusable_root_bundles(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bundle.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        TokenVerifier.from_settings(_settings(rootcertbundle=str(path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "auth.token.jwks: cannot read"),
        ("", "auth.token.jwks: .* is not a JSON Web Key Set"),
        ("[]", "is not a JSON Web Key Set"),
        ('{"keys": []}', "holds no keys"),
        ('{"keys": [{"kty": "EC"}]}', "has no kid"),
        ('{"keys": [{"kid": "a", "kty": "oct", "k": "c2VjcmV0"}]}', "key 'a'.*kty"),
        (json.dumps({"keys": [public_jwk(ec_key(4).public_key(), "a")] * 2}), "two keys with kid 'a'"),
    ],
)
def test_unusable_jwks(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        TokenVerifier.from_settings(_settings(jwks=str(path)))


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="HS256"):
        verifier(algorithms=["RS256", "HS256"])
    with pytest.raises(ValueError, match="trusted key"):
        TokenVerifier(issuer=ISSUER, audience=SERVICE)
