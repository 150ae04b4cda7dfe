"""The forward-auth endpoint and the sign-in round trip through Django's test client, as a proxy
and a browser would call them (the browser tests with real nginx and Caddy are in
test_proxy_e2e.py): who may speak for a request, the one-time code, the cookie, step-up, service
tokens, logout and signing out everywhere."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from conftest import mark_mfa_verified
from console.access import logbuffer, services, tokens
from console.access.models import AccessLogEntry, AccessSession, AppSignInCode, ProxySighting
from console.audit.models import AuditEvent
from console.core.wsgi_dispatch import Dispatcher
from mfa.models import Verification

pytestmark = pytest.mark.django_db

HOST = "wiki.corp.example"
CONSOLE = "https://console.corp.example"
FORWARD_AUTH = "/api/v1/access/forward-auth"


@pytest.fixture(autouse=True)
def _console_url(settings):
    settings.CONSOLE_URL = CONSOLE


@pytest.fixture
def wiki(make_engineers_wiki):
    return make_engineers_wiki()[0]


def proxied(client, uri: str = "/docs/page?x=1", *, host: str = HOST, remote: str = "127.0.0.1", **headers):
    """A forward-auth request as nginx's configuration sends it."""
    return client.get(FORWARD_AUTH, REMOTE_ADDR=remote, HTTP_X_FORWARDED_HOST=host, HTTP_X_FORWARDED_PROTO="https",
                      HTTP_X_FORWARDED_URI=uri, HTTP_X_FORWARDED_METHOD="GET", HTTP_X_REAL_IP="198.51.100.7",
                      **headers)


def sign_in_through(client, rd: str = f"https://{HOST}/docs/page?x=1"):
    """The console half (signed in already): the continue page's address on the application's host."""
    page = client.get("/access/proxy/sign-in/", {"rd": rd})
    assert page.status_code == 200, page.content
    return page.context["url"]


def land(client, url: str):
    """The application half: the proxy routes /.access/callback on the application's host to the console."""
    parts = urlsplit(url)
    return client.get(parts.path, parse_qs(parts.query), HTTP_X_FORWARDED_HOST=parts.netloc,
                      HTTP_X_FORWARDED_PROTO=parts.scheme)


def signed_in_cookie(client_for, employee) -> tuple:
    client = client_for(employee)
    landed = land(client, sign_in_through(client))
    assert landed.status_code == 302
    return client, landed


