"""Signing in with a passkey through the sign-in page's endpoints (Django's test client and a
software authenticator making real assertions): who it signs in, what it counts as, and every
way it is refused, with the audit trail and the rate limits of other verification steps."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.audit.models import AuditEvent
from mfa.models import Method, Verification
from mfa.tests.software_authenticator import SoftwareKey
from mfa.webauthn import user_handle

pytestmark = pytest.mark.django_db

OPTIONS = "/accounts/login/passkey/options/"
COMPLETE = "/accounts/login/passkey/"


@pytest.fixture(autouse=True)
def _relying_party(settings) -> None:
    settings.WEBAUTHN_RP_ID = "testserver"
    settings.WEBAUTHN_ALLOWED_ORIGINS = ["http://testserver"]


def options(browser: Client) -> dict:
    response = browser.post(OPTIONS, content_type="application/json", data={})
    assert response.status_code == 200
    body = response.json()
    assert "allowCredentials" not in body["publicKey"] or not body["publicKey"]["allowCredentials"]
    assert body["publicKey"]["userVerification"] == "required"
    return body


def answer(browser: Client, credential: dict, next_url: str = ""):
    return browser.post(COMPLETE, content_type="application/json",
                        data=json.dumps({"credential": credential, "next": next_url}))


def sign_in(browser: Client, key: SoftwareKey, user, **assertion) -> object:
    return answer(browser, key.assertion(options(browser), user_handle=user_handle(user), **assertion))


def failures(reason: str) -> int:
    return sum(reason in e.changes.get("reason", "") for e in AuditEvent.objects.filter(action="auth.login_failed")
               if e.changes.get("method") == "passkey")


def test_a_passkey_signs_its_owner_in_and_counts_as_their_mfa(employee, security_admin):
    key = SoftwareKey()
    device = key.enroll(security_admin, name="Sec's key")
    browser = Client()
    response = sign_in(browser, key, security_admin)
    assert response.status_code == 200 and response.json() == {"ok": True, "next": "/"}
    assert browser.session["_auth_user_id"] == str(security_admin.pk)
    # The console asks a Security Admin for MFA: the passkey was it, so the console opens.
    assert browser.get("/").status_code == 200
    assert browser.session["access_identity"] == {"identity_provider": "passkey", "amr": ["hwk", "mfa"]}
    [verification] = Verification.objects.filter(user=security_admin)
    assert verification.method == Method.SECURITY_KEY and verification.authenticator == "Sec's key"
    login = AuditEvent.objects.get(action="auth.login")
    assert login.changes == {"method": "passkey", "authenticator": "Sec's key", "authenticator_kind": "security_key"}
    device.refresh_from_db()
    assert device.sign_count == 1 and device.last_used_at is not None
    # ``next`` is followed on this console only.
    assert sign_in(Client(), key, security_admin).json()["next"] == "/"
    assert answer(other := Client(), key.assertion(options(other), user_handle=user_handle(security_admin)),
                  "/launcher/").json()["next"] == "/launcher/"
    assert answer(evil := Client(), key.assertion(options(evil), user_handle=user_handle(security_admin)),
                  "https://evil.example/").json()["next"] == "/"


def test_a_key_that_did_not_verify_its_user_is_refused(employee):
    key = SoftwareKey()
    key.enroll(employee)
    browser = Client()
    response = sign_in(browser, key, employee, verified=False)
    assert response.status_code == 400
    assert "must also check it is you (PIN, fingerprint or face)" in response.json()["error"]
    assert "_auth_user_id" not in browser.session and not Verification.objects.exists()
    assert failures("verification") == 1


def test_unknown_passkeys_deactivated_accounts_replays_and_clones_are_refused(employee, make_user):
    stranger = SoftwareKey()
    refused = sign_in(Client(), stranger, employee)
    assert refused.status_code == 400 and "not registered with the console" in refused.json()["error"]
    assert failures("no enrolled authenticator") == 1

    key = SoftwareKey()
    key.enroll(employee)
    other = make_user(email="other@corp.example")
    # A user handle that is not the key owner's.
    assert "not registered" in sign_in(Client(), key, other).json()["error"]

    browser = Client()
    challenge = options(browser)
    credential = key.assertion(challenge, user_handle=user_handle(employee))
    assert answer(browser, credential).status_code == 200
    replay = answer(Client(), credential)
    assert replay.status_code == 400 and "No WebAuthn ceremony is in progress" in replay.json()["error"]

    cloned = sign_in(Client(), key, employee, counter=1)  # the counter went backwards
    assert cloned.status_code == 400 and "may have been copied" in cloned.json()["error"]
    assert AuditEvent.objects.filter(action="mfa.clone_suspected").exists()

    employee.is_active = False
    employee.save(update_fields=["is_active"])
    fresh = SoftwareKey()
    fresh.enroll(employee, name="Second key")
    gone = sign_in(Client(), fresh, employee)
    assert gone.status_code == 400 and "deactivated" in gone.json()["error"]


def test_passkey_sign_in_has_the_verification_ceilings_and_respects_lockouts(settings, employee):
    key = SoftwareKey()
    key.enroll(employee)
    settings.MFA_ATTEMPTS_PER_USER = 2
    assert sign_in(Client(), key, employee, verified=False).status_code == 400
    assert sign_in(Client(), key, employee, verified=False).status_code == 400
    limited = sign_in(Client(), key, employee)
    assert limited.status_code == 429 and "Too many verification attempts" in limited.json()["error"]
    assert AuditEvent.objects.filter(action="mfa.locked_out").exists()

    settings.MFA_ATTEMPTS_PER_USER = 100
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/accounts/login/", {"username": employee.email, "password": "wrong"})
    locked = sign_in(browser, key, employee)
    assert locked.status_code == 400 and "Sign-in is locked" in locked.json()["error"]
    assert failures("locked out") == 1


def test_the_sign_in_page_offers_passkeys_and_says_what_is_missing(employee):
    browser = Client()
    page = browser.get("/accounts/login/").content.decode()
    assert 'autocomplete="username webauthn"' in page and 'data-testid="passkey-sign-in"' in page
    assert "js/passkey-sign-in.js" in page and "<script>" not in page
    empty = browser.post("/accounts/login/", {"username": employee.email, "password": ""})
    assert empty.status_code == 200
    text = empty.content.decode()
    assert 'data-testid="password-error"' in text and "Enter your password." in text
    assert "_auth_user_id" not in browser.session
    no_email = browser.post("/accounts/login/", {"username": "", "password": "x"}).content.decode()
    assert "Enter your e-mail address." in no_email
