"""Encryption of secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

``FIELD_ENCRYPTION_KEYS`` holds one or more keys: the first encrypts, every key decrypts, so a
new key can be put first and old rows re-encrypted at leisure (``manage.py rotate_secrets``)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be url-safe base64 Fernet keys (32 bytes each)"
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: "
            "was a key removed before its rows were rotated?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored token under the first (newest) key."""
    return _current().rotate(token.encode()).decode()