def test_the_sign_in_round_trip_sets_a_host_cookie_and_keeps_path_and_query(client_for, employee, wiki):
    anonymous = proxied(Client())  # a browser with no application cookie yet
    assert anonymous.status_code == 302
    sign_in = urlsplit(anonymous["Location"])
    assert f"{sign_in.scheme}://{sign_in.netloc}{sign_in.path}" == f"{CONSOLE}/access/proxy/sign-in/"
    assert parse_qs(sign_in.query)["rd"] == [f"https://{HOST}/docs/page?x=1"]

    client = client_for(employee)
    url = sign_in_through(client)
    assert url.startswith(f"https://{HOST}/.access/callback?code=")
    code = parse_qs(urlsplit(url).query)["code"][0]
    stored = AppSignInCode.objects.get()
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest() and code not in str(stored.__dict__)

    landed = land(client, url)
    assert landed.status_code == 302 and landed["Location"] == "/docs/page?x=1"
    cookie = landed.cookies["access_session"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["domain"]  # host-only: the application's host, nobody else's
    assert 3500 < int(cookie["max-age"]) <= 86400

    allowed = proxied(client)
    assert allowed.status_code == 200
    assert allowed["X-Auth-Request-Email"] == employee.email
    assert allowed["X-Auth-Request-Groups"] == "Engineering"
    assert allowed["X-Auth-Request-User"] == str(employee.pk)
    claims = tokens.verify(allowed["X-Access-Jwt-Assertion"], audience=wiki.aud, issuer=CONSOLE)
    assert claims["email"] == employee.email and claims["jti"] == str(AccessSession.objects.get().pk)
    entry = AccessLogEntry.objects.filter(source="proxy").latest("id")
    assert (entry.outcome, entry.email, entry.ip) == ("allow", employee.email, "198.51.100.7")
    assert ProxySighting.objects.get(application=wiki).host == HOST


def test_a_code_works_once_on_its_own_host_and_not_for_long(client_for, employee, wiki, settings):
    client = client_for(employee)
    url = sign_in_through(client)
    assert land(client, url).status_code == 302
    again = land(client, url)
    assert again.status_code == 400 and b"expired or was already used" in again.content

    elsewhere = urlsplit(sign_in_through(client))
    refused = client.get(elsewhere.path, parse_qs(elsewhere.query), HTTP_X_FORWARDED_HOST="evil.example")
    assert refused.status_code == 400 and b"another site" in refused.content
    assert land(client, elsewhere.geturl()).status_code == 400  # burnt by the wrong host

    late = sign_in_through(client)
    AppSignInCode.objects.filter(used_at__isnull=True).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert land(client, late).status_code == 400
    assert not AppSignInCode.objects.exclude(token="").exists()


def test_only_trusted_proxies_may_say_what_a_request_is_about(client_for, employee, wiki, settings):
    client, _ = signed_in_cookie(client_for, employee)
    outsider = proxied(client, remote="203.0.113.9")
    assert outsider.status_code == 403 and b"not a trusted proxy" in outsider.content
    assert "X-Auth-Request-Email" not in outsider
    settings.ACCESS_TRUSTED_PROXIES = ["203.0.113.0/24"]
    assert proxied(client, remote="203.0.113.9").status_code == 200
    assert proxied(client, remote="127.0.0.1").status_code == 403
    callback = client.get("/.access/callback", {"code": "x"}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_HOST=HOST)
    assert callback.status_code == 403


def test_nginx_is_answered_401_and_other_proxies_a_redirect(client, wiki):
    assert proxied(client).status_code == 302
    nginx = proxied(client, HTTP_X_FORWARD_AUTH_MODE="nginx")
    assert nginx.status_code == 401 and nginx["Location"].startswith(f"{CONSOLE}/access/proxy/sign-in/?rd=")


def test_envoy_appends_the_original_path_to_the_endpoint(client_for, employee, wiki, settings):
    """Envoy asks with the application's Host; in production the lean WSGI path answers it
    (no ALLOWED_HOSTS check on the way); Django's test client has the full stack."""
    routed = Dispatcher(lambda environ, start: "main", lambda environ, start: "lean")
    assert routed({"PATH_INFO": f"{FORWARD_AUTH}/docs/page"}, None) == "lean"
    assert routed({"PATH_INFO": FORWARD_AUTH}, None) == "lean"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    client, _ = signed_in_cookie(client_for, employee)
    answer = client.get(f"{FORWARD_AUTH}/docs/page", {"x": "1"}, HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")
    assert answer.status_code == 200 and answer["X-Auth-Request-Email"] == employee.email
    anonymous = client.__class__().get(f"{FORWARD_AUTH}/docs/page", {"x": "1"}, HTTP_HOST=HOST)
    assert parse_qs(urlsplit(anonymous["Location"]).query)["rd"] == [f"https://{HOST}/docs/page?x=1"]
    root = Client().get(f"{FORWARD_AUTH}/", HTTP_HOST=HOST)
    assert parse_qs(urlsplit(root["Location"]).query)["rd"] == [f"https://{HOST}/"]


def test_someone_no_policy_allows_gets_the_block_page(client_for, make_user, wiki):
    outsider = make_user(email="out@corp.example")
    client = client_for(outsider)
    refused = client.get("/access/proxy/sign-in/", {"rd": f"https://{HOST}/"})
    assert refused.status_code == 403 and b"You cannot open Wiki" in refused.content
    assert not AppSignInCode.objects.exists()
    blocked = client.get("/.access/blocked", HTTP_X_FORWARDED_HOST=HOST)
    assert blocked.status_code == 403 and b"You cannot open Wiki" in blocked.content


def test_the_sign_in_page_follows_only_addresses_of_applications(client_for, employee, wiki):
    client = client_for(employee)
    for rd in ("https://evil.example/", "javascript:alert(1)", "", f"https://user@{HOST}/"):
        assert client.get("/access/proxy/sign-in/", {"rd": rd}).status_code == 404
    # A path that starts with two slashes stays on the application's host.
    landed = land(client, sign_in_through(client, f"https://{HOST}//evil.example/x"))
    assert landed["Location"] == "/evil.example/x"


def test_step_up_through_the_proxy_when_the_policy_wants_a_fresh_code(client_for, employee, super_admin, wiki):
    policy = wiki.policies.get()
    services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules=policy.rules,
                           mfa_mode="custom", mfa_methods=["totp"], mfa_reverify_minutes=10)
    client = client_for(employee)
    rd = f"https://{HOST}/docs/page?x=1"
    step_up = client.get("/access/proxy/sign-in/", {"rd": rd})
    assert step_up.status_code == 302
    target = urlsplit(step_up["Location"])
    assert target.path == "/mfa/verify/" and parse_qs(target.query)["methods"] == ["totp,backup_code"]
    assert parse_qs(target.query)["next"] == [f"/access/proxy/sign-in/?{urlencode({'rd': rd})}"]
    mark_mfa_verified(client, employee)
    landed = land(client, sign_in_through(client, rd))
    assert proxied(client).status_code == 200

    # The code grows old: the next proxied request is sent to step up again.
    Verification.objects.update(at=timezone.now() - timedelta(minutes=11))
    again = proxied(client)
    assert again.status_code == 302 and "/access/proxy/sign-in/" in again["Location"]
    assert AccessLogEntry.objects.filter(source="proxy", outcome="challenge").exists()
    assert landed.status_code == 302


def test_service_tokens_pass_with_their_two_headers(client, super_admin, wiki):
    token, secret = services.service_token_create(actor=super_admin, name="deploy bot")
    machines = services.policy_create(actor=super_admin, name="Deploy bot", action="service_auth",
                                      rules={"include": [{"type": "service_token", "values": [token.pk]}]})
    services.application_set_policies(actor=super_admin, application=wiki,
                                      policy_ids=[machines.pk, *wiki.policies.values_list("pk", flat=True)])
    allowed = proxied(client, HTTP_ACCESS_CLIENT_ID=token.client_id, HTTP_ACCESS_CLIENT_SECRET=secret)
    assert allowed.status_code == 200 and allowed["X-Access-Jwt-Assertion"].count(".") == 2
    assert allowed["X-Auth-Request-Email"] == ""
    wrong = proxied(client, HTTP_ACCESS_CLIENT_ID=token.client_id, HTTP_ACCESS_CLIENT_SECRET="nope")
    assert wrong.status_code == 403
    entry = AccessLogEntry.objects.filter(source="proxy").latest("id")
    assert (entry.outcome, entry.method) == ("deny", "service token")


def test_logging_out_of_one_application_ends_its_session_only(client_for, employee, wiki, super_admin):
    client, _ = signed_in_cookie(client_for, employee)
    session = AccessSession.objects.get(user=employee)
    out = client.get("/.access/logout", HTTP_X_FORWARDED_HOST=HOST)
    assert out.status_code == 200 and b"You are signed out of Wiki" in out.content
    assert out.cookies["access_session"].value == "" and out.cookies["access_session"]["max-age"] == 0
    session.refresh_from_db()
    assert session.revoked_at is not None and session.revoked_reason == "signed out of Wiki"
    assert AuditEvent.objects.filter(action="access.session.signed_out", actor_email=employee.email).exists()
    # The console session is still there: the launcher opens.
    assert client.get("/launcher/").status_code == 200


def test_signing_out_everywhere_ends_every_session_and_is_audited(client_for, employee, super_admin, wiki, client):
    person, _ = signed_in_cookie(client_for, employee)
    cookie = person.cookies["access_session"].value
    answer = person.post("/access/sign-out-everywhere/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert not AccessSession.objects.filter(user=employee, revoked_at__isnull=True).exists()
    assert person.get("/launcher/").status_code == 302  # the console session is gone too
    refused = client.get(FORWARD_AUTH, HTTP_X_FORWARDED_HOST=HOST, HTTP_X_FORWARDED_URI="/",
                         HTTP_COOKIE=f"access_session={cookie}")
    assert refused.status_code == 302
    event = AuditEvent.objects.get(action="access.user.signed_out_everywhere")
    assert event.changes["application_sessions"] == 1 and event.changes["console_sessions"] == 1


def test_an_admin_signs_a_person_out_everywhere(client_for, employee, super_admin, security_admin, wiki):
    person = Client()
    person.force_login(employee)
    land(person, sign_in_through(person))
    admin = client_for(security_admin)
    page = admin.get(f"/access/sessions/?user={employee.pk}")
    assert b"Sign out everywhere" in page.content
    done = admin.post(f"/access/users/{employee.pk}/sign-out-everywhere/", follow=True)
    assert re.search(rb"signed out everywhere: 1 application session\(s\) and 1 console session", done.content)
    assert person.get("/launcher/").status_code == 302
    event = AuditEvent.objects.get(action="access.user.signed_out_everywhere")
    assert event.actor_email == security_admin.email
    # Rank rules: below Super Admin, nobody signs a Super Admin out.
    refused = admin.post(f"/access/users/{super_admin.pk}/sign-out-everywhere/", follow=True)
    assert b"Only a Super Admin can sign out a Super Admin" in refused.content
    assert client_for(employee).post(f"/access/users/{super_admin.pk}/sign-out-everywhere/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_steady_forward_auth_reads_no_database(hot_path, client_for, employee, wiki, django_assert_num_queries):
    """With the process caches on (production), a signed-in browser's requests through the proxy
    cost no query: application, person, groups, session and token all come from memory."""
    _, landed = signed_in_cookie(client_for, employee)
    proxy = Client()  # the proxy sends the application host's cookies, never the console's
    cookie = f"access_session={landed.cookies['access_session'].value}"
    assert proxied(proxy, HTTP_COOKIE=cookie).status_code == 200  # warms what this process caches
    with django_assert_num_queries(0):
        for _ in range(3):
            answer = proxied(proxy, HTTP_COOKIE=cookie)
            assert answer.status_code == 200 and answer["X-Auth-Request-Groups"] == "Engineering"
    logbuffer.flush()
    assert AccessLogEntry.objects.filter(source="proxy", outcome="allow").count() >= 4


def test_connect_your_proxy_hands_out_the_configurations_and_shows_when_the_proxy_is_seen(
    client_for, auditor, wiki, client,
):
    from console.access.proxy import configs
    from console.access.proxy import services as proxy_services

    page = client_for(auditor).get(f"/access/applications/{wiki.pk}/proxy/", {"upstream": "http://10.0.0.5:8080"})
    body = page.content.decode()
    assert page.status_code == 200 and "No request from a proxy yet" in body
    expected = configs.for_site(configs.Site(host=HOST, upstream="http://10.0.0.5:8080", console=CONSOLE))
    for kind in ("nginx", "caddy", "traefik", "envoy"):
        assert escape(expected[kind]) in body, kind
    assert "127.0.0.1/32" in body  # the trusted proxies it must come from

    proxy_services._seen.clear()  # this process noted nothing yet
    proxied(client, remote="127.0.0.1")
    seen = client_for(auditor).get(f"/access/applications/{wiki.pk}/proxy/", HTTP_HX_REQUEST="true")
    assert b"Connected" in seen.content and HOST.encode() in seen.content and b"<h1" not in seen.content

    bad = client_for(auditor).get(f"/access/applications/{wiki.pk}/proxy/", {"upstream": "http://10.0.0.5:8080/with/path"})
    assert b"without a path" in bad.content
