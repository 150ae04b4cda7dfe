"""A small, thread-safe, size-bounded mapping that forgets the least recently used entry.

Every process-local cache whose keys can come from a request (token prefixes, host names and
paths, e-mail addresses, device ids) must be bounded, or a stream of requests with new keys
grows the process until it is killed. ``functools.lru_cache`` fits functions; this fits the
dict-shaped caches of the decision hot path (``console.access.hotcache``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

_MISSING: Any = object()


class LRUCache[K: Hashable, V]:
    """At most ``maxsize`` entries; reading or writing an entry makes it the most recent, and
    adding one beyond ``maxsize`` drops the least recent. All operations take one lock, so a
    lookup racing an eviction sees either the entry or nothing, never a half-updated order."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._data.move_to_end(key)
            return value

    def __getitem__(self, key: K) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        with self._lock:
            del self._data[key]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        with self._lock:
            return iter(list(self._data))

    def pop(self, key: K, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)

    def update(self, other: Mapping[K, V]) -> None:
        for key, value in other.items():
            self[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __repr__(self) -> str:
        return f"LRUCache(maxsize={self.maxsize}, size={len(self)})"
