"""What the console's token signers share (Access's application tokens, the SSF transmitter's
SETs): finding the key that signs now, and keeping loaded private keys in memory.

Each signer has its own key model with at least ``kid``, ``private_pem``, ``created_at`` and
``retired_at``, and its own algorithm; this module knows nothing else about them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from django.db import models, transaction

from console.core.lru import LRUCache


class StoredKey(Protocol):
    kid: str
    private_pem: str


def current_key[K: models.Model](model: type[K], new_key: Callable[[], K]) -> K:
    """The newest key of ``model`` that is not retired; ``new_key()`` makes (unsaved) the first
    one when there is none."""
    manager = model._default_manager
    key = manager.filter(retired_at__isnull=True).order_by("-created_at").first()
    if key is not None:
        return key
    with transaction.atomic():
        key = manager.select_for_update().filter(retired_at__isnull=True).first()
        if key is None:
            key = new_key()
            key.save()
    return key


class PrivateKeys:
    """Private keys loaded from their PEM, by kid: only stored keys, and bounded anyway."""

    def __init__(self, size: int = 64) -> None:
        self.lock = threading.Lock()
        self._loaded: LRUCache[str, Any] = LRUCache(size)

    def get(self, key: StoredKey) -> tuple[Any, bool]:
        """The key's private half, and whether it was loaded now (not found in memory)."""
        found = self._loaded.get(key.kid)
        if found is not None:
            return found, False
        found = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        with self.lock:
            self._loaded[key.kid] = found
        return found, True
