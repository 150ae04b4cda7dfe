"""The transmitter's own signing keys: RSA 2048, RS256 (the algorithm receivers such as Okta
expect), private halves encrypted at rest, rotatable, retired keys published for a while."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone

from console.audit.services import audit_record
from console.core import signing_keys
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.ssf.models import SigningKey

ALGORITHM = "RS256"
SET_TYPE = "secevent+jwt"
_private = signing_keys.PrivateKeys()


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _new_key(created_by_email: str = "") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = {"kty": "RSA", "n": _b64(numbers.n), "e": _b64(numbers.e), "alg": ALGORITHM, "use": "sig"}
    # RFC 7638 thumbprint: stable, and derivable by anyone holding the public key.
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    jwk["kid"] = kid
    return SigningKey(kid=kid, private_pem=pem, public_jwk=jwk, created_by_email=created_by_email)


def current_key() -> SigningKey:
    """The signing key, created on first use."""
    return signing_keys.current_key(SigningKey, _new_key)


def jwks() -> dict[str, list[dict]]:
    """The public keys receivers verify SETs with: the signing key and recently retired ones."""
    return {"keys": [k.public_jwk for k in SigningKey.objects.order_by("-created_at") if k.published]}


def _signer(key: SigningKey) -> Any:
    return _private.get(key)[0]


def sign(claims: dict[str, Any]) -> str:
    """A signed, explicitly typed SET (``typ: secevent+jwt``, RS256, ``kid`` of the key)."""
    key = current_key()
    return jwt.encode(claims, _signer(key), algorithm=ALGORITHM, headers={"kid": key.kid, "typ": SET_TYPE})


def key_rotate(*, actor) -> SigningKey:
    """Retire the signing key and start a new one; the old one stays in the JWKS for
    ``SSF_KEY_RETENTION_DAYS`` days."""
    require_role(actor, ADMINS, "rotate signing keys")
    with transaction.atomic():
        retired = list(SigningKey.objects.select_for_update().filter(retired_at__isnull=True))
        now = timezone.now()
        SigningKey.objects.filter(pk__in=[k.pk for k in retired]).update(retired_at=now)
        key = _new_key(created_by_email=actor.email)
        key.save()
        audit_record(actor=actor, action="ssf.key.rotated", obj=key,
                     changes={"retired": [k.kid for k in retired], "new": key.kid})
    return key
