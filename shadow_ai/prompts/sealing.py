"""Sealing prompt-log content to the organization's public key: HPKE (RFC 9180) in base mode
with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305, single-shot, from
``cryptography``. The server holds only public keys: it can seal, never open.

A sealed blob is the KEM's encapsulated key (32 bytes) followed by the AEAD ciphertext. The HPKE
``info`` binds each blob to its log entry (``info_for(uid)``), so a blob copied onto another
entry does not open. ``open_sealed`` is here for the offline decryption tool and the tests; the
console never calls it.

Public keys are accepted as the raw 32 bytes in base64 (what ``python -m
shadow_ai.prompts.offline keygen`` prints) or as a PEM ``PUBLIC KEY`` block."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305"
ENC_BYTES = 32
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


class KeyError_(ValueError):
    """A public or private key that cannot be used; the message says why."""


def info_for(uid: str) -> bytes:
    return f"zero-trust-console prompt-log v1 {uid}".encode()


def parse_public_key(text: str) -> bytes:
    """The raw 32-byte X25519 public key in ``text`` (base64 or PEM), or ``KeyError_``."""
    text = (text or "").strip()
    if not text:
        raise KeyError_("Paste the public key.")
    if "PRIVATE KEY" in text:
        raise KeyError_("That is a private key. Paste only the public key; the private key never leaves "
                        "your hands.")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise KeyError_("The PEM block is not a readable public key.") from None
        if not isinstance(key, X25519PublicKey):
            raise KeyError_("The key must be an X25519 key.")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_("The key is neither base64 nor a PEM block.") from None
    if len(raw) != 32:
        raise KeyError_(f"An X25519 public key is 32 bytes; this one is {len(raw)}.")
    if raw == bytes(32):
        raise KeyError_("That key is all zeros: generate a real key pair.")
    return raw


def fingerprint(raw: bytes) -> str:
    """SHA-256 of the raw public key, hex, grouped for reading aloud."""
    digest = hashlib.sha256(raw).hexdigest()
    return ":".join(digest[i:i + 4] for i in range(0, 32, 4))


def seal(plaintext: bytes, public_key: bytes, uid: str) -> bytes:
    return _SUITE.encrypt(plaintext, X25519PublicKey.from_public_bytes(public_key), info=info_for(uid))


def open_sealed(sealed: bytes, private_key: X25519PrivateKey, uid: str) -> bytes:
    return _SUITE.decrypt(sealed, private_key, info=info_for(uid))


def load_private_key(data: bytes) -> X25519PrivateKey:
    """A private key from a PEM file or the raw 32 bytes in base64."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(text, password=None)
    else:
        key = X25519PrivateKey.from_private_bytes(base64.b64decode(text))
    if not isinstance(key, X25519PrivateKey):
        raise KeyError_("The private key must be an X25519 key.")
    return key
