"""Identity verification for people who already have an account: step-up asked by an Access
policy ("identity verified within N days"), replacing lost authenticators, and account recovery
without a help-desk call. Real codes and tokens from the test provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.onboarding.models import VerificationRecord
from accounts.onboarding.selectors import identity_facts
from accounts.onboarding.services import gate
from accounts.onboarding.tests.conftest import callback_path, provider_answer
from console.access import decisions, engine, facts
from console.access import services as access_services
from console.audit.models import AuditEvent
from mfa.binding import session_hash
from mfa.models import BackupCode, TotpAuthenticator

pytestmark = pytest.mark.django_db


def _payroll(super_admin, employee, days: int = 1):
    app = access_services.application_create(actor=super_admin, name="Payroll", type="self_hosted",
                                             domain="payroll.corp.example")
    policy = access_services.policy_create(actor=super_admin, name="Verified staff", action="allow", rules={
        "include": [{"type": "email", "values": [employee.email]}],
        "require": [{"type": "identity_verified", "max_age_days": days}],
    })
    access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    return app


def test_an_access_policy_asks_for_identity_verification_and_the_step_up_satisfies_it(
    client_for, employee, super_admin, idv, django_capture_on_commit_callbacks
):
    app = _payroll(super_admin, employee)
    client = client_for(employee)
    launch = f"/access/applications/{app.pk}/launch/"
    refused = client.get(launch)
    assert refused.status_code == 200
    body = refused.content.decode()
    assert 'data-testid="step-up-identity"' in body and f"/onboarding/verify/?next={launch}" in body
    page = client.get(f"/onboarding/verify/?next={launch}")
    assert "Verify with VerifyMe" in page.content.decode()
    # The form's answer redirects to the provider: CSP's form-action names it.
    assert f"form-action 'self' {idv.issuer}" in page["Content-Security-Policy"]

    start = client.post("/onboarding/verify/", {"next": launch})
    with django_capture_on_commit_callbacks(execute=True):
        back = client.get(callback_path(provider_answer(start["Location"], employee.email)))
    assert back["Location"] == launch
    assert client.get(launch)["Location"] == "https://payroll.corp.example/"
    record = VerificationRecord.objects.get(user=employee)
    assert (record.purpose, record.outcome) == ("step_up", "verified")
    assert AuditEvent.objects.filter(action="identity.verified", actor_email=employee.email).exists()
    assert record.session_hash == session_hash(client.session)
    assert decisions.decide(application=app, source="launcher", issuer="http://t", user=employee,
                            console_session_hash=record.session_hash).outcome == "allow"
    person = client_for(super_admin).get(f"/accounts/users/{employee.pk}/").content.decode()
    assert f'data-testid="user-identity-verified">{timezone.localtime(record.at):%Y-%m-%d %H:%M}' in person


def test_an_old_verification_no_longer_satisfies_a_policy_with_a_time_limit(employee, super_admin):
    app = _payroll(super_admin, employee, days=30)
    here = facts.SessionScope("a" * 64)
    VerificationRecord.objects.create(user=employee, provider_name="VerifyMe", purpose="step_up",
                                      outcome="verified", at=timezone.now() - timedelta(days=40),
                                      session_hash=here.console_session_hash)
    assert identity_facts(employee, here)["identity_verified_at"] is not None
    outcome = decisions.decide(application=app, source="launcher", issuer="http://t", user=employee,
                               console_session_hash=here.console_session_hash)
    assert outcome.decision.outcome == engine.Outcome.CHALLENGE
    assert [c.kind for c in outcome.decision.challenge] == ["identity_verification"]
    VerificationRecord.objects.create(user=employee, provider_name="VerifyMe", purpose="step_up",
                                      outcome="failed", failed_check="assurance_level")
    assert facts.user_context(employee, session=here).identity_verified_at < timezone.now() - timedelta(days=39)
    VerificationRecord.objects.create(user=employee, provider_name="VerifyMe", purpose="step_up", outcome="verified",
                                      session_hash=here.console_session_hash)
    assert decisions.decide(application=app, source="launcher", issuer="http://t", user=employee,
                            console_session_hash=here.console_session_hash).outcome == "allow"


def test_a_step_up_answered_for_someone_else_is_refused(client_for, employee, super_admin, idv):
    client = client_for(employee)
    start = client.post("/onboarding/verify/", {"next": "/launcher/"})
    answer = client.get(callback_path(provider_answer(start["Location"], "imposter@elsewhere.example")))
    assert answer.status_code == 400 and "You verified as imposter@elsewhere.example" in answer.content.decode()
    event = AuditEvent.objects.get(action="identity.verification_failed")
    assert (event.object_id, event.changes["check"], event.actor_email) == (str(employee.pk), "email", employee.email)
    assert not VerificationRecord.objects.filter(outcome="verified").exists()


def test_lost_authenticators_are_replaced_after_a_fresh_verification(client_for, employee, idv):
    TotpAuthenticator.objects.create(user=employee, name="Lost phone", confirmed=True)
    BackupCode.objects.create(user=employee, code_hash="x")
    client = client_for(employee)
    devices = client.get("/mfa/").content.decode()
    assert 'data-testid="replace-lost"' in devices
    # Without a verification, adding a device needs one of the lost ones.
    options = client.post("/mfa/webauthn/register/options/", {"kind": "security_key"}, content_type="application/json")
    assert options.status_code == 400 and "Verify with one of your authenticators first" in options.json()["error"]
    start = client.post("/onboarding/verify/replace-authenticators/")
    back = client.get(callback_path(provider_answer(start["Location"], employee.email)))
    assert back["Location"] == "/mfa/"
    assert not TotpAuthenticator.objects.filter(user=employee).exists()
    assert not BackupCode.objects.filter(user=employee).exists()
    assert client.get("/mfa/totp/").status_code == 200
    reset = AuditEvent.objects.get(action="mfa.reset_after_verification")
    assert reset.changes["removed"] == ["totp: Lost phone"] and reset.changes["backup_codes"] == 1


def test_someone_who_cannot_sign_in_recovers_their_account(employee, idv):
    TotpAuthenticator.objects.create(user=employee, name="Lost phone", confirmed=True)
    client = Client()
    assert 'data-testid="recover-link"' in client.get("/accounts/login/").content.decode()
    start = client.post("/onboarding/recover/", {"email": employee.email.upper()})
    assert start.status_code == 302
    back = client.get(callback_path(provider_answer(start["Location"], employee.email)))
    assert back["Location"] == "/onboarding/welcome/"
    assert not TotpAuthenticator.objects.filter(user=employee).exists()
    # Signed in, but held until a new authenticator is enrolled.
    assert client.get("/launcher/")["Location"] == "/onboarding/welcome/"
    TotpAuthenticator.objects.create(user=employee, name="New phone", confirmed=True)
    assert client.post("/onboarding/welcome/finish/")["Location"] == "/launcher/"
    assert client.get("/launcher/").status_code == 200
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"identity.verified", "identity.account_recovered", "identity.recovery_completed", "auth.login"} <= actions
    login = AuditEvent.objects.get(action="auth.login")
    assert login.changes["method"] == "identity_verification"


def test_recovery_for_an_e_mail_nobody_has_fails_without_signing_in(idv):
    client = Client()
    start = client.post("/onboarding/recover/", {"email": "imposter@elsewhere.example"})
    answer = client.get(callback_path(provider_answer(start["Location"], "imposter@elsewhere.example")))
    assert answer.status_code == 400 and "no active account uses" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.get(action="identity.verification_failed").changes["check"] == "account"


def test_recovery_answered_for_another_person_is_refused(employee, idv):
    client = Client()
    start = client.post("/onboarding/recover/", {"email": employee.email})
    answer = client.get(callback_path(provider_answer(start["Location"], "imposter@elsewhere.example")))
    assert answer.status_code == 400
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="identity.verification_failed")
    assert (event.object_id, event.changes["check"]) == (str(employee.pk), "email")


def test_a_verified_hire_who_signs_in_another_way_is_still_held_at_the_portal(
    client, hr_user, idv, django_capture_on_commit_callbacks
):
    from accounts.onboarding.tests.conftest import invite

    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    start = client.post(link)
    client.get(callback_path(provider_answer(start["Location"], "ada.new@corp.example")))
    case.refresh_from_db()
    other = Client()
    other.force_login(case.user, backend="django.contrib.auth.backends.ModelBackend")
    assert other.get("/launcher/")["Location"] == "/onboarding/welcome/"
    assert other.session[gate.GATE_KEY] == {"purpose": "onboarding", "case": case.pk}


def test_the_identity_facts_provider_is_registered_for_access():
    from console.access.facts import _session_providers

    assert identity_facts in _session_providers


def test_a_verification_provider_cannot_be_used_to_sign_in(idv, employee):
    """Its answers prove an identity for onboarding and step-up; they never open a session."""
    client = Client()
    response = client.get(f"/accounts/oidc/{idv.slug}/start/")
    assert response["Location"] == "/accounts/login/"
    assert "That sign-in provider is not available." in client.get("/accounts/login/").content.decode()
    assert f"sso-{idv.slug}" not in client.get("/accounts/login/").content.decode()


def test_an_identity_verification_in_one_browser_does_not_count_in_another(
    employee, super_admin, idv, client, django_capture_on_commit_callbacks
):
    """Step-up belongs to the browser that did it, through the launcher and the decision API."""
    import json

    from console.access import policies

    app = _payroll(super_admin, employee)
    policy = app.policies.get()
    access_services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow",
                                  rules={"include": policy.rules["include"]})  # nothing asked yet
    _, secret = access_services.api_token_create(actor=super_admin, name="edge", scopes=["access:decide"])
    a, b = Client(), Client()
    tokens = {}
    for name, browser in (("a", a), ("b", b)):
        browser.force_login(employee, backend="django.contrib.auth.backends.ModelBackend")
        assert browser.get(f"/access/applications/{app.pk}/launch/").status_code == 302
        tokens[name] = decisions.decide(application=app, source="launcher", issuer="http://testserver", user=employee,
                                        console_session_hash=session_hash(browser.session)).token
    access_services.policy_update(actor=super_admin, policy=policy, name=policy.name, action="allow", rules={
        "include": policy.rules["include"], "require": [{"type": "identity_verified", "max_age_days": 1}],
    })
    policies.clear_local_cache()
    launch = f"/access/applications/{app.pk}/launch/"
    assert a.get(launch).status_code == 200 and b.get(launch).status_code == 200
    start = a.post("/onboarding/verify/", {"next": launch})
    with django_capture_on_commit_callbacks(execute=True):
        a.get(callback_path(provider_answer(start["Location"], employee.email)))
    assert a.get(launch)["Location"] == "https://payroll.corp.example/"
    refused = b.get(launch)
    assert refused.status_code == 200 and 'data-testid="step-up-identity"' in refused.content.decode()

    def decide(body: dict) -> dict:
        return client.post("/api/v1/access/decide", data=json.dumps({"application": app.aud} | body),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}").json()

    assert decide({"token": tokens["a"]})["decision"] == "allow"
    challenged = decide({"token": tokens["b"]})
    assert challenged["decision"] == "challenge" and challenged["challenge"][0]["type"] == "identity_verification"
    assert decide({"user": {"email": employee.email}})["decision"] == "challenge"
