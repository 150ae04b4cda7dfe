"""Identity providers and the outbound policy (docs/security.md#outbound-requests): the issuer is
parsed, not prefix-matched; the endpoints a discovery document names are checked; JWKS and
discovery fetches go through console/core/outbound.py, so a hostile provider gets a clear error
instead of a page of ours or a 500."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from accounts.models import IdentityProvider
from accounts.oidc import test_connection as check_connection
from accounts.onboarding import protocol
from accounts.services import identity_providers
from console.audit.models import AuditEvent
from console.core.errors import ExternalServiceError, ValidationFailed

pytestmark = pytest.mark.django_db


class Discovery:
    """A provider on loopback that serves whatever discovery document a test gives it."""

    def __init__(self) -> None:
        self.document: dict = {}
        self.paths: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                owner.paths.append(self.path)
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps(owner.document).encode()
                elif self.path == "/jwks":
                    body = b'{"keys": []}'
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def serve(self, **overrides: str) -> None:
        self.document = {
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/me", "id_token_signing_alg_values_supported": ["RS256"],
        } | overrides


@pytest.fixture
def discovery() -> Iterator[Discovery]:
    server = Discovery()
    server.serve()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def create(actor, issuer: str) -> IdentityProvider:
    return identity_providers.idp_create(actor=actor, name="Corp IdP", kind="primary", issuer=issuer,
                                         client_id="console", client_secret="s", allowed_domains=["corp.example"])


# --- The issuer at save time ----------------------------------------------------------------------


@pytest.mark.parametrize("issuer, words", [
    ("http://localhost@evil.example", "credentials"),
    ("http://localhost:80@evil.example", "credentials"),
    ("http://localhost.evil.example", "plain http"),
    ("http://127.0.0.1.nip.io", "plain http"),
    ("http://idp.example.com", "plain http"),
    ("file:///etc/passwd", "https"),
    ("https://idp.example.com/?tenant=1", "query"),
    ("https://idp.example.com/#x", "fragment"),
    ("https:///no-host", "host"),
])
def test_an_issuer_is_parsed_not_prefix_matched(super_admin, issuer, words):
    with pytest.raises(ValidationFailed) as caught:
        create(super_admin, issuer)
    assert caught.value.field == "issuer" and words in caught.value.message
    assert not IdentityProvider.objects.exists()


def test_the_form_shows_the_issuer_error_on_the_field(client_for, super_admin):
    page = client_for(super_admin).post("/accounts/identity-providers/new/", {
        "name": "Evil", "kind": "primary", "issuer": "http://localhost@evil.example", "client_id": "c",
        "client_secret": "s", "scopes": "openid email", "email_claim": "email",
    })
    assert page.status_code == 200
    assert "credentials" in str(page.context["form"].errors.get("issuer"))


def test_plain_http_on_this_machine_is_still_accepted(super_admin, discovery):
    idp = create(super_admin, discovery.issuer)
    assert idp.jwks_uri == f"{discovery.issuer}/jwks"


# --- Where the discovery document sends us --------------------------------------------------------


@pytest.mark.parametrize("field", ["jwks_uri", "token_endpoint", "userinfo_endpoint", "authorization_endpoint"])
def test_a_discovery_document_naming_a_file_url_is_refused_clearly(super_admin, discovery, field):
    discovery.serve(**{field: "file:///etc/passwd"})
    with pytest.raises(ExternalServiceError) as caught:
        create(super_admin, discovery.issuer)
    assert field in caught.value.message and "file:///etc/passwd" in caught.value.message
    assert not IdentityProvider.objects.exists()


def test_a_discovery_document_naming_credentials_or_plain_http_elsewhere_is_refused(super_admin, discovery):
    discovery.serve(jwks_uri=f"http://localhost@evil.example:{discovery.port}/jwks")
    with pytest.raises(ExternalServiceError, match="jwks_uri"):
        create(super_admin, discovery.issuer)
    discovery.serve(token_endpoint="http://idp.example.com/token")
    with pytest.raises(ExternalServiceError, match="token_endpoint"):
        create(super_admin, discovery.issuer)


def test_a_private_discovery_url_is_refused_before_anything_is_sent(super_admin, discovery, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(ExternalServiceError) as caught:
        create(super_admin, discovery.issuer)
    assert "loopback" in caught.value.message and "OUTBOUND_ALLOWED_NETWORKS" in caught.value.message
    assert discovery.paths == []
    assert not AuditEvent.objects.filter(action="idp.created").exists()


def test_an_allowed_issuer_cannot_send_us_to_a_private_jwks(super_admin, discovery, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.OUTBOUND_ALLOWED_HOSTS = ["localhost"]
    issuer = f"http://localhost:{discovery.port}"
    discovery.issuer = issuer
    discovery.serve(jwks_uri=f"http://127.0.0.1:{discovery.port}/jwks")
    with pytest.raises(ExternalServiceError) as caught:
        create(super_admin, issuer)
    assert "jwks_uri" in caught.value.message and "loopback" in caught.value.message
    assert discovery.paths == ["/.well-known/openid-configuration"]


# --- Providers saved before these checks ----------------------------------------------------------


def stored_with(actor, discovery: Discovery, **endpoints: str) -> IdentityProvider:
    idp = create(actor, discovery.issuer)
    IdentityProvider.objects.filter(pk=idp.pk).update(**endpoints)
    idp.refresh_from_db()
    return idp


def test_test_connection_reports_a_file_jwks_instead_of_failing(super_admin, discovery):
    idp = stored_with(super_admin, discovery, jwks_uri="file:///etc/passwd")
    discovery.serve(jwks_uri="file:///etc/passwd")
    results = {r.name: r for r in check_connection(idp)}
    assert not results["Discovery"].ok and "file:///etc/passwd" in results["Discovery"].detail


def test_the_test_button_shows_the_refusal_not_a_500(client_for, super_admin, discovery, settings):
    idp = create(super_admin, discovery.issuer)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    page = client_for(super_admin).post(f"/accounts/identity-providers/{idp.pk}/test/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and "loopback" in page.content.decode()


def unsigned_token() -> str:
    """Enough of an RS256 ID token to make the verifier fetch the provider's keys."""
    header = jwt.utils.base64url_encode(json.dumps({"alg": "RS256", "kid": "k1"}).encode()).decode()
    return f"{header}.e30.c2ln"


