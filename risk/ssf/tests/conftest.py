from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def receiver_token(super_admin) -> Callable:
    """``receiver_token(name)`` → (ApiToken, "Bearer ztc_…") with the ssf:stream scope."""
    from console.access.services import api_token_create

    def make(name: str = "okta-rx", scopes: tuple[str, ...] = ("ssf:stream",)):
        token, secret = api_token_create(actor=super_admin, name=name, scopes=list(scopes))
        return token, f"Bearer {secret}"

    return make


@pytest.fixture
def ssf_api(client) -> Callable:
    """``ssf_api(method, path, auth, body=None, **query)`` → response, JSON bodies sent as such."""
    import json

    def call(method: str, path: str, auth: str | None, body=None, raw: bytes | None = None,
             content_type: str = "application/json"):
        headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return client.generic(method, path, data=data, content_type=content_type, **headers)

    return call
