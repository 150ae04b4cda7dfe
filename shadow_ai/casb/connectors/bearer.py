"""Vendor access tokens a connector trades its credentials for (OAuth client credentials, a
JWT bearer assertion, a GitHub App installation token), kept for the scan and sent as
``Authorization: Bearer …``.

A token is fetched on first use and kept in the scan's ``ctx.cache`` (per process, never
checkpointed) until the vendor answers 401, which drops it so the retried request fetches a new
one. A connector that acts as several principals (Google's domain-wide delegation: one token per
user and scope set) keys its tokens; the cache keeps at most ``limit`` of them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


def use_bearer_tokens[K: Hashable](
    ctx: Any, name: str, fetch: Callable[[K], str], *, key: Callable[[], K] = lambda: None,
    limit: int = 16, keep: Callable[[K], bool] = lambda wanted: False,
) -> None:
    """Give ``ctx.http`` its ``auth`` and ``refresh_auth``: ``fetch(key())`` gets the token for
    the principal requests act as now; tokens are kept under ``ctx.cache[name]``. When ``limit``
    are kept, every one but those ``keep`` names is dropped before the next is added."""

    def current() -> dict[str, str]:
        tokens = ctx.cache.setdefault(name, {})
        wanted = key()
        token = tokens.get(wanted)
        if token is None:
            token = fetch(wanted)
            if len(tokens) >= limit:
                for stale in [k for k in tokens if not keep(k)]:
                    del tokens[stale]
            tokens[wanted] = token
        return {"Authorization": f"Bearer {token}"}

    def refresh() -> None:
        ctx.cache.setdefault(name, {}).pop(key(), None)

    ctx.http.auth = current
    ctx.http.refresh_auth = refresh
