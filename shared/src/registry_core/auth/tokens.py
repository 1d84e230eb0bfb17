"""The registry's side of Docker tokens: is this Bearer JWT signed by a trusted key, for us, and still valid?

As the Go registry (``registry/auth/token``): the signing key comes from the ``x5c`` header (a chain up to a
``rootcertbundle`` certificate), else from a ``jwk`` header equal to a trusted key, else from ``kid`` (a root
certificate's libtrust key ID or RFC 7638 thumbprint, or a ``jwks`` key ID). Then the signature, ``iss``,
``aud``, ``exp`` and ``nbf`` (both with a leeway) are checked. Verified tokens are cached by their signature.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from registry_core.auth.jwt import PublicKey, TokenError, jwk_public_key, jwk_thumbprint, parse, verify_signature
from registry_core.auth.libtrust import key_id
from registry_core.auth.scope import REPOSITORY, ResourceAccess
from registry_core.config import ConfigError
from registry_core.config.auth import SIGNING_ALGORITHMS, TokenSettings

REPOSITORY_ACTIONS: frozenset[str] = frozenset({"pull", "push", "delete"})
MAX_CHAIN = 10
"""At most this many certificates in an ``x5c`` header, and in a chain built from it."""
MAX_SIGNATURE_CHECKS = 100
"""At most this many certificate signatures checked per token while looking for a path to a root (as Go)."""


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified token grants: ``subject`` (``""`` for anonymous) may do ``access`` until ``expires_at``."""

    subject: str
    access: tuple[ResourceAccess, ...]
    expires_at: float

    def actions(self, type: str, name: str) -> frozenset[str]:
        """The union of the actions granted on ``type:name``. As in Go, ``"*"`` on a repository is every action;
        on another type (``registry:catalog:*``) it stays ``"*"``, which is what such a resource is asked for."""
        granted: set[str] = set()
        for entry in self.access:
            if entry.type == type and entry.name == name:
                granted |= entry.actions
        if type == REPOSITORY and "*" in granted:
            granted.discard("*")
            granted |= REPOSITORY_ACTIONS
        return frozenset(granted)


