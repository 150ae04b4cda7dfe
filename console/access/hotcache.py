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

**The database is the source of truth for revocations; Redis only makes them fast.** With Redis,
the version, an *epoch* and one marker per revoked, not yet expired session are fields of one
hash (``access:state``), read with one ``HMGET``. The epoch is written, in the same ``MULTI`` as
the markers, only when the marker set is rebuilt from the database. Redis losing its data (a
restart without persistence, a crash, the hash evicted) loses the epoch with the markers, so a
missing marker is never read as "not revoked" unless the epoch is there: without it the sessions
in question are looked up in the database, and one process (under a short lock) rebuilds the
markers of every revoked, unexpired session before writing a new epoch. A new epoch also makes
every process drop its caches, like a new version. Without Redis (the embedded default's file
cache, which culls entries at will) revocations are read from the database."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from console.access.models import AccessSession
from console.core.lru import LRUCache

log = logging.getLogger(__name__)

VERSION_KEY = "access:version"  # the file cache's key (with Redis: a field of STATE_KEY)
STATE_KEY = "access:state"  # the Redis hash: version, epoch and r:<session id> markers
REBUILD_LOCK_KEY = "access:state:rebuilding"
MARKER_GRACE_SECONDS = 60  # markers outlive their session's expiry by this much (clock skew)
PRUNE_EVERY_SECONDS = 600


class _Config:
    """The settings the hot path reads, copied once (settings access is not free at this rate)."""

    def __init__(self) -> None:
        self.loaded = False

    def load(self) -> _Config:
        self.enabled = settings.ACCESS_HOT_CACHE
        self.ttl = settings.ACCESS_CACHE_SECONDS
        self.buffered = settings.ACCESS_LOG_BUFFERED
        self.spool_max_bytes = settings.ACCESS_LOG_SPOOL_MAX_BYTES
        self.spool_fsync_each = settings.ACCESS_LOG_SPOOL_FSYNC_EACH
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


def redis_client(url: str):
    """A Redis client with the cache's timeouts (``CACHE_SOCKET_TIMEOUT``,
    ``CACHE_CONNECT_TIMEOUT``) and one quick retry, so a Redis that hangs costs a decision about
    two timeouts, never forever."""

    return redis.Redis.from_url(
        url, socket_timeout=settings.CACHE_SOCKET_TIMEOUT, socket_connect_timeout=settings.CACHE_CONNECT_TIMEOUT,
        retry=Retry(NoBackoff(), settings.CACHE_RETRIES),
    )


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
        self._pruned_at = 0.0

    def _client(self):
        if self._checked:
            return self._redis
        url = getattr(settings, "CACHE_URL", "")
        if url.startswith(("redis://", "rediss://", "unix://")):
            self._redis = redis_client(url)
            self._prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:hot:"
        self._checked = True
        return self._redis

    @property
    def is_redis(self) -> bool:
        return self._client() is not None

    def read(self, session_ids: list[str]) -> tuple[Any, Any, set[str]]:
        """(version, epoch, the revoked ones among ``session_ids``) in one round trip. The epoch
        is ``None`` when the markers cannot be trusted (Redis lost them, or there is no Redis)."""
        client = self._client()
        if client is None:
            return cache.get(VERSION_KEY), None, set()
        values = client.hmget(self._prefix + STATE_KEY, ["version", "epoch", *(f"r:{s}" for s in session_ids)])
        revoked = {s for s, v in zip(session_ids, values[2:], strict=True) if v is not None}
        return values[0], values[1], revoked

    def incr_version(self) -> None:
        client = self._client()
        if client is None:
            try:
                cache.incr(VERSION_KEY)
            except ValueError:
                cache.add(VERSION_KEY, 0, timeout=None)
                cache.incr(VERSION_KEY)
            return
        client.hincrby(self._prefix + STATE_KEY, "version", 1)

    def add_revoked(self, markers: dict[str, int], *, epoch: str | None = None) -> None:
        """Store markers (session id → unix time they may be forgotten), with ``epoch`` in the
        same transaction when the set is complete."""
        client = self._client()
        if client is None or not (markers or epoch):
            return
        fields: dict[str, Any] = {f"r:{s}": until for s, until in markers.items()}
        if epoch is not None:
            fields["epoch"] = epoch
        key = self._prefix + STATE_KEY
        with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.execute()
        if not epoch and time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            self.prune()

    def prune(self) -> int:
        """Forget markers of sessions that have expired anyway."""
        client = self._client()
        if client is None:
            return 0
        key, now = self._prefix + STATE_KEY, time.time()
        stale = [field for field, until in client.hscan_iter(key, match="r:*", count=1000)
                 if int(until) < now]
        for start in range(0, len(stale), 1000):
            client.hdel(key, *stale[start:start + 1000])
        return len(stale)

    def lock(self, name: str, seconds: int) -> bool:
        client = self._client()
        return client is None or bool(client.set(self._prefix + name, b"1", nx=True, ex=seconds))


