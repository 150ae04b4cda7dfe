"""Which console session (browser) a verification belongs to.

Each console session holds a random binding secret in its data. Verifications (MFA and identity
verification) store a keyed hash of it, and so do the Access sessions a browser opens; a decision
about an Access session counts only the verifications whose hash matches. The secret lives in
the session data rather than being the session key because sign-in rotates the key
(``cycle_key`` keeps the data): verifications made after sign-in keep their binding. Signing out
(or signing in as someone else) flushes the data, and with it the binding. Neither the secret nor
the session key is ever stored outside the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings

BINDING_KEY = "verification_binding"


def _hash(secret: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"verification-binding:{secret}".encode(),
                    hashlib.sha256).hexdigest()


def session_hash(session: MutableMapping[str, Any]) -> str:
    """The keyed hash identifying this console session, creating its binding secret on first use."""
    secret = session.get(BINDING_KEY)
    if not isinstance(secret, str) or len(secret) < 32:
        secret = secrets.token_urlsafe(32)
        session[BINDING_KEY] = secret
    return _hash(secret)


def existing_session_hash(session: MutableMapping[str, Any] | None) -> str:
    """The hash of a session that already has a binding, or "" (nothing can be bound to it yet)."""
    secret = session.get(BINDING_KEY) if session is not None else None
    return _hash(secret) if isinstance(secret, str) and len(secret) >= 32 else ""