def _spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TokenVerifier:
    """``verify(token) -> VerifiedToken`` or :class:`TokenError`; see the module's docstring for the rules."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        roots: Sequence[x509.Certificate] = (),
        jwks: Mapping[str, PublicKey] | None = None,
        algorithms: Sequence[str] = SIGNING_ALGORITHMS,
        leeway: float = 60.0,
        cache_size: int = 10000,
    ) -> None:
        unknown = sorted(set(algorithms) - set(SIGNING_ALGORITHMS))
        if unknown:
            raise ValueError(f"unsupported signing algorithm(s): {', '.join(unknown)}")
        if not roots and not jwks:
            raise ValueError("a token verifier needs at least one trusted key (roots or jwks)")
        self._issuer = issuer
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway
        self._cache_size = cache_size
        # signature (base64url, as in the token) -> (token, verified, usable from, usable until)
        self._cache: dict[str, tuple[str, VerifiedToken, float, float]] = {}
        self._roots = tuple(roots)
        self._root_ders = frozenset(_der(cert) for cert in roots)
        self._keys: dict[str, Any] = {}
        for cert in self._roots:
            public_key = cert.public_key()
            self._keys[key_id(public_key)] = public_key
            if isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                with contextlib.suppress(TypeError):  # an EC curve JWS has no name for: no thumbprint
                    self._keys[jwk_thumbprint(public_key)] = public_key
        self._keys.update(jwks or {})
        self._trusted_spkis = frozenset(_spki(key) for key in self._keys.values())

    @classmethod
    def from_settings(cls, settings: TokenSettings) -> TokenVerifier:
        """The verifier ``auth.token`` configures; an unusable ``rootcertbundle`` or ``jwks`` is a ConfigError."""
        roots = _read_root_bundle(settings.rootcertbundle) if settings.rootcertbundle else []
        jwks = _read_jwks(settings.jwks) if settings.jwks else {}
        return cls(
            issuer=settings.issuer,
            audience=settings.service,
            roots=roots,
            jwks=jwks,
            algorithms=settings.signingalgorithms,
        )

    def verify(self, token: str, now: float | None = None) -> VerifiedToken:
        """The grant of a valid token; :class:`TokenError` (its message safe to send) otherwise."""
        if now is None:
            now = time.time()
        signature = token.rpartition(".")[2]
        cached = self._cache.get(signature)
        if cached is not None and cached[0] == token:
            _, verified, usable_from, usable_until = cached
            if now > usable_until:
                self._cache.pop(signature, None)
                raise TokenError("token expired")
            if now < usable_from:
                raise TokenError("token not yet valid")
            return verified
        verified, usable_from, usable_until = self._verify(token, now)
        if self._cache_size > 0:
            while len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)), None)  # the oldest: tokens are short-lived
            self._cache[signature] = (token, verified, usable_from, usable_until)
        return verified

    def _verify(self, token: str, now: float) -> tuple[VerifiedToken, float, float]:
        jws = parse(token)
        alg = jws.header["alg"]
        if alg not in self._algorithms:
            raise TokenError("token signed with an algorithm that is not accepted")
        if "crit" in jws.header:
            raise TokenError("token header has critical extensions")
        key, usable_from, usable_until = self._signing_key(jws.header, now)
        if not verify_signature(alg, key, jws.signing_input, jws.signature):
            raise TokenError("invalid token signature")
        claims = jws.claims
        if claims.get("iss") != self._issuer:
            raise TokenError("token from an untrusted issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self._audience not in audiences or not all(isinstance(item, str) for item in audiences):
            raise TokenError("token intended for another audience")
        expires_at = claims.get("exp")
        if not _number(expires_at):
            raise TokenError("token has no valid exp claim")
        if now > expires_at + self._leeway:
            raise TokenError("token expired")
        not_before = claims.get("nbf")
        if not_before is not None:
            if not _number(not_before):
                raise TokenError("token has an invalid nbf claim")
            if now < not_before - self._leeway:
                raise TokenError("token not yet valid")
            usable_from = max(usable_from, not_before - self._leeway)
        subject = claims.get("sub")
        if subject is None:  # anonymous
            subject = ""
        if not isinstance(subject, str):
            raise TokenError("token has an invalid sub claim")
        verified = VerifiedToken(subject, _access(claims.get("access")), float(expires_at))
        return verified, usable_from, min(usable_until, expires_at + self._leeway)

    def _signing_key(self, header: dict[str, Any], now: float) -> tuple[Any, float, float]:
        """The trusted key the token says it is signed with, and when the certificates vouching for it are valid."""
        if "x5c" in header:
            path = self._chain(_x5c(header["x5c"]), datetime.fromtimestamp(now, UTC))
            usable_from = max(cert.not_valid_before_utc.timestamp() for cert in path)
            usable_until = min(cert.not_valid_after_utc.timestamp() for cert in path)
            return path[0].public_key(), usable_from, usable_until
        if "jwk" in header:
            jwk = header["jwk"]
            try:
                key = jwk_public_key(jwk) if isinstance(jwk, dict) else None
            except ValueError:
                key = None
            if key is None:
                raise TokenError("malformed token: invalid jwk header")
            if _spki(key) not in self._trusted_spkis:
                raise TokenError("token signed by an untrusted key")
            return key, -math.inf, math.inf
        if "kid" in header:
            kid = header["kid"]
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenError("token signed by an unknown key")
            return key, -math.inf, math.inf
        raise TokenError("token names no signing key (x5c, jwk or kid)")

    def _chain(self, chain: list[x509.Certificate], now: datetime) -> list[x509.Certificate]:
        """A path from the leaf ``chain[0]`` up to a root, through ``chain[1:]``; TokenError when there is none.

        Every certificate must be valid at ``now``; every issuer must be a CA (basicConstraints) within its path
        length and have signed the one below. Like Go (ExtKeyUsageAny), no extended key usage is required.
        """
        leaf, intermediates = chain[0], chain[1:]
        if not _valid_at(leaf, now):
            raise TokenError("token signed by a certificate that is not valid now")
        checks = 0

        def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
            nonlocal checks
            cert = path[-1]
            if _der(cert) in self._root_ders:
                return path
            if len(path) >= MAX_CHAIN:
                return None
            for issuer in (*intermediates, *self._roots):
                if issuer in path or issuer.subject != cert.issuer or not _may_issue(issuer, len(path) - 1, now):
                    continue
                checks += 1
                if checks > MAX_SIGNATURE_CHECKS:  # certificates crafted to make the search explode
                    raise TokenError("token certificate chain has too many candidate paths")
                try:
                    cert.verify_directly_issued_by(issuer)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                found = extend([*path, issuer])
                if found is not None:
                    return found
            return None

        path = extend([leaf])
        if path is None:
            raise TokenError("token signed by a certificate that does not chain to a trusted root")
        return path


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _may_issue(cert: x509.Certificate, intermediates_below: int, now: datetime) -> bool:
    """Whether ``cert`` may be the issuer of a chain with ``intermediates_below`` CA certificates under it."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        return False
    return _valid_at(cert, now)


