"""Bearer tokens: JWTs verified against a configured key, carrying a tenant and permissions.

The key file is a PEM public key (EC, RSA or Ed25519) or a JWKS document (`{"keys": [...]}`,
the key picked by the token's `kid`). Signature, `exp`, `nbf`, `iss` and `aud` are checked by
PyJWT; the algorithms accepted follow from the key's type, so a token can never choose its
own (no `none`, no HMAC keyed with a public key). The file is re-read when it changes, so a
key can be rotated without a restart. Claims of ours:

    tenant       the tenant the caller acts for (required; a name such as `acme`)
    permissions  a list of `read`, `write`, `admin`; write implies read, admin implies both

Verified tokens are kept until they expire (at most MAX_CACHED_TOKENS), so a client that
sends the same token on every call pays for one signature check, not one per call.
"""

from __future__ import annotations

import enum
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

#: Verified tokens remembered (token -> caller), the oldest forgotten first.
MAX_CACHED_TOKENS = 4096
#: How often the key file's modification time is looked at.
KEY_RECHECK_S = 1.0
#: Clock skew tolerated on exp and nbf.
LEEWAY_S = 30.0
#: What a bearer token may weigh: more is refused before any parsing.
MAX_TOKEN_BYTES = 8192
TENANT_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

_RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
_PUBLIC_KEY_TYPES = (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)
_EC = {"secp256r1": ["ES256"], "secp384r1": ["ES384"], "secp521r1": ["ES512"]}


