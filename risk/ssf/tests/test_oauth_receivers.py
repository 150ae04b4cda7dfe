"""SSF receivers with OAuth client credentials: a machine client of the console's authorization
server gets an access token at the token endpoint and manages its own streams through the SSF
API with the ``ssf.manage`` scope; ``ssf.read`` reads but does not write; the protected-resource
metadata names the authorization server."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def oauth_receiver(super_admin, client):
    """``oauth_receiver(scopes)`` → (Client, "Bearer <access token>") got with client credentials."""
    from console.access.idp.services import machine_client_create

    def make(scopes: list[str], name: str = "okta-oauth", ask: str | None = None):
        receiver, secret = machine_client_create(actor=super_admin, name=name, scopes=scopes)
        basic = base64.b64encode(f"{receiver.oauth.client_id}:{secret}".encode()).decode()
        data = {"grant_type": "client_credentials"} | ({"scope": ask} if ask else {})
        answer = client.post("/oauth/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["token_type"] == "Bearer" and "refresh_token" not in body
        return receiver, body, f"Bearer {body['access_token']}"

    return make


def test_metadata_names_the_authorization_server(client) -> None:
    resource = client.get("/.well-known/oauth-protected-resource/ssf").json()
    assert resource["authorization_servers"] == ["http://testserver"]
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == "http://testserver"
    assert server["token_endpoint"] == "http://testserver/oauth/token/"
    assert "client_credentials" in server["grant_types_supported"]
    assert {"ssf.manage", "ssf.read"} <= set(server["scopes_supported"])


STREAMS = "/ssf/streams"


def test_manage_scope_creates_and_reads_its_own_streams(oauth_receiver, ssf_api, receiver_token) -> None:
    from console.audit.models import AuditEvent
    from risk.ssf.models import Stream

    receiver, token, auth = oauth_receiver(["ssf.manage"])
    assert token["scope"] == "ssf.manage"
    created = ssf_api("POST", STREAMS, auth, {"description": "Okta over OAuth"})
    assert created.status_code == 201, created.content
    stream_id = created.json()["stream_id"]
    stream = Stream.objects.get(stream_id=stream_id)
    assert stream.receiver_client == receiver and stream.receiver is None
    assert AuditEvent.objects.get(action="ssf.stream.created").changes["via"] == "SSF API (OAuth client okta-oauth)"
    assert [s["stream_id"] for s in ssf_api("GET", STREAMS, auth).json()] == [stream_id]
    assert ssf_api("GET", f"{STREAMS}?stream_id={stream_id}", auth).json()["description"] == "Okta over OAuth"
    # An API-token receiver sees none of the OAuth client's streams, and the other way round.
    _, token_auth = receiver_token()
    assert ssf_api("GET", STREAMS, token_auth).json() == []
    assert ssf_api("GET", f"{STREAMS}?stream_id={stream_id}", token_auth).status_code == 404
    updated = ssf_api("PATCH", STREAMS, auth, {"stream_id": stream_id, "description": "renamed"})
    assert updated.status_code == 200 and updated.json()["description"] == "renamed"
    assert Stream.objects.get(stream_id=stream_id).receiver_client == receiver


def test_read_scope_reads_but_cannot_manage(oauth_receiver, ssf_api) -> None:
    from risk.ssf.models import Stream

    manager, _, manage_auth = oauth_receiver(["ssf.manage", "ssf.read"], name="manager")
    stream_id = ssf_api("POST", STREAMS, manage_auth, {"description": "mine"}).json()["stream_id"]
    # A client given only ssf.read: reads (its own streams), cannot write.
    _, token, read_auth = oauth_receiver(["ssf.read"], name="reader")
    assert token["scope"] == "ssf.read"
    refused = ssf_api("POST", STREAMS, read_auth, {"description": "not allowed"})
    assert refused.status_code == 403 and refused.json()["err"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="ssf.manage"' in refused["WWW-Authenticate"]
    assert ssf_api("GET", STREAMS, read_auth).json() == []  # its own streams only: none
    assert Stream.objects.count() == 1 and Stream.objects.get().receiver_client == manager
    assert stream_id


def test_a_client_cannot_get_scopes_it_was_not_given(oauth_receiver, client, super_admin) -> None:
    from console.access.idp.services import machine_client_create

    receiver, secret = machine_client_create(actor=super_admin, name="reader-only", scopes=["ssf.read"])
    basic = base64.b64encode(f"{receiver.oauth.client_id}:{secret}".encode()).decode()
    answer = client.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "ssf.manage"},
                         HTTP_AUTHORIZATION=f"Basic {basic}")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


def test_tokens_that_do_not_count(oauth_receiver, ssf_api, super_admin, employee) -> None:
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from console.access import services as access_services
    from console.access.idp.services import saas_client_create

    _, _, auth = oauth_receiver(["ssf.manage"])
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert ssf_api("GET", STREAMS, auth).status_code == 401
    assert ssf_api("GET", STREAMS, "Bearer not-a-token").status_code == 401
    # A person's sign-in token (a SaaS application's) carries no SSF scope.
    app = access_services.application_create(actor=super_admin, name="Chat", type="saas", url="https://chat.example/")
    saas, _ = saas_client_create(actor=super_admin, application=app, redirect_uris="https://chat.example/cb")
    person_token = secrets.token_urlsafe(30)
    AccessToken.objects.create(user=employee, application=saas.oauth, token=person_token, scope="openid email",
                               expires=timezone.now() + timedelta(hours=1))
    refused = ssf_api("GET", STREAMS, f"Bearer {person_token}")
    assert refused.status_code == 403 and refused.json()["err"] == "insufficient_scope"
