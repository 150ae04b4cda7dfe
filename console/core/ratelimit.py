"""A fixed-window counter in the shared cache, for verification steps that need a ceiling
beyond django-axes' per-account lockout (for example, many accounts tried from one address)."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one attempt; True while the caller is within ``limit`` attempts per ``window`` s."""
    bucket = int(time.time() // window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    if cache.add(cache_key, 1, timeout=window + 1):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window + 1)
        return True
    return count <= limit


def once_per(scope: str, key: str, *, seconds: int) -> bool:
    """True at most once per ``seconds`` for this key (a sliding interval from the last allowed
    call, unlike ``hit``'s fixed windows, which would let two calls through across a boundary)."""
    return cache.add(f"once:{scope}:{key}", 1, timeout=max(int(seconds), 1))