class Permission(enum.Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_IMPLIED = {
    Permission.ADMIN: {Permission.ADMIN, Permission.WRITE, Permission.READ},
    Permission.WRITE: {Permission.WRITE, Permission.READ},
    Permission.READ: {Permission.READ},
}


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for."""

    subject: str
    tenant: str
    permissions: frozenset[Permission]
    expires_at: float

    def may(self, needed: Permission) -> bool:
        return any(needed in _IMPLIED[held] for held in self.permissions)


class TokenRejected(Exception):
    """Why a token is refused; `reason` is the ErrorInfo reason the caller sees."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class TokenVerifier:
    """Verifies tokens against the key in `key_file` for `issuer` and `audience`."""

    def __init__(self, key_file: Path, *, issuer: str, audience: str) -> None:
        self._key_file = key_file
        self._issuer = issuer
        self._audience = audience
        self._lock = threading.Lock()
        self._keys = _KeySet.load(key_file)
        self._checked_at = time.monotonic()
        self._cache: OrderedDict[str, Caller] = OrderedDict()

    def verify(self, token: str) -> Caller:
        now = time.time()
        self._reload_if_changed()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at + LEEWAY_S > now:
                return cached
            self._cache.pop(token, None)
        caller = self._verify(token)
        self._cache[token] = caller
        while len(self._cache) > MAX_CACHED_TOKENS:
            self._cache.popitem(last=False)
        return caller

    def _verify(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("TOKEN_MALFORMED", f"the token is over {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise TokenRejected("TOKEN_MALFORMED", f"the token is not a JWT: {error}") from error
        key, algorithms = self._keys.for_header(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRejected("TOKEN_EXPIRED", "the token has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise TokenRejected("TOKEN_NOT_YET_VALID", "the token is not valid yet") from error
        except jwt.InvalidAudienceError as error:
            raise TokenRejected(
                "TOKEN_WRONG_AUDIENCE", f"the token is not meant for {self._audience!r}"
            ) from error
        except jwt.InvalidIssuerError as error:
            raise TokenRejected(
                "TOKEN_WRONG_ISSUER", f"the token was not issued by {self._issuer!r}"
            ) from error
        except jwt.InvalidSignatureError as error:
            raise TokenRejected("TOKEN_BAD_SIGNATURE", "the token's signature is wrong") from error
        except jwt.InvalidTokenError as error:
            raise TokenRejected("TOKEN_INVALID", f"the token is invalid: {error}") from error
        return _caller(claims)

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < KEY_RECHECK_S:
            return
        with self._lock:
            self._checked_at = now
            try:
                changed = self._key_file.stat().st_mtime_ns != self._keys.mtime_ns
            except OSError:
                return  # keep the key in hand while the file is being replaced
            if changed:
                try:
                    self._keys = _KeySet.load(self._key_file)
                except ValueError:
                    return  # half-written: the next look reads the finished file
                self._cache.clear()


def _caller(claims: dict[str, Any]) -> Caller:
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise TokenRejected(
            "TOKEN_CLAIMS", "the token's `tenant` claim must be a name such as `acme`"
        )
    granted = claims.get("permissions", [])
    if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
        raise TokenRejected("TOKEN_CLAIMS", "the token's `permissions` claim must be a list")
    known = {p.value: p for p in Permission}
    subject = claims.get("sub", "")
    return Caller(
        subject=subject if isinstance(subject, str) else str(subject),
        tenant=tenant,
        # Names this version does not know grant nothing (a newer issuer's are ignored).
        permissions=frozenset(known[p] for p in granted if p in known),
        expires_at=float(claims["exp"]),
    )


@dataclass(frozen=True)
class _KeySet:
    keys: dict[str | None, tuple[Any, list[str]]]
    mtime_ns: int

    @classmethod
    def load(cls, path: Path) -> _KeySet:
        try:
            mtime_ns = path.stat().st_mtime_ns
            text = path.read_text()
        except OSError as error:
            raise ValueError(f"cannot read the token key {path}: {error.strerror}") from error
        if text.lstrip().startswith("{"):
            return cls(_jwks(text, path), mtime_ns)
        try:
            public = serialization.load_pem_public_key(text.encode())
        except ValueError as error:
            raise ValueError(f"{path}: not a PEM public key nor a JWKS document") from error
        return cls({None: (public, _algorithms(public, path))}, mtime_ns)

    def for_header(self, header: dict[str, Any]) -> tuple[Any, list[str]]:
        kid = header.get("kid")
        if kid in self.keys:
            return self.keys[kid]
        if len(self.keys) == 1 and (kid is None or None in self.keys):
            return next(iter(self.keys.values()))
        raise TokenRejected("TOKEN_UNKNOWN_KEY", f"no key with id {kid!r} verifies tokens here")


def _jwks(text: str, path: Path) -> dict[str | None, tuple[Any, list[str]]]:
    try:
        keys = jwt.PyJWKSet.from_json(text).keys
    except (jwt.PyJWKSetError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a usable JWKS document: {error}") from error
    found: dict[str | None, tuple[Any, list[str]]] = {}
    for key in keys:
        public = key.key
        if not isinstance(public, _PUBLIC_KEY_TYPES):
            continue  # private or symmetric keys never verify tokens here
        found[key.key_id] = (public, _algorithms(public, path))
    if not found:
        raise ValueError(f"{path}: the JWKS document holds no public key")
    return found


def _algorithms(public: Any, path: Path) -> list[str]:
    if isinstance(public, rsa.RSAPublicKey):
        return list(_RSA)
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _EC:
        return list(_EC[public.curve.name])
    if isinstance(public, ed25519.Ed25519PublicKey):
        return ["EdDSA"]
    raise ValueError(f"{path}: an EC (P-256/384/521), RSA or Ed25519 public key is needed")


# Issuing: `aura token` and tests ------------------------------------------------------


def make_signing_key(directory: Path) -> tuple[Path, Path]:
    """An EC P-256 key pair for signing tokens: (private key, public key), kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "token-signing.key", directory / "token-signing.pub"
    if not private_path.exists():
        private = ec.generate_private_key(ec.SECP256R1())
        private_path.touch(mode=0o600)
        private_path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    if not public_path.exists():
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), None)
        public_path.write_bytes(
            private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private_path, public_path


def issue_token(
    private_key: Path,
    *,
    tenant: str,
    permissions: Iterable[Permission],
    issuer: str,
    audience: str,
    subject: str = "aura-cli",
    valid_s: float = 3600.0,
    not_before: float | None = None,
    key_id: str | None = None,
) -> str:
    """A token signed with `private_key` (PEM, EC P-256 -> ES256)."""
    now = time.time()
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": int(now),
        "nbf": int(now if not_before is None else not_before),
        "exp": int(now + valid_s),
        "tenant": tenant,
        "permissions": [p.value for p in permissions],
    }
    key = serialization.load_pem_private_key(private_key.read_bytes(), None)
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)  # type: ignore[arg-type]
