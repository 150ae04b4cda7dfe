"""Access in front of a real application, clicked through in Chromium: real nginx (Debian's
package) and real Caddy, each configured from the templates the docs print and the console hands
out, in front of a small upstream application that records what it receives.

The application lives at ``http://wiki.localhost:<port>`` (Chromium resolves ``*.localhost`` to
loopback and treats it as a secure context, so the Secure cookie is kept over plain HTTP); the
console is the live server at ``http://localhost:<port>``: two hosts, two sets of cookies."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from playwright.sync_api import BrowserContext, expect

from conftest import PASSWORD, TEST_TOTP_SECRET, current_totp_code
from console.testing.access_proxy import (
    Upstream,
    free_port,
    site_for,
    start_caddy_proxy,
    start_nginx_proxy,
    start_upstream,
)
from console.testing.serving import NotInstalled, Processes

pytestmark = [pytest.mark.e2e, pytest.mark.serving, pytest.mark.django_db(transaction=True)]

HOST = "wiki.localhost"
ASKED = "/docs/runbook?tab=deploy&q=a%20b"  # what the person asked for: path and query must survive


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    app = start_upstream()
    yield app
    app.stop()


@pytest.fixture
def protected(settings, live_server, super_admin, employee) -> dict:
    """The wiki at wiki.localhost behind a policy that lets ``employee`` in after an authenticator
    app code; its /healthz is public (Bypass, no identity)."""
    from accounts.tests.factories import GroupFactory
    from console.access import services
    from mfa.models import TotpAuthenticator

    settings.CONSOLE_URL = live_server.url
    TotpAuthenticator.objects.create(user=employee, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    writers = GroupFactory(name="Writers")
    writers.members.add(employee)
    wiki = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain=HOST,
                                       session_seconds=3600)
    policy = services.policy_create(actor=super_admin, name="Writers with a code", action="allow",
                                    rules={"include": [{"type": "group", "values": [writers.pk]}]},
                                    mfa_mode="custom", mfa_methods=["totp"], mfa_reverify_minutes=60)
    services.application_set_policies(actor=super_admin, application=wiki, policy_ids=[policy.pk])
    health = services.application_create(actor=super_admin, name="Wiki health check", type="self_hosted",
                                         domain=HOST, path="/healthz", launcher_visible=False)
    public = services.policy_create(actor=super_admin, name="Health checks", action="bypass",
                                    rules={"include": [{"type": "everyone"}]})
    services.application_set_policies(actor=super_admin, application=health, policy_ids=[public.pk])
    return {"wiki": wiki, "policy": policy}


def _start(kind: str, processes: Processes, upstream: Upstream, live_server) -> str:
    """The proxy of ``kind`` on a free port; returns the application's base URL."""
    port = free_port()
    console_port = urlsplit(live_server.url).port
    site = site_for(HOST, port, upstream, f"http://127.0.0.1:{console_port}", f"localhost:{console_port}")
    try:
        (start_nginx_proxy if kind == "nginx" else start_caddy_proxy)(processes, site, port)
    except NotInstalled as exc:
        pytest.fail(str(exc))
    return f"http://{HOST}:{port}"


@pytest.fixture
def spoofing_context(browser) -> Iterator[Callable[[], BrowserContext]]:
    """A browser context whose every request claims to be the CEO (a client-sent identity header)."""
    contexts: list[BrowserContext] = []

    def make(**extra) -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **extra)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def _get(app_url: str, path: str, headers: dict | None = None) -> requests.Response:
    """A request to the proxy as a client without a browser (Python does not resolve
    ``*.localhost``): to loopback, with the application's Host."""
    port = urlsplit(app_url).port
    return requests.get(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{HOST}:{port}"} | (headers or {}),
                        allow_redirects=False, timeout=5)


def _verify_against_jwks(token: str, live_server, audience: str) -> dict:
    keys = requests.get(f"{live_server.url}/api/v1/access/jwks.json", timeout=5).json()
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys["keys"] if k["kid"] == header["kid"])
    return jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], audience=audience, issuer=live_server.url)


