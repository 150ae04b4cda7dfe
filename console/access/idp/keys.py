"""The keys that sign ID tokens: RS256, generated here on first use and stored encrypted at rest
(``ProviderKey``), found and loaded through the console's signing-key helpers
(``console.core.signing_keys``) like the Access and SSF keys. ``rotate()`` starts a new key;
the old one stays in the JWKS for ``ProviderKey.ROTATION_OVERLAP``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone
from jwcrypto import jwk

from console.access.idp.models import ProviderKey
from console.core import signing_keys

ALGORITHM = "RS256"
_private = signing_keys.PrivateKeys()


def _new_key() -> ProviderKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = jwk.JWK.from_pyca(private.public_key())
    data: dict[str, Any] = json.loads(public.export_public())
    kid = hashlib.sha256(f"{data['n']}{data['e']}".encode()).hexdigest()[:32]
    data.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return ProviderKey(kid=kid, private_pem=pem, public_jwk=data)


def current_key() -> ProviderKey:
    """The key that signs ID tokens now, made on first use."""
    return signing_keys.current_key(ProviderKey, _new_key)


def signing_jwk(key: ProviderKey) -> jwk.JWK:
    """The private half of ``key`` as jwcrypto signs with it (loaded once per process)."""
    private, _ = _private.get(key)
    return jwk.JWK.from_pyca(private)


def public_jwk(kid: str) -> jwk.JWK | None:
    """The published public key with this kid, or None (unknown or no longer published)."""
    key = ProviderKey.objects.filter(kid=kid).first()
    if key is None or not key.published:
        return None
    return jwk.JWK(**key.public_jwk)


def jwks() -> dict[str, list[dict[str, Any]]]:
    current_key()  # the key that will sign is always published
    return {"keys": [k.public_jwk for k in ProviderKey.objects.order_by("-created_at") if k.published]}


def rotate() -> ProviderKey:
    """Retire the signing key and start a new one."""
    with transaction.atomic():
        ProviderKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
        key = _new_key()
        key.save()
    return key
