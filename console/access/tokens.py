"""Application tokens: ES256-signed JWTs whose audience is the application's ``aud`` tag and
whose ``jti`` is the Access session, so a proxy can verify them offline with the JWKS and the
decision API can refuse a revoked one.

ES256 rather than RS256: signing is an order of magnitude cheaper, and every JOSE library a
proxy would use verifies it."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.utils import timezone

from console.access.models import SigningKey
from console.core import signing_keys
from console.core.lru import LRUCache

ALGORITHM = "ES256"
_private = signing_keys.PrivateKeys()
_lock = _private.lock
# kid → (public key, time.time() until which it may be used without asking the database again):
# a key retired in another process stops verifying here too, at the latest when its
# publication ends or PUBLIC_KEY_RECHECK_SECONDS after it was read.
_public: LRUCache[str, tuple[Any, float]] = LRUCache(64)
PUBLIC_KEY_RECHECK_SECONDS = 300


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _new_key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y), "alg": ALGORITHM, "use": "sig"}
    kid = hashlib.sha256(f"{jwk['x']}{jwk['y']}".encode()).hexdigest()[:32]
    jwk["kid"] = kid
    return SigningKey(kid=kid, private_pem=pem, public_jwk=jwk)


def current_key() -> SigningKey:
    """The key that signs application tokens, created on first use."""
    return signing_keys.current_key(SigningKey, _new_key)


def _signer(key: SigningKey):
    found, loaded = _private.get(key)
    if loaded:
        with _lock:
            _public[key.kid] = (found.public_key(), _recheck_at(key))
    return found


def _recheck_at(key: SigningKey) -> float:
    until = time.time() + PUBLIC_KEY_RECHECK_SECONDS
    if key.published_until is not None:
        until = min(until, key.published_until.timestamp())
    return until


def _public_key(kid: str) -> Any:
    now = time.time()
    cached = _public.get(kid)
    if cached is not None and cached[1] > now:
        return cached[0]
    key = SigningKey.objects.filter(kid=kid).first()
    if key is None or not key.published:
        _public.pop(kid, None)
        raise jwt.InvalidTokenError("unknown signing key")
    public = jwt.PyJWK(key.public_jwk).key
    with _lock:
        _public[kid] = (public, _recheck_at(key))
    return public


def jwks() -> dict:
    keys = [k.public_jwk for k in SigningKey.objects.all() if k.published]
    return {"keys": keys}


def issue(*, key: SigningKey, issuer: str, audience: str, subject: str, session_id: str,
          expires_at: datetime, issued_at: datetime, claims: dict[str, Any]) -> str:
    payload = {
        "iss": issuer, "aud": [audience], "sub": subject, "jti": session_id,
        "iat": int(issued_at.timestamp()), "nbf": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()), **claims,
    }
    return jwt.encode(payload, _signer(key), algorithm=ALGORITHM, headers={"kid": key.kid})


# token, audience, issuer → (claims, expiry, kid): a proxy asks about the same cookie on every
# request, and the signature check is most of a decision's cost. An entry is used only while the
# token has not expired and its signing key may still be trusted without asking the database
# (``_public``: a retired key's publication end, PUBLIC_KEY_RECHECK_SECONDS).
_verified: LRUCache[tuple[str, str, str], tuple[dict[str, Any], float, str]] = LRUCache(4096)


def verify(token: str, *, audience: str, issuer: str) -> dict[str, Any]:
    """The token's claims; raises ``jwt.InvalidTokenError`` for any problem."""
    key = (token, audience, issuer)
    cached = _verified.get(key)
    now = time.time()
    if cached is not None:
        public = _public.get(cached[2])
        if cached[1] > now and public is not None and public[1] > now:
            return dict(cached[0])
        _verified.pop(key, None)
    claims = _verify(token, audience=audience, issuer=issuer)
    _verified[key] = (dict(claims), float(claims["exp"]), jwt.get_unverified_header(token)["kid"])
    return claims


def _verify(token: str, *, audience: str, issuer: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise jwt.InvalidTokenError("the token names no signing key")
    public = _public_key(kid)
    return jwt.decode(
        token, public, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
        options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
    )


def rotate() -> SigningKey:
    """Retire the signing key and start a new one; the old one stays published for a month."""

    with transaction.atomic():
        SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
        key = _new_key()
        key.save()
    return key