def _flow(kind: str, *, processes, upstream, live_server, protected, employee, super_admin, spoofing_context,
          sign_in) -> None:
    from console.access.models import AccessLogEntry, AccessSession, AppSignInCode

    app_url = _start(kind, processes, upstream, live_server)
    context = spoofing_context(extra_http_headers={"X-Auth-Request-Email": "ceo@corp.example",
                                                   "X-Auth-Request-Groups": "Executives"})
    page = context.new_page()

    # First visit: the proxy sends the browser to the console's sign-in, which asks who this is.
    page.goto(app_url + ASKED)
    expect(page).to_have_url(re.compile(r"^http://localhost:\d+/accounts/login/"))
    page.fill("#id_username", employee.email)
    page.fill("#id_password", PASSWORD)
    page.click("form[action$='/accounts/login/'] button[type=submit]")

    # The policy wants an authenticator app code: step-up before the application.
    expect(page).to_have_url(re.compile(r"/mfa/verify/\?methods=totp"))
    page.fill("[data-testid=verify-totp-code]", current_totp_code(employee))
    page.click("[data-testid=verify-totp]")

    # Back on the application's own host, at the very path and query asked for.
    expect(page.get_by_test_id("path")).to_have_text(ASKED)
    assert page.url == app_url + ASKED
    expect(page.get_by_test_id("email")).to_have_text(employee.email)
    seen = upstream.last("/docs/")
    assert seen.path == ASKED
    assert seen.headers["x-auth-request-email"] == employee.email  # never the CEO the client claimed
    assert seen.headers["x-auth-request-groups"] == "Writers"
    assert seen.headers["x-auth-request-user"] == str(employee.pk)
    claims = _verify_against_jwks(seen.headers["x-access-jwt-assertion"], live_server, protected["wiki"].aud)
    assert claims["email"] == employee.email and claims["sub"] == str(employee.pk)
    assert claims["policy"] == "Writers with a code"

    # The cookie lives on the application's host only, out of scripts' reach, and no code or token
    # was left in the address bar.
    cookie = next(c for c in context.cookies(app_url) if c["name"] == "access_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert cookie["domain"] == HOST
    assert "code=" not in page.url
    assert AppSignInCode.objects.get().used_at is not None
    assert not AppSignInCode.objects.get().token  # the token the code carried is gone once used

    # Proxied decisions are in the authentication log as the proxy's.
    assert AccessLogEntry.objects.filter(source="proxy", email=employee.email, outcome="allow").exists()

    # An admin revokes the session in the console; the next request through the proxy is refused
    # and sent back to sign in.
    session = AccessSession.objects.get(user=employee, revoked_at__isnull=True)
    admin = spoofing_context().new_page()
    sign_in(admin, super_admin.email)
    admin.goto(f"{live_server.url}/access/sessions/")
    row = admin.get_by_test_id("session-table").locator("tbody tr").filter(has_text=employee.email)
    row.get_by_role("button", name="Revoke").click()
    admin.get_by_role("dialog", name="Revoke this session?").get_by_role("button", name="Revoke").click()
    expect(admin.get_by_text("The session was revoked")).to_be_visible()
    assert AccessSession.objects.get(pk=session.pk).revoked_at is not None

    refused = _get(app_url, "/docs/other", {"Cookie": f"access_session={cookie['value']}"})
    assert refused.status_code == 302
    location = urlsplit(refused.headers["location"])
    assert location.path == "/access/proxy/sign-in/"
    assert parse_qs(location.query)["rd"] == [app_url + "/docs/other"]
    assert not [s for s in upstream.seen if s.path == "/docs/other"]

    # Signing the person out everywhere (the admin, for them) ends the console session too: the
    # next visit lands on the console's sign-in page.
    admin.goto(f"{live_server.url}/access/sessions/?user={employee.pk}")
    admin.get_by_role("button", name="Sign out everywhere").click()
    admin.get_by_role("dialog", name=re.compile("Sign .* out everywhere")).get_by_role(
        "button", name="Sign out everywhere").click()
    expect(admin.get_by_text(f"{employee.email} was signed out everywhere")).to_be_visible()
    page.goto(app_url + "/docs/again")
    expect(page).to_have_url(re.compile(r"^http://localhost:\d+/accounts/login/"))


def test_nginx_signs_in_steps_up_and_refuses_after_revocation(
    processes, upstream, live_server, protected, employee, super_admin, spoofing_context, sign_in,
):
    _flow("nginx", processes=processes, upstream=upstream, live_server=live_server, protected=protected,
          employee=employee, super_admin=super_admin, spoofing_context=spoofing_context, sign_in=sign_in)


def test_caddy_signs_in_steps_up_and_refuses_after_revocation(
    processes, upstream, live_server, protected, employee, super_admin, spoofing_context, sign_in,
):
    _flow("caddy", processes=processes, upstream=upstream, live_server=live_server, protected=protected,
          employee=employee, super_admin=super_admin, spoofing_context=spoofing_context, sign_in=sign_in)


def test_nginx_lets_a_health_check_through_with_no_identity_at_all(processes, upstream, live_server, protected):
    """No cookie, no token, no service token: the Bypass path answers; the rest of the site
    sends the same client to sign in, and a spoofed identity never reaches the application."""
    from console.access.models import AccessLogEntry

    app_url = _start("nginx", processes, upstream, live_server)
    health = _get(app_url, "/healthz", {"X-Auth-Request-Email": "ceo@corp.example"})
    assert health.status_code == 200
    seen = upstream.last("/healthz")
    assert "x-auth-request-email" not in seen.headers and "x-access-jwt-assertion" not in seen.headers
    assert AccessLogEntry.objects.filter(source="proxy", outcome="bypass", application_name="Wiki health check",
                                         email="").exists()

    private = _get(app_url, "/docs/")
    assert private.status_code == 302 and "/access/proxy/sign-in/" in private.headers["location"]
    assert not [s for s in upstream.seen if s.path == "/docs/"]
