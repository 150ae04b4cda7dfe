"""Usage results cached by a hash of their query.

Keys carry a version number kept in the shared cache. The version goes up after a rollup run
writes a day and after any change to the application library (statuses and names are part of
the results), so a cached answer is never older than the data it was computed from; the TTL
(``SHADOW_AI_USAGE_CACHE_SECONDS``, 0 turns caching off) only bounds memory."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)
VERSION_KEY = "shadow_ai:usage:version"


def enabled() -> bool:
    return settings.SHADOW_AI_USAGE_CACHE_SECONDS > 0


def version() -> int:
    if not enabled():
        return 0
    try:
        return int(cache.get(VERSION_KEY) or 0)
    except Exception:
        log.warning("usage cache unreachable", exc_info=True)
        return 0


def bump() -> None:
    """Forget every cached usage result (call after commit)."""
    if not enabled():
        return
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, 1, timeout=None)
    except Exception:
        log.warning("could not bump the usage cache version", exc_info=True)


def key_for(query: Any, at_version: int) -> str:
    """``shadow_ai:usage:<version>:<QueryType>:<sha256 of its fields>``."""
    fields = json.dumps(dataclasses.asdict(query), sort_keys=True, default=str)
    digest = hashlib.sha256(f"{type(query).__name__}:{fields}".encode()).hexdigest()[:40]
    return f"shadow_ai:usage:{at_version}:{type(query).__name__}:{digest}"


def get_many(keys: list[str]) -> dict[str, Any]:
    if not enabled() or not keys:
        return {}
    try:
        return cache.get_many(keys)
    except Exception:
        log.warning("usage cache unreachable", exc_info=True)
        return {}


def set_many(values: dict[str, Any]) -> None:
    if not enabled() or not values:
        return
    try:
        cache.set_many(values, timeout=settings.SHADOW_AI_USAGE_CACHE_SECONDS)
    except Exception:
        log.warning("could not store usage results", exc_info=True)