shared = _Shared()

_lock = threading.Lock()
_tables: dict[str, LRUCache[Any, Any]] = {}  # named by code, never by request input
_state: dict[str, Any] = {"version": None, "synced_at": 0.0}


def bump_version() -> None:
    """Tell every process that what decisions read has changed (call after commit). This
    process forgets at once; the others at their next read of the version."""
    shared.incr_version()
    clear()


def _apply(version: Any) -> None:
    version = version or 0
    with _lock:
        if version != _state["version"]:
            _tables.clear()
            _state["version"] = version
        _state["synced_at"] = time.monotonic()


def _revoked_in_database(session_ids: list[str]) -> set[str]:
    if not session_ids:
        return set()

    found = AccessSession.objects.filter(pk__in=session_ids, revoked_at__isnull=False).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def rebuild() -> str:
    """Write a marker for every revoked, unexpired session, then a new epoch, in one Redis
    transaction. Returns the epoch."""

    now = timezone.now()
    rows = AccessSession.objects.filter(
        revoked_at__isnull=False, expires_at__gt=now - timedelta(seconds=MARKER_GRACE_SECONDS),
    ).values_list("pk", "expires_at")
    epoch = uuid.uuid4().hex
    shared.add_revoked({str(pk): _marker_until(expires_at) for pk, expires_at in rows.iterator()}, epoch=epoch)
    return epoch


def _read(session_ids: Iterable[Any]) -> set[str]:
    """The version (applied) and which of ``session_ids`` are revoked, trusting Redis only with
    its epoch; without it, the database answers (and the markers are rebuilt)."""
    ids = [str(s) for s in session_ids]
    version, epoch, revoked = shared.read(ids)
    if epoch is None:
        if shared.is_redis:
            log.warning("the shared cache has no revocation epoch (a new Redis, or it lost its data): "
                        "reading revocations from the database")
            if shared.lock(REBUILD_LOCK_KEY, 30):
                epoch = rebuild().encode()  # as Redis will return it
        revoked |= _revoked_in_database(ids)  # markers written before a commit count too
    _apply((version, epoch))
    return revoked


def sync(session_ids: Iterable[Any] = ()) -> set[str]:
    """Read the version and whether ``session_ids`` were revoked, in one round trip (in the
    common case); drop stale caches. Returns the revoked ones, as strings."""
    return _read(session_ids)


def is_stale() -> bool:
    return time.monotonic() - _state["synced_at"] >= config().ttl


def version_label() -> str:
    """The shared version this process's caches hold (for health pages): ``version`` or
    ``version/epoch``, ``-`` before the first read."""
    state = _state["version"]
    if state is None:
        return "-"
    version, epoch = state if isinstance(state, tuple) else (state, None)
    as_text = [v.decode() if isinstance(v, bytes) else str(v) for v in (version or 0, epoch) if v is not None]
    return "/".join(part[:8] for part in as_text)


def ensure_fresh() -> None:
    """For callers outside the hot path: re-read the version if it is older than
    ``ACCESS_CACHE_SECONDS`` (0 means on every call)."""
    if time.monotonic() - _state["synced_at"] >= config().ttl:
        _read(())


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


def _marker_until(expires_at: datetime) -> int:
    return int(expires_at.timestamp()) + MARKER_GRACE_SECONDS


def mark_revoked(sessions: Iterable[tuple[Any, datetime]]) -> None:
    """Remember revoked sessions until they would have expired anyway (the database row, which
    the caller writes, is what counts; this makes the next decision see it without a query)."""
    now = time.time()
    markers = {str(pk): _marker_until(expires_at) for pk, expires_at in sessions}
    shared.add_revoked({pk: until for pk, until in markers.items() if until > now})
