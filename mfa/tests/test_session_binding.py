"""An MFA verification belongs to the browser (console session) that performed it: another
browser of the same person is still challenged, through the App Launcher and through the
decision API (whose tokens speak for the browser that opened their Access session)."""

from __future__ import annotations

import json

import pyotp
import pytest
from django.test import Client

from console.access import decisions, policies
from console.access import services as access_services
from console.access.models import AccessSession
from mfa.binding import BINDING_KEY, session_hash
from mfa.models import TotpAuthenticator, Verification

pytestmark = pytest.mark.django_db

SECRET = "3132333435363738393031323334353637383930"  # RFC 6238's test key, as hex


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser


def _code(at_step_offset: int = 0) -> str:
    import base64
    import time

    generator = pyotp.TOTP(base64.b32encode(bytes.fromhex(SECRET)).decode())
    return generator.at(time.time() + 30 * at_step_offset)


@pytest.fixture
def payroll(super_admin, employee, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    TotpAuthenticator.objects.create(user=employee, name="Phone", key=SECRET, confirmed=True)
    app = access_services.application_create(actor=super_admin, name="Payroll", type="self_hosted",
                                             domain="payroll.corp.example", url="https://payroll.corp.example/")
    policy = access_services.policy_create(actor=super_admin, name="Finance", action="allow", rules={
        "include": [{"type": "email", "values": [employee.email]}],
    })
    access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    return app, policy


def _require_totp(super_admin, policy) -> None:
    access_services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules={
        "include": policy.rules["include"],
        "require": [{"type": "mfa_method", "values": ["totp"], "max_age_minutes": 60}],
    })
    policies.clear_local_cache()


def _verify(browser: Client, step: int = 0) -> None:
    response = browser.post("/mfa/verify/", {"method": "totp", "code": _code(step), "next": "/launcher/"})
    assert response.status_code == 302, response.content.decode()


def _launch(browser: Client, app) -> int:
    return browser.get(f"/access/applications/{app.pk}/launch/").status_code


def test_a_verification_in_one_browser_does_not_pass_the_launcher_in_another(payroll, super_admin, employee):
    app, policy = payroll
    _require_totp(super_admin, policy)
    a, b = _browser(employee), _browser(employee)
    assert _launch(a, app) == 200 and _launch(b, app) == 200  # both challenged
    _verify(a)
    assert _launch(a, app) == 302
    refused = b.get(f"/access/applications/{app.pk}/launch/")
    assert refused.status_code == 200 and 'data-testid="step-up"' in refused.content.decode()
    # The launcher's tiles say the same.
    assert "extra check" not in a.get("/launcher/").content.decode()
    assert "extra check" in b.get("/launcher/").content.decode()
    _verify(b, step=1)
    assert _launch(b, app) == 302


def test_a_verification_in_one_browser_does_not_pass_the_decision_api_for_another(
    payroll, super_admin, employee, client
):
    app, policy = payroll
    _, secret = access_services.api_token_create(actor=super_admin, name="edge", scopes=["access:decide"])
    a, b = _browser(employee), _browser(employee)
    # Each browser opens the application (no MFA asked yet): an Access session each, and the
    # application token a proxy keeps for it.
    assert _launch(a, app) == 302 and _launch(b, app) == 302
    tokens = {}
    for name, browser in (("a", a), ("b", b)):
        outcome = decisions.decide(application=app, source="launcher", issuer="http://testserver", user=employee,
                                   console_session_hash=session_hash(browser.session))
        tokens[name] = outcome.token
    sessions = AccessSession.objects.filter(user=employee, application=app, revoked_at__isnull=True)
    assert sessions.count() == 2
    assert {s.console_session_hash for s in sessions} == {session_hash(a.session), session_hash(b.session)}

    _require_totp(super_admin, policy)
    _verify(a)

    def decide(body: dict) -> dict:
        response = client.post("/api/v1/access/decide", data=json.dumps({"application": app.aud} | body),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        return response.json()

    assert decide({"token": tokens["a"]})["decision"] == "allow"
    challenged = decide({"token": tokens["b"]})
    assert challenged["decision"] == "challenge" and challenged["challenge"][0]["type"] == "mfa"
    # A bare e-mail names no browser: no verification counts for it.
    assert decide({"user": {"email": employee.email}})["decision"] == "challenge"


def test_a_rotated_session_key_keeps_the_binding_and_signing_out_drops_it(payroll, super_admin, employee):
    from django.conf import settings

    from conftest import PASSWORD

    app, policy = payroll
    _require_totp(super_admin, policy)
    a = Client()
    anonymous_key = a.session.session_key
    signed_in = a.post("/accounts/login/", {"username": employee.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and a.session.session_key != anonymous_key  # sign-in rotates the key
    _verify(a)
    assert _launch(a, app) == 302
    # The key rotates again (as a password change does): the verification still counts here.
    session = a.session
    before_key, before_hash = session.session_key, session_hash(session)
    session.cycle_key()
    session.save()
    a.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert a.session.session_key != before_key and session_hash(a.session) == before_hash
    assert _launch(a, app) == 302
    # Signing out ends the session: the next sign-in in this browser must verify again.
    a.post("/accounts/logout/")
    a.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
    assert session_hash(a.session) != before_hash
    assert _launch(a, app) == 200


def test_the_session_key_itself_is_never_stored(payroll, super_admin, employee):
    a = _browser(employee)
    _verify(a)
    verification = Verification.objects.get(user=employee)
    session = a.session
    assert verification.session_hash == session_hash(session)
    assert len(verification.session_hash) == 64
    for raw in (session.session_key, session[BINDING_KEY]):
        assert raw not in verification.session_hash
