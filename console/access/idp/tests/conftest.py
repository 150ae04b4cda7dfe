"""A SaaS application with OpenID Connect credentials, and the pieces of an authorization
request (PKCE) as a relying party makes them."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

REDIRECT = "https://saas.example/oidc/callback"


@dataclass
class Saas:
    app: object
    client: object
    secret: str
    policy: object


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id: str, *, challenge: str | None, redirect_uri: str = REDIRECT, state: str = "st-1",
                  nonce: str = "n-1", scope: str = "openid email profile groups") -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": state, "nonce": nonce}
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return "/oauth/authorize/?" + urlencode(params)


def continue_target(response) -> str:
    """Where the "continue to the application" page sends the browser."""
    found = re.search(r'data-testid="oidc-continue" href="([^"]+)"|href="([^"]+)" data-testid="oidc-continue"',
                      response.content.decode())
    assert found, response.content.decode()[:2000]
    return unescape(found.group(1) or found.group(2))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def make_saas(super_admin) -> Callable[..., Saas]:
    from console.access import services as access_services
    from console.access.idp import services

    def make(*, action: str = "allow", client_type: str = "confidential", **app_fields) -> Saas:
        app = access_services.application_create(actor=super_admin, name="Expenses", type="saas",
                                                 url="https://saas.example/", **app_fields)
        policy = access_services.policy_create(actor=super_admin, name="Everyone in", action=action,
                                               rules={"include": [{"type": "everyone"}]})
        access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
        client, secret = services.saas_client_create(
            actor=super_admin, application=app, redirect_uris=REDIRECT,
            post_logout_redirect_uris="https://saas.example/bye", client_type=client_type,
        )
        return Saas(app, client, secret, policy)

    return make