def _x5c(value: Any) -> list[x509.Certificate]:
    """The certificates of an ``x5c`` header: standard base64 DER, leaf first (RFC 7515 section 4.1.6)."""
    if not isinstance(value, list) or not value or len(value) > MAX_CHAIN or not all(isinstance(v, str) for v in value):
        raise TokenError("malformed token: invalid x5c header")
    try:
        return [x509.load_der_x509_certificate(_b64std(item)) for item in value]
    except ValueError:
        raise TokenError("malformed token: invalid x5c header") from None


def _b64std(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def _access(value: Any) -> tuple[ResourceAccess, ...]:
    """The ``access`` claim: ``[{type, name, actions}]``; missing or null is no access."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TokenError("token has an invalid access claim")
    granted = []
    for entry in value:
        if not isinstance(entry, dict):
            raise TokenError("token has an invalid access claim")
        type_, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if actions is None:
            actions = []
        if (
            not isinstance(type_, str)
            or not isinstance(name, str)
            or not isinstance(actions, list)
            or not all(isinstance(action, str) for action in actions)
        ):
            raise TokenError("token has an invalid access claim")
        granted.append(ResourceAccess(type_, name, frozenset(actions)))
    return tuple(granted)


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"auth.token.{key}: cannot read {path}: {exc.strerror or exc}") from None


def _read_root_bundle(path: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (other PEM blocks are ignored, as in Go)."""
    data = _read(path, "rootcertbundle")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(
            f"auth.token.rootcertbundle: {path} holds no PEM certificate, or one that cannot be parsed"
        ) from None


def _read_jwks(path: str) -> dict[str, PublicKey]:
    """``{"keys": [JWK, ...]}``: each key RSA or EC with a ``kid``."""
    try:
        keys = json.loads(_read(path, "jwks")).get("keys")
    except (ValueError, AttributeError):
        raise ConfigError(f"auth.token.jwks: {path} is not a JSON Web Key Set") from None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"auth.token.jwks: {path} holds no keys")
    found: dict[str, PublicKey] = {}
    for index, jwk in enumerate(keys):
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        if not isinstance(kid, str) or not kid:
            raise ConfigError(f"auth.token.jwks: key {index} of {path} has no kid")
        if kid in found:
            raise ConfigError(f"auth.token.jwks: {path} holds two keys with kid {kid!r}")
        try:
            found[kid] = jwk_public_key(jwk)
        except ValueError as exc:
            raise ConfigError(f"auth.token.jwks: key {kid!r} of {path}: {exc}") from None
    return found
