"""Rate limits in the shared cache, for verification steps that need a ceiling beyond
django-axes' per-account lockout (for example, many accounts tried from one address)."""

from __future__ import annotations

import math
import time

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one attempt; True while the caller is within ``limit`` attempts per ``window`` s.

    A sliding-window counter: this window's count plus the previous window's, weighted by how
    much of it still lies within the last ``window`` seconds. Plain fixed windows would let
    twice the limit through around a boundary (a burst at the end of one and the start of the
    next)."""
    now = time.time()
    bucket = int(now // window)
    current = f"ratelimit:{scope}:{key}:{bucket}"
    if cache.add(current, 1, timeout=2 * window + 1):  # kept through the next window too
        count = 1
    else:
        try:
            count = cache.incr(current)
        except ValueError:  # expired between add and incr
            cache.add(current, 1, timeout=2 * window + 1)
            count = 1
    previous = cache.get(f"ratelimit:{scope}:{key}:{bucket - 1}", 0)
    overlap = 1 - (now % window) / window
    return count + previous * overlap <= limit


def retry_after(scope: str, key: str, *, limit: int, window: int) -> int:
    """Seconds until ``hit`` would let one more attempt through (0: now), counting the attempts
    already made and assuming no others, so a refusal can say how long to wait."""
    now = time.time()
    bucket = int(now // window)
    current = cache.get(f"ratelimit:{scope}:{key}:{bucket}", 0)
    previous = cache.get(f"ratelimit:{scope}:{key}:{bucket - 1}", 0)
    start = bucket * window
    # In this window the next attempt counts current + 1 plus the previous window's share, which
    # shrinks as time passes; in the next window it counts 1 plus this window's share.
    room = limit - current - 1
    if room >= 0:
        if previous <= room:
            return 0
        return max(0, math.ceil(start + window * (1 - room / previous) - now))
    return max(1, math.ceil(start + window * (2 - (limit - 1) / current) - now))


def once_per(scope: str, key: str, *, seconds: int) -> bool:
    """True at most once per ``seconds`` for this key, counted from the last allowed call."""
    return cache.add(f"once:{scope}:{key}", 1, timeout=max(int(seconds), 1))
