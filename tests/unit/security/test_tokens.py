"""TokenVerifier: what a bearer token must be to name a caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from orchestrator.security import (
    Permission,
    TokenRejected,
    TokenVerifier,
    issue_token,
    make_signing_key,
)
from orchestrator.security.tokens import KEY_RECHECK_S

ISSUER, AUDIENCE = "aura", "aura-orchestrator"
#: Stands for "ten minutes from now" in a parameter list made long before the test runs.
NOT_YET = object()


def _verifier(public: Path) -> TokenVerifier:
    return TokenVerifier(public, issuer=ISSUER, audience=AUDIENCE)


def _token(private: Path, *permissions: Permission, **claims: object) -> str:
    fields: dict[str, object] = {"tenant": "acme", "issuer": ISSUER, "audience": AUDIENCE} | claims
    return issue_token(private, permissions=permissions, **fields)  # type: ignore[arg-type]


def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    return rejected.value.reason


@pytest.fixture(name="pair")
def pair_fixture(tmp_path: Path) -> tuple[Path, Path]:
    return make_signing_key(tmp_path / "keys")


def test_a_valid_token_names_its_tenant_subject_and_permissions(pair: tuple[Path, Path]) -> None:
    private, public = pair
    caller = _verifier(public).verify(_token(private, Permission.WRITE, subject="ci"))
    assert (caller.tenant, caller.subject) == ("acme", "ci")
    assert caller.may(Permission.WRITE) and caller.may(Permission.READ)
    assert not caller.may(Permission.ADMIN)


def test_admin_implies_every_permission(pair: tuple[Path, Path]) -> None:
    private, public = pair
    caller = _verifier(public).verify(_token(private, Permission.ADMIN))
    assert all(caller.may(p) for p in Permission)


def test_unknown_permission_names_grant_nothing(pair: tuple[Path, Path]) -> None:
    private, public = pair
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    token = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": int(time.time()) + 60,
            "tenant": "acme",
            "permissions": ["superuser"],
        },
        key,  # type: ignore[arg-type]
        algorithm="ES256",
    )
    assert _verifier(public).verify(token).permissions == frozenset()


def test_the_token_cannot_choose_its_algorithm(pair: tuple[Path, Path]) -> None:
    _, public = pair
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "tenant": "acme"}
    unsigned = jwt.encode(claims, None, algorithm="none")
    # The classic confusion: HMAC keyed with the (public) verification key's bytes.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(public.read_bytes(), header + b"." + body, hashlib.sha256).digest()
    confused = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    verifier = _verifier(public)
    assert _reason(verifier, unsigned) == "TOKEN_INVALID"
    assert _reason(verifier, confused) == "TOKEN_INVALID"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"valid_s": -120.0}, "TOKEN_EXPIRED"),
        ({"not_before": NOT_YET}, "TOKEN_NOT_YET_VALID"),
        ({"audience": "another-service"}, "TOKEN_WRONG_AUDIENCE"),
        ({"issuer": "mallory"}, "TOKEN_WRONG_ISSUER"),
        ({"tenant": "Not A Tenant!"}, "TOKEN_CLAIMS"),
    ],
)
def test_claims_that_refuse_a_token(
    pair: tuple[Path, Path], claims: dict[str, object], reason: str
) -> None:
    private, public = pair
    if claims.get("not_before") is NOT_YET:  # ten minutes from the test's own now
        claims = {**claims, "not_before": time.time() + 600}
    assert _reason(_verifier(public), _token(private, Permission.READ, **claims)) == reason


def test_a_token_signed_by_another_key_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, public = pair
    other, _ = make_signing_key(tmp_path / "other")
    assert _reason(_verifier(public), _token(other, Permission.READ)) == "TOKEN_BAD_SIGNATURE"


def test_garbage_and_oversized_tokens_are_malformed(pair: tuple[Path, Path]) -> None:
    verifier = _verifier(pair[1])
    assert _reason(verifier, "garbage") == "TOKEN_MALFORMED"
    assert _reason(verifier, "a" * 10_000) == "TOKEN_MALFORMED"


def test_a_jwks_file_picks_the_key_by_its_id(pair: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = pair
    other = ec.generate_private_key(ec.SECP256R1())
    ours = json.loads(
        jwt.algorithms.ECAlgorithm.to_jwk(serialization.load_pem_public_key(public.read_bytes()))
    )  # type: ignore[arg-type]
    theirs = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(other.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ours | {"kid": "2026-a"}, theirs | {"kid": "2026-b"}]}))
    verifier = _verifier(jwks)
    assert verifier.verify(_token(private, Permission.READ, key_id="2026-a")).tenant == "acme"
    assert _reason(verifier, _token(private, Permission.READ, key_id="2026-b")) == (
        "TOKEN_BAD_SIGNATURE"
    )
    assert _reason(verifier, _token(private, Permission.READ, key_id="gone")) == (
        "TOKEN_UNKNOWN_KEY"
    )


def test_a_rotated_key_file_is_read_without_a_restart(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = pair
    verifier = _verifier(public)
    old = _token(private, Permission.READ)
    assert verifier.verify(old).tenant == "acme"
    new_private, new_public = make_signing_key(tmp_path / "new")
    public.write_bytes(new_public.read_bytes())
    stamp = time.time() + 5
    os.utime(public, (stamp, stamp))
    clock = time.monotonic() + KEY_RECHECK_S + 1
    monkeypatch.setattr("orchestrator.security.tokens.time.monotonic", lambda: clock)
    assert _reason(verifier, old) == "TOKEN_BAD_SIGNATURE"  # the cache went with the key
    assert verifier.verify(_token(new_private, Permission.READ)).tenant == "acme"


def test_a_key_file_that_is_not_a_key_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "key.pub"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a PEM public key nor a JWKS document"):
        _verifier(bad)
