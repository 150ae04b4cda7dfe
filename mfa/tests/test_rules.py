"""MFA requirements at three levels: policy beats application beats organization."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from console.access import decisions, engine, policies
from console.access import services as access_services
from console.audit.models import AuditEvent
from mfa import rules, services
from mfa.models import OrganizationSettings, Verification

pytestmark = pytest.mark.django_db


def level(mode: str = "respect", methods=(), minutes: int = 1440, phishing: bool = False):
    return SimpleNamespace(mfa_mode=mode, mfa_methods=list(methods), mfa_reverify_minutes=minutes,
                           mfa_phishing_resistant=phishing, action="allow")


def org(**fields) -> OrganizationSettings:
    values = {"required_for_all": False, "allowed_methods": [], "reverify_minutes": 1440,
              "phishing_resistant_only": False, "allowed_aaguids": []} | fields
    return OrganizationSettings(**values)


@pytest.mark.parametrize(
    ("org_required", "app", "policy", "required"),
    [
        # The reference's precedence table.
        (True, level("custom"), level("custom"), True),
        (True, level("custom"), level("disabled"), False),  # the policy wins
        (True, level("disabled"), level("respect"), False),  # the application wins
        (True, level("respect"), level("respect"), True),  # the organization applies
        (False, level("respect"), level("respect"), False),
        (False, level("respect"), level("custom"), True),
        (False, level("custom"), level("respect"), True),
    ],
    ids=["all-required", "policy-disables", "app-disables", "org-applies", "nothing", "policy-only", "app-only"],
)
def test_precedence(org_required, app, policy, required):
    assert (rules.effective(org(required_for_all=org_required), app, policy) is not None) == required


def test_methods_durations_and_phishing_resistance():
    everything = rules.effective(org(required_for_all=True), level(), level())
    assert everything.methods == ("security_key", "biometrics", "totp", "backup_code")
    assert everything.max_age_minutes == 1440
    keys_only = rules.effective(org(), level(), level("custom", ["totp", "security_key"], 30, phishing=True))
    assert keys_only == rules.Requirement(("security_key",), 30)
    org_phishing = rules.effective(org(required_for_all=True, phishing_resistant_only=True), level(), level())
    assert org_phishing.methods == ("security_key", "biometrics")
    every_sign_in = rules.effective(org(), level("custom", [], 0), level())
    assert every_sign_in.max_age_minutes == rules.EVERY_SIGN_IN
    assert "max_age_minutes" not in every_sign_in.selector()


def test_the_organization_setting_reaches_access_decisions(super_admin, employee):
    app = access_services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                             domain="wiki.corp.example")
    policy = access_services.policy_create(actor=super_admin, name="All", action="allow",
                                           rules={"include": [{"type": "everyone"}]})
    access_services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])

    def outcome():
        policies.clear_local_cache()
        app.refresh_from_db()
        return decisions.decide(application=app, source="launcher", issuer="http://t", user=employee,
                                console_session_hash="a" * 64).decision

    assert outcome().outcome == engine.Outcome.ALLOW
    services.org_settings_update(actor=super_admin, required_for_all=True, allowed_methods=["security_key"],
                                 reverify_minutes=60, phishing_resistant_only=False, allowed_aaguids=[])
    challenged = outcome()
    assert challenged.outcome == engine.Outcome.CHALLENGE
    assert challenged.challenge[0].methods == ("security_key",) and challenged.challenge[0].max_age_seconds == 3600
    Verification.objects.create(user=employee, method="security_key", session_hash="b" * 64)
    assert outcome().outcome == engine.Outcome.CHALLENGE  # verified in another browser: not here
    Verification.objects.create(user=employee, method="security_key", session_hash="a" * 64)
    assert outcome().outcome == engine.Outcome.ALLOW
    # The application opts out; the policy then opts back in with an authenticator app.
    access_services.application_update(actor=super_admin, application=app, name="Wiki", type="self_hosted",
                                       domain="wiki.corp.example", mfa_mode="disabled")
    Verification.objects.all().delete()
    assert outcome().outcome == engine.Outcome.ALLOW
    access_services.policy_update(actor=super_admin, policy=policy, name="All", action="allow",
                                  rules=policy.rules, mfa_mode="custom", mfa_methods=["totp"],
                                  mfa_reverify_minutes=10)
    assert outcome().challenge[0].methods == ("totp", "backup_code")
    event = AuditEvent.objects.filter(action="access.policy.updated").latest("id")
    assert event.changes["mfa_mode"] == {"old": "respect", "new": "custom"}


def test_the_settings_page_is_for_admins_to_change_and_auditors_to_read(client_for, super_admin, auditor):
    admin = client_for(super_admin)
    response = admin.post("/mfa/settings/", {
        "required_for_all": "on", "allowed_methods": ["security_key", "biometrics"], "reverify_minutes": "120",
        "allowed_aaguids": "ee882879-721c-4913-9775-3dfcce97072a\nnot-an-aaguid",
    })
    assert "is not an AAGUID" in response.content.decode()
    admin.post("/mfa/settings/", {"required_for_all": "on", "allowed_methods": ["security_key"],
                                  "reverify_minutes": "120",
                                  "allowed_aaguids": "ee882879-721c-4913-9775-3dfcce97072a"})
    settings_row = OrganizationSettings.load()
    assert settings_row.required_for_all and settings_row.allowed_aaguids == ["ee882879721c491397753dfcce97072a"]
    assert AuditEvent.objects.filter(action="mfa.settings_updated").exists()
    read_only = client_for(auditor)
    assert b"mfa-settings-save" not in read_only.get("/mfa/settings/").content
    assert read_only.post("/mfa/settings/", {"reverify_minutes": "5"}).status_code == 403


def test_authenticator_models_are_named_when_known():
    from mfa.models import WebAuthnAuthenticator

    assert WebAuthnAuthenticator(aaguid="cb69481e-8ff7-4039-93ec-0a2729a154a8").model == "YubiKey 5 series"
    assert WebAuthnAuthenticator(aaguid="00000000-0000-0000-0000-000000000000").model == "model not disclosed"
    assert WebAuthnAuthenticator(aaguid="12345678-1234-1234-1234-123456789abc").model.startswith("12345678")
