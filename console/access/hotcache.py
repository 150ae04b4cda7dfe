"""Process-local caches for the decision hot path.

A proxy asks for a decision on every request, so the common case must not touch the database.
Each process keeps what decisions read (applications, compiled policies, API and service tokens,
people and their groups, devices, open sessions, the signing key) in memory, tagged with a
version number kept in the shared cache. Any change that can alter a decision bumps the version
after it commits; every decision reads the version (and the revocation markers of the sessions
it is about) in one round trip to the shared cache, and a process that sees a new version drops
everything it cached.

Revoked sessions get a marker in the shared cache until they would have expired, so revocation
takes effect at the next decision in every process without a database read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

VERSION_KEY = "access:version"
REVOKED_PREFIX = "access:revoked:"

_lock = threading.Lock()
_tables: dict[str, dict[Any, Any]] = {}
_state = {"version": None, "synced_at": 0.0}


def bump_version() -> None:
    """Tell every process that what decisions read has changed (call after commit)."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, 1, timeout=None)
        cache.incr(VERSION_KEY)


def _apply(version: Any) -> None:
    version = version or 0
    with _lock:
        if version != _state["version"]:
            _tables.clear()
            _state["version"] = version
        _state["synced_at"] = time.monotonic()


def sync(extra_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Read the version and ``extra_keys`` in one round trip; drop stale caches."""
    keys = [VERSION_KEY, *extra_keys]
    values = cache.get_many(keys)
    _apply(values.get(VERSION_KEY))
    return values


def ensure_fresh() -> None:
    """For callers outside the hot path: re-read the version if it is older than
    ``ACCESS_CACHE_SECONDS`` (0 means on every call)."""
    if time.monotonic() - _state["synced_at"] >= settings.ACCESS_CACHE_SECONDS:
        _apply(cache.get(VERSION_KEY))


def table(name: str) -> dict[Any, Any]:
    if not settings.ACCESS_HOT_CACHE:
        return {}  # nothing kept: every decision reads the database (the test suite's default)
    found = _tables.get(name)
    if found is None:
        with _lock:
            found = _tables.setdefault(name, {})
    return found


def clear() -> None:
    with _lock:
        _tables.clear()
        _state["version"] = None
        _state["synced_at"] = 0.0


def revoked_key(session_id: Any) -> str:
    return f"{REVOKED_PREFIX}{session_id}"


def mark_revoked(sessions: Iterable[tuple[Any, datetime]]) -> None:
    """Remember revoked sessions until they would have expired anyway."""
    now = timezone.now()
    longest = 0
    markers = {}
    for session_id, expires_at in sessions:
        remaining = int((expires_at - now).total_seconds()) + 60
        if remaining > 0:
            markers[revoked_key(session_id)] = True
            longest = max(longest, remaining)
    if markers:
        cache.set_many(markers, timeout=longest)
