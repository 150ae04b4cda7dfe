"""The console asks for MFA: Super Admins, Security Admins and HR verify (or enroll at their
first sign-in) before any other page; sensitive actions need a fresh verification of the same
session; the organization setting is a Super Admin's, audited."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from conftest import PASSWORD, TEST_TOTP_SECRET, current_totp_code
from console.audit.models import AuditEvent
from mfa.models import OrganizationSettings, TotpAuthenticator
from mfa.services import RECENT_KEY

pytestmark = pytest.mark.django_db


def _sign_in(user) -> Client:
    browser = Client()
    response = browser.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()
    return browser


def _verify(browser: Client, user, next_url: str = "/") -> str:
    response = browser.post(f"/mfa/verify/?next={next_url}",
                            {"method": "totp", "code": current_totp_code(user), "next": next_url})
    assert response.status_code == 302, response.content.decode()
    return response["Location"]


@pytest.fixture(autouse=True)
def _no_throttle(settings) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.mark.parametrize("role", ["super_admin", "security_admin", "hr"])
def test_privileged_roles_verify_before_any_console_page(make_user, role):
    user = make_user(role, email=f"{role}@corp.example")
    TotpAuthenticator.objects.create(user=user, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = _sign_in(user)
    for path in ("/", "/accounts/users/", "/audit/", "/launcher/"):
        response = browser.get(path)
        assert response.status_code == 302 and response["Location"] == f"/mfa/verify/?next={path}", path
    # htmx requests are sent to the verify page as a whole page.
    swapped = browser.get("/accounts/users/", HTTP_HX_REQUEST="true")
    assert swapped.status_code == 204 and swapped["HX-Redirect"].startswith("/mfa/verify/")
    # Posts are refused as well (and nothing is done).
    assert browser.post("/accounts/groups/new/", {"name": "Sneaky"})["Location"].startswith("/mfa/verify/")
    assert browser.get("/mfa/verify/?next=/accounts/users/").status_code == 200
    wrong = browser.post("/mfa/verify/", {"method": "totp", "code": "000000", "next": "/"})
    assert wrong.status_code == 200 and browser.get("/").status_code == 302
    assert _verify(browser, user, "/accounts/users/") == "/accounts/users/"
    assert browser.get("/accounts/users/").status_code == 200
    # Signing out and in again asks again.
    browser.post("/accounts/logout/")
    browser.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert browser.get("/accounts/users/")["Location"].startswith("/mfa/verify/")


def test_a_verification_in_another_browser_does_not_open_the_console(super_admin):
    TotpAuthenticator.objects.create(user=super_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    a, b = _sign_in(super_admin), _sign_in(super_admin)
    _verify(a, super_admin)
    assert a.get("/").status_code == 200
    assert b.get("/")["Location"] == "/mfa/verify/?next=/"


def test_a_privileged_person_without_an_authenticator_enrolls_at_first_sign_in(security_admin):
    import base64

    import pyotp

    browser = _sign_in(security_admin)
    assert browser.get("/")["Location"] == "/mfa/"
    assert browser.get("/access/applications/")["Location"] == "/mfa/"
    assert browser.get("/mfa/").status_code == 200
    page = browser.get("/mfa/totp/")
    assert page.status_code == 200
    secret = page.context["secret"].replace(" ", "")
    enrolled = browser.post("/mfa/totp/", {"code": pyotp.TOTP(secret).now(), "name": "Phone"})
    assert enrolled.status_code == 302
    # Enrolling verified this session: the console opens.
    assert browser.get("/access/applications/").status_code == 200
    assert base64.b32decode(secret + "=" * (-len(secret) % 8))  # a real key was enrolled
    # Once enrolled, the devices page is not a way around the verify page in a new session.
    other = _sign_in(security_admin)
    assert other.get("/mfa/")["Location"] == "/mfa/verify/?next=/mfa/"


@pytest.mark.parametrize("role", ["employee", "auditor"])
def test_employees_and_auditors_are_not_forced(make_user, role):
    user = make_user(role, email=f"{role}@corp.example")
    TotpAuthenticator.objects.create(user=user, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = _sign_in(user)
    home = "/launcher/" if role == "employee" else "/audit/"
    assert browser.get(home).status_code == 200


def test_only_a_super_admin_turns_console_mfa_off_and_it_is_audited(client_for, super_admin, security_admin):
    assert OrganizationSettings.load().console_mfa_required is True  # on by default
    refused = client_for(security_admin).post("/mfa/settings/console/", {})
    assert refused.status_code == 403 and OrganizationSettings.load().console_mfa_required is True
    page = client_for(super_admin).get("/mfa/settings/")
    assert 'data-testid="console-mfa-required"' in page.content.decode()
    client_for(super_admin).post("/mfa/settings/console/", {})
    assert OrganizationSettings.load().console_mfa_required is False
    event = AuditEvent.objects.get(action="mfa.console_mfa_updated")
    assert event.actor_email == super_admin.email
    assert event.changes == {"console_mfa_required": {"old": True, "new": False}}
    # Off: a privileged person without MFA gets in.
    assert _sign_in(security_admin).get("/accounts/users/").status_code == 200


def test_the_setting_service_refuses_anyone_but_a_super_admin(security_admin):
    from console.core.errors import PermissionRefused
    from mfa.console import console_mfa_setting_update

    with pytest.raises(PermissionRefused):
        console_mfa_setting_update(actor=security_admin, required=False)
    assert not AuditEvent.objects.filter(action="mfa.console_mfa_updated").exists()


def _age_verification(browser: Client, seconds: int) -> None:
    session = browser.session
    session[RECENT_KEY] = time.time() - seconds
    session.save()


@pytest.mark.parametrize("path", [
    "/accounts/identity-providers/new/", "/access/api-tokens/new/", "/access/service-tokens/new/",
    "/accounts/users/import/",
])
def test_sensitive_pages_ask_for_a_fresh_verification_and_come_back(client_for, super_admin, settings, path):
    TotpAuthenticator.objects.create(user=super_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = client_for(super_admin)
    assert browser.get(path).status_code == 200  # verified just now
    _age_verification(browser, settings.CONSOLE_SENSITIVE_REVERIFY_SECONDS + 1)
    assert browser.get("/").status_code == 200  # the console stays open
    response = browser.get(path)
    assert response.status_code == 302 and response["Location"] == f"/mfa/verify/?next={path}"
    assert _verify(browser, super_admin, path) == path
    assert browser.get(path).status_code == 200


def test_a_sensitive_post_without_a_fresh_verification_does_nothing(client_for, super_admin, settings):
    from console.access.models import ApiToken

    TotpAuthenticator.objects.create(user=super_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = client_for(super_admin)
    _age_verification(browser, settings.CONSOLE_SENSITIVE_REVERIFY_SECONDS + 1)
    response = browser.post("/access/api-tokens/new/", {"name": "edge", "scopes": ["access:decide"]},
                            HTTP_REFERER="http://testserver/access/api-tokens/new/")
    assert response["Location"] == "/mfa/verify/?next=http%3A//testserver/access/api-tokens/new/"
    assert not ApiToken.objects.exists()
    # A foreign referer is never where the verify page sends you back.
    foreign = browser.post("/access/api-tokens/new/", {"name": "edge"}, HTTP_REFERER="https://evil.example/x")
    assert foreign["Location"] == "/mfa/verify/?next=/"
    assert browser.post("/mfa/verify/", {"method": "totp", "code": current_totp_code(super_admin),
                                         "next": "https://evil.example/x"})["Location"] == "/mfa/"


def test_role_changes_and_mfa_removal_need_a_fresh_verification(client_for, super_admin, employee, settings):
    TotpAuthenticator.objects.create(user=super_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    TotpAuthenticator.objects.create(user=employee, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = client_for(super_admin)
    _age_verification(browser, settings.CONSOLE_SENSITIVE_REVERIFY_SECONDS + 1)
    edit = f"/accounts/users/{employee.pk}/edit/"
    form = {"email": employee.email, "full_name": employee.full_name, "role": "security_admin", "title": "",
            "country": "", "manager": ""}
    refused = browser.post(edit, form, HTTP_REFERER=f"http://testserver{edit}")
    assert refused["Location"].startswith("/mfa/verify/")
    employee.refresh_from_db()
    assert employee.role == "employee"
    # Other edits need nothing more.
    renamed = browser.post(edit, form | {"role": "employee", "full_name": "Emil Renamed"})
    assert renamed.status_code == 302 and not renamed["Location"].startswith("/mfa/")
    revoke = browser.post(f"/mfa/admin/users/{employee.pk}/revoke/")
    assert revoke["Location"].startswith("/mfa/verify/")
    assert TotpAuthenticator.objects.filter(user=employee).exists()
    _verify(browser, super_admin)
    browser.post(edit, form)
    employee.refresh_from_db()
    assert employee.role == "security_admin"
    browser.post(f"/mfa/admin/users/{employee.pk}/revoke/")
    assert not TotpAuthenticator.objects.filter(user=employee).exists()


def test_rotating_a_signing_key_needs_a_fresh_verification(client_for, super_admin, settings):
    browser = client_for(super_admin)
    _age_verification(browser, settings.CONSOLE_SENSITIVE_REVERIFY_SECONDS + 1)
    assert browser.post("/risk/ssf/keys/rotate/")["Location"].startswith("/mfa/verify/")


def test_machine_apis_and_static_files_are_not_held_at_the_verify_page(super_admin):
    TotpAuthenticator.objects.create(user=super_admin, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    browser = _sign_in(super_admin)  # signed in, not verified
    answer = browser.post("/api/v1/access/decide", data="{}", content_type="application/json")
    assert answer.status_code == 401 and answer.json()["decision"] == "deny"
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get("/accounts/users/")["Location"].startswith("/accounts/login/")