def test_an_id_token_is_never_checked_against_a_file_jwks(super_admin, discovery):
    idp = stored_with(super_admin, discovery, jwks_uri="file:///etc/passwd")
    with pytest.raises(ExternalServiceError) as caught:
        protocol.validate_id_token(idp, unsigned_token(), nonce="n")
    assert "file:///etc/passwd" in caught.value.message and "http and https" in caught.value.message


def test_an_id_token_is_never_checked_against_a_private_jwks(super_admin, discovery, settings):
    idp = create(super_admin, discovery.issuer)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(ExternalServiceError, match="loopback"):
        protocol.validate_id_token(idp, unsigned_token(), nonce="n")
    assert discovery.paths == ["/.well-known/openid-configuration"]


# --- Sign-in -----------------------------------------------------------------------------------


def test_the_sign_in_callback_does_not_call_a_token_endpoint_the_policy_refuses(client, super_admin, discovery,
                                                                              settings):
    from urllib.parse import parse_qs, urlsplit

    from django.contrib.messages import get_messages

    idp = create(super_admin, discovery.issuer)
    start = client.get(f"/accounts/oidc/{idp.slug}/start/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # e.g. the provider's name now resolves into our network
    answer = client.get("/accounts/oidc/callback/", {"code": "c0de", "state": state})
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    shown = [str(m) for m in get_messages(answer.wsgi_request)]
    assert any("could not be reached" in m for m in shown), shown
    assert "/token" not in discovery.paths
