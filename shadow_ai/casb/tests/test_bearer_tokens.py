"""Vendor tokens: fetched once per principal, sent as a bearer, dropped when the vendor says 401."""

from __future__ import annotations

from types import SimpleNamespace

from shadow_ai.casb.connectors.bearer import use_bearer_tokens


def scan_context():
    return SimpleNamespace(cache={}, http=SimpleNamespace(auth=None, refresh_auth=None))


def test_token_is_fetched_once_and_again_after_refresh():
    ctx, fetched = scan_context(), []

    def fetch(_):
        fetched.append(f"tok-{len(fetched) + 1}")
        return fetched[-1]

    use_bearer_tokens(ctx, "vendor_tokens", fetch)
    assert ctx.http.auth() == {"Authorization": "Bearer tok-1"}
    assert ctx.http.auth() == {"Authorization": "Bearer tok-1"}
    ctx.http.refresh_auth()  # the vendor answered 401
    assert ctx.http.auth() == {"Authorization": "Bearer tok-2"}
    assert fetched == ["tok-1", "tok-2"]


def test_tokens_are_kept_per_principal_and_bounded_keeping_the_chosen_ones():
    ctx = scan_context()
    acting = {"who": "admin"}
    use_bearer_tokens(ctx, "vendor_tokens", lambda who: f"tok-{who}", key=lambda: acting["who"], limit=3,
                      keep=lambda who: who == "admin")
    for who in ("admin", "u1", "u2"):
        acting["who"] = who
        assert ctx.http.auth() == {"Authorization": f"Bearer tok-{who}"}
    assert set(ctx.cache["vendor_tokens"]) == {"admin", "u1", "u2"}
    acting["who"] = "u3"
    ctx.http.auth()
    assert set(ctx.cache["vendor_tokens"]) == {"admin", "u3"}  # the limit dropped the others, not the admin's
    ctx.http.refresh_auth()
    assert set(ctx.cache["vendor_tokens"]) == {"admin"}  # only the principal the 401 was for
