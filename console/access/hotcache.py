"""Process-local caches for the decision hot path.

What reaches a decision how fast:

* A revoked session's token is refused at the very next decision in every process: decisions
  about a token always read its revocation marker from the shared cache.
* Any other change (policies, applications, people and groups, devices, tokens) reaches every
  process within ``ACCESS_CACHE_SECONDS`` (1 s by default): decisions re-read the shared version
  at most that often, and at once in the process that made the change.


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
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

from console.core.lru import LRUCache

VERSION_KEY = "access:version"
REVOKED_PREFIX = "access:revoked:"


class _Config:
    """The settings the hot path reads, copied once (settings access is not free at this rate)."""

    def __init__(self) -> None:
        self.loaded = False

    def load(self) -> _Config:
        self.enabled = settings.ACCESS_HOT_CACHE
        self.ttl = settings.ACCESS_CACHE_SECONDS
        self.buffered = settings.ACCESS_LOG_BUFFERED
        self.session_write_seconds = settings.ACCESS_SESSION_WRITE_SECONDS
        self.max_entries = settings.ACCESS_CACHE_MAX_ENTRIES
        self.issuer = settings.ACCESS_TOKEN_ISSUER
        self.loaded = True
        return self


_config = _Config()


def config() -> _Config:
    return _config if _config.loaded else _config.load()


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("ACCESS_") or setting == "CACHES":
        _config.loaded = False
        shared.reset()
        clear()  # tables are sized by ACCESS_CACHE_MAX_ENTRIES


class _Shared:
    """The shared store: Redis directly when the cache is Redis (one client per process; Django's
    cache builds a new client object per call, which costs more than the round trip), otherwise
    Django's cache (the embedded default's file cache)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._redis = None
        self._checked = False
        self._prefix = ""

    def _client(self):
        if self._checked:
            return self._redis
        url = getattr(settings, "CACHE_URL", "")
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            self._redis = redis.Redis.from_url(url)
            self._prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:hot:"
        self._checked = True
        return self._redis

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        client = self._client()
        if client is None:
            return cache.get_many(keys)
        values = client.mget([self._prefix + k for k in keys])
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

    def incr(self, key: str) -> None:
        client = self._client()
        if client is None:
            try:
                cache.incr(key)
            except ValueError:
                cache.add(key, 0, timeout=None)
                cache.incr(key)
            return
        client.incr(self._prefix + key)

    def set_many(self, mapping: dict[str, Any], timeout: int) -> None:
        client = self._client()
        if client is None:
            cache.set_many(mapping, timeout=timeout)
            return
        with client.pipeline(transaction=False) as pipe:
            for key in mapping:
                pipe.set(self._prefix + key, b"1", ex=timeout)
            pipe.execute()


shared = _Shared()

_lock = threading.Lock()
_tables: dict[str, LRUCache[Any, Any]] = {}  # named by code, never by request input
_state = {"version": None, "synced_at": 0.0}


def bump_version() -> None:
    """Tell every process that what decisions read has changed (call after commit). This
    process forgets at once; the others at their next read of the version."""
    shared.incr(VERSION_KEY)
    clear()


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
    values = shared.get_many(keys)
    _apply(values.get(VERSION_KEY))
    return values


def is_stale() -> bool:
    return time.monotonic() - _state["synced_at"] >= config().ttl


def ensure_fresh() -> None:
    """For callers outside the hot path: re-read the version if it is older than
    ``ACCESS_CACHE_SECONDS`` (0 means on every call)."""
    if time.monotonic() - _state["synced_at"] >= config().ttl:
        _apply(shared.get_many([VERSION_KEY]).get(VERSION_KEY))


def table(name: str) -> LRUCache[Any, Any] | dict[Any, Any]:
    """The process cache ``name``: at most ``ACCESS_CACHE_MAX_ENTRIES`` entries, the least
    recently used dropped first, so keys taken from requests (host names and paths, e-mail
    addresses, token prefixes) cannot grow the process without bound. Callers must treat any
    entry as possibly gone (a miss reads the database) and must not keep misses for keys a
    caller chose (``console.access.decisions._cached``)."""
    settings_now = config()
    if not settings_now.enabled:
        return {}  # nothing kept: every decision reads the database (the test suite's default)
    found = _tables.get(name)
    if found is None:
        with _lock:
            found = _tables.get(name)
            if found is None:
                found = _tables[name] = LRUCache(settings_now.max_entries)
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
        shared.set_many(markers, timeout=longest)
