"""Hostname checks and the suffix map that finds an application for a hostname.

A library hostname covers itself and every subdomain; when several cover a name, the longest
wins (``copilot-proxy.githubusercontent.com`` is GitHub Copilot, ``raw.githubusercontent.com``
is GitHub). A lookup walks the name's suffixes, one dictionary probe per label, so it costs the
same for a library of ten applications or ten thousand; repeated names are answered from a
bounded memo, which suits logs (a few thousand distinct hosts over millions of rows)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_STRICT_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
STRICT_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_STRICT_LABEL}(\.{_STRICT_LABEL})*\.[a-z][a-z0-9-]*[a-z0-9]$")


def normalize(value: str) -> str:
    """Lower-case, without scheme, port, path, trailing dot; international names in punycode.
    Raises ValueError when what is left is not a hostname."""
    host = (value or "").strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if host.startswith("["):
        raise ValueError("an IP address is not a hostname")
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{value!r} is not a valid international hostname") from None
    if not HOSTNAME_RE.match(host):
        raise ValueError(f"{value!r} is not a hostname")
    return host


def clean_for_library(value: str) -> str:
    """A hostname an admin may add to an application: ``chat.example.com``, no wildcard, no
    scheme or path, a real top-level domain. Subdomains are covered without a wildcard."""
    raw = (value or "").strip().lower()
    if raw.startswith("*."):
        raise ValueError(f"{value}: leave out the *. (subdomains are always included)")
    if "://" in raw or "/" in raw:
        raise ValueError(f"{value}: enter only the hostname, without https:// or a path")
    host = normalize(raw)
    if not STRICT_HOSTNAME_RE.match(host):
        raise ValueError(f"{value} is not a valid hostname (e.g. chat.example.com)")
    return host


class HostnameMatcher[T]:
    """Maps hostnames (and their subdomains) to values; immutable once built."""

    MEMO_LIMIT = 200_000

    def __init__(self, entries: Mapping[str, T] | Iterable[tuple[str, T]]) -> None:
        self._map: dict[str, T] = dict(entries.items() if isinstance(entries, Mapping) else entries)
        self._memo: dict[str, T | None] = {}

    def __len__(self) -> int:
        return len(self._map)

    def match(self, hostname: str) -> T | None:
        """The value of the longest library hostname that is ``hostname`` or a parent of it.
        ``hostname`` should be normalized (lower-case, no port); a trailing dot is ignored."""
        memo = self._memo
        if hostname in memo:
            return memo[hostname]
        host = hostname.rstrip(".")
        table = self._map
        found = None
        while True:
            found = table.get(host)
            if found is not None:
                break
            dot = host.find(".")
            if dot < 0:
                break
            host = host[dot + 1:]
        if len(memo) >= self.MEMO_LIMIT:
            memo.clear()
        memo[hostname] = found
        return found
