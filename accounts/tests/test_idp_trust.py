"""Whom a sign-in identity provider may sign in (security review, item 1) and what the sign-in page
shows of a provider's error (item 13).

The sign-ins go through a real OpenID Connect provider (npm ``oidc-provider``) driven over HTTP:
its development login takes any login, which becomes the subject (``sub``); the e-mail it claims
for a login is set per test, so a subject can claim someone else's e-mail, as a provider run by
an attacker would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlparse

import pytest
import requests
from django.core import mail
from django_otp.oath import TOTP

from accounts.models import IdentityProvider, IdentityProviderLink, User
from accounts.services import identity_providers
from console.audit.models import AuditEvent
from console.core.errors import PermissionRefused, ValidationFailed
from console.testing.oidc import RunningProvider, run_oidc_provider

pytestmark = pytest.mark.django_db

CLIENT_ID = "console"
SECRET = "trust-tests-client-secret"
CALLBACK = "http://testserver/accounts/oidc/callback/"
ACCOUNTS = {
    # An attacker's subject claiming the Super Admin's e-mail (the review's reproduction).
    "mallory": {"email": "root@corp.example", "name": "Mallory"},
    # Claims the employee's e-mail under another subject than the linked one.
    "other-emp": {"email": "emp@corp.example"},
    "outsider": {"email": "someone@evil.example"},
    "unverified": {"email": "emp@corp.example", "email_verified": False},
    "unsaid": {"email": "emp@corp.example", "email_verified": None},
    "newcomer": {"email": "new.hire@corp.example", "name": "Nia Newcomer"},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningProvider]:
    with run_oidc_provider(
        clients=[{"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uris": [CALLBACK]}],
        accounts=ACCOUNTS,
    ) as running:
        yield running


def connect(actor, provider, **overrides) -> IdentityProvider:
    fields = {
        "name": "Corp SSO", "kind": "primary", "issuer": provider.issuer, "client_id": CLIENT_ID,
        "client_secret": SECRET, "allowed_domains": "corp.example",
    } | overrides
    return identity_providers.idp_create(actor=actor, **fields)


def sign_in_through(client, idp: IdentityProvider, login: str):
    """Start at the console, sign in as ``login`` at the provider, and bring the answer back to
    the console's callback; returns the callback's response."""
    start = client.get(f"/accounts/oidc/{idp.slug}/start/")
    assert start.status_code == 302, start
    browser = requests.Session()
    answer = browser.get(start["Location"], allow_redirects=False, timeout=10)
    for _ in range(12):
        if answer.is_redirect:
            target = urljoin(answer.url, answer.headers["Location"])
            if target.startswith(CALLBACK):
                parsed = urlparse(target)
                return client.get(f"{parsed.path}?{parsed.query}")
            answer = browser.get(target, allow_redirects=False, timeout=10)
            continue
        assert answer.status_code == 200, answer.text
        action = re.search(r'<form[^>]*action="([^"]+)"', answer.text).group(1)
        prompt = re.search(r'name="prompt" value="(\w+)"', answer.text).group(1)
        data = {"prompt": prompt} | ({"login": login, "password": "x"} if prompt == "login" else {})
        answer = browser.post(urljoin(answer.url, action), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back to the console")


def signed_in_as(client) -> User | None:
    from django.contrib.auth import get_user

    user = get_user(client)
    return user if user.is_authenticated else None


def shown(response_client) -> str:
    return response_client.get("/accounts/login/").content.decode()


# --- Who may configure a sign-in provider -------------------------------------------------------


def test_a_security_admin_cannot_add_a_primary_provider(security_admin, super_admin, provider):
    with pytest.raises(PermissionRefused, match="Only a Super Admin"):
        connect(security_admin, provider)
    assert not IdentityProvider.objects.exists()


def test_a_security_admin_cannot_make_a_provider_primary_or_change_whom_it_trusts(
    security_admin, super_admin, provider
):
    verification = connect(security_admin, provider, name="VerifyMe", kind="verification", allowed_domains="")
    with pytest.raises(PermissionRefused):
        identity_providers.idp_update(actor=security_admin, idp=verification, name="VerifyMe", kind="primary",
                                      issuer=provider.issuer, client_id=CLIENT_ID, allowed_domains="corp.example")
    primary = connect(super_admin, provider)
    for change in ({"allowed_domains": "corp.example evil.example"}, {"allowed_emails": "me@evil.example"},
                   {"barred_roles": []}, {"client_id": "another"}, {"create_users": True},
                   {"issuer": "https://attacker.example"}):
        fields = {"name": "Corp SSO", "kind": "primary", "issuer": provider.issuer, "client_id": CLIENT_ID} | change
        with pytest.raises(PermissionRefused, match="Only a Super Admin"):
            identity_providers.idp_update(actor=security_admin, idp=primary, **fields)
    # What does not widen trust stays open to Security Admins: renaming, switching off, new secret.
    identity_providers.idp_update(actor=security_admin, idp=primary, name="Corp SSO (old)", kind="primary",
                                  issuer=provider.issuer, client_id=CLIENT_ID, enabled=False, client_secret="rotated")
    primary.refresh_from_db()
    assert (primary.name, primary.enabled, primary.allowed_domains) == ("Corp SSO (old)", False, ["corp.example"])
    with pytest.raises(PermissionRefused):  # switching it back on is trusting it again
        identity_providers.idp_update(actor=security_admin, idp=primary, name="Corp SSO (old)", kind="primary",
                                      issuer=provider.issuer, client_id=CLIENT_ID, enabled=True)


def test_a_primary_provider_is_bound_to_domains_and_every_super_admin_is_told(
    super_admin, make_user, provider, django_capture_on_commit_callbacks
):
    other = make_user("super_admin", email="second.root@corp.example")
    make_user("super_admin", email="gone@corp.example", is_active=False)
    with pytest.raises(ValidationFailed, match="at least one e-mail domain") as refused:
        connect(super_admin, provider, allowed_domains="")
    assert refused.value.field == "allowed_domains"
    with pytest.raises(ValidationFailed, match="Not an e-mail domain"):
        connect(super_admin, provider, allowed_domains="corp.example https://evil")
    with django_capture_on_commit_callbacks(execute=True):
        idp = connect(super_admin, provider, allowed_domains="Corp.Example, @sub.corp.example",
                      allowed_emails="Partner@Agency.example")
    assert idp.allowed_domains == ["corp.example", "sub.corp.example"]
    assert idp.allowed_emails == ["partner@agency.example"]
    assert idp.barred_roles == ["super_admin", "security_admin"]
    created = AuditEvent.objects.get(action="idp.created")
    assert created.actor_email == super_admin.email
    assert created.changes["allowed_domains"]["new"] == ["corp.example", "sub.corp.example"]
    (notice,) = mail.outbox
    assert sorted(notice.to) == sorted([super_admin.email, other.email])
    assert "Corp SSO" in notice.subject and "corp.example, sub.corp.example" in notice.body
    assert SECRET not in notice.body
    assert AuditEvent.objects.filter(action="idp.notice_sent").exists()

    with django_capture_on_commit_callbacks(execute=True):
        identity_providers.idp_update(actor=super_admin, idp=idp, name="Corp SSO", kind="primary",
                                      issuer=provider.issuer, client_id=CLIENT_ID, allowed_domains="corp.example",
                                      barred_roles=["super_admin"])
    assert len(mail.outbox) == 2 and "changed the trust of" in mail.outbox[1].body
    changed = AuditEvent.objects.filter(action="idp.updated").latest("id")
    assert changed.changes["barred_roles"] == {"old": ["super_admin", "security_admin"], "new": ["super_admin"]}


# --- Sign-in ------------------------------------------------------------------------------------


def test_a_provider_claiming_a_super_admins_e_mail_does_not_sign_in_as_them(client, super_admin, provider):
    """The review's reproduction: a subject of the provider claims the Super Admin's e-mail."""
    idp = connect(super_admin, provider)
    response = sign_in_through(client, idp, "mallory")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert "Super Admin accounts cannot sign in through Corp SSO" in shown(client)
    refused = AuditEvent.objects.get(action="auth.oidc_refused")
    assert refused.changes["check"] == "role_barred" and refused.changes["email"] == super_admin.email
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    assert not IdentityProviderLink.objects.exists()


def test_the_claim_alone_never_reaches_an_existing_account_without_a_link(client, super_admin, employee, provider):
    idp = connect(super_admin, provider, barred_roles=[])
    response = sign_in_through(client, idp, "other-emp")
    assert response["Location"] == "/accounts/oidc/link/"
    assert signed_in_as(client) is None
    page = client.get("/accounts/oidc/link/").content.decode()
    assert "Link Corp SSO to your account" in page and "emp@corp.example" in page
    # Someone who knows neither the password nor a code gets nowhere.
    answer = client.post("/accounts/oidc/link/", {"action": "code", "code": "123456"})
    assert "That code is not right" in answer.content.decode()
    assert client.post("/accounts/oidc/link/", {"action": "confirm"}).status_code == 200
    assert signed_in_as(client) is None and not IdentityProviderLink.objects.exists()


def test_an_e_mail_outside_the_bound_domains_is_refused_and_audited(client, super_admin, provider):
    idp = connect(super_admin, provider, create_users=True)
    sign_in_through(client, idp, "outsider")
    assert signed_in_as(client) is None
    assert "Corp SSO is not trusted for someone@evil.example" in shown(client)
    assert not User.objects.filter(email="someone@evil.example").exists()
    refused = AuditEvent.objects.get(action="auth.oidc_refused")
    assert refused.changes["check"] == "binding" and refused.object_id == str(idp.pk)


def test_a_person_bound_by_address_may_sign_in_outside_the_domains(client, super_admin, provider):
    idp = connect(super_admin, provider, create_users=True, allowed_emails="someone@evil.example")
    sign_in_through(client, idp, "outsider")
    assert signed_in_as(client).email == "someone@evil.example"


@pytest.mark.parametrize("login", ["unverified", "unsaid"])
def test_email_verified_must_be_true(client, super_admin, employee, provider, login):
    idp = connect(super_admin, provider)
    sign_in_through(client, idp, login)
    assert signed_in_as(client) is None
    assert "email_verified must be true" in shown(client)
    assert AuditEvent.objects.get(action="auth.oidc_refused").changes["check"] == "email_verified"


def test_linking_needs_the_persons_own_sign_in_then_the_subject_signs_in(client, super_admin, employee, provider):
    from conftest import PASSWORD

    idp = connect(super_admin, provider)
    assert sign_in_through(client, idp, employee.email)["Location"] == "/accounts/oidc/link/"
    # The person signs in with their password, comes back and confirms.
    client.post("/accounts/login/", {"username": employee.email, "password": PASSWORD,
                                     "next": "/accounts/oidc/link/"})
    assert signed_in_as(client) == employee
    page = client.get("/accounts/oidc/link/").content.decode()
    assert 'data-testid="oidc-link-confirm"' in page, page[page.find("<main"):]
    assert client.post("/accounts/oidc/link/", {"action": "confirm"}).status_code == 302
    link = IdentityProviderLink.objects.get()
    assert (link.user, link.subject, link.proof) == (employee, employee.email, "session")
    audited = AuditEvent.objects.get(action="idp.link_created")
    assert audited.actor_email == employee.email and audited.changes["proof"] == "session"

    client.logout()
    sign_in_through(client, idp, employee.email)
    assert signed_in_as(client) == employee
    login = AuditEvent.objects.filter(action="auth.login").latest("id")
    assert login.changes == {"method": "oidc", "provider": idp.slug}
    link.refresh_from_db()
    assert link.last_used_at is not None

    # Another subject of the same provider claiming the same e-mail is refused.
    client.logout()
    sign_in_through(client, idp, "other-emp")
    assert signed_in_as(client) is None
    assert "linked to another identity" in shown(client)


def test_a_person_with_an_authenticator_links_with_a_code(client, super_admin, employee, provider):
    from mfa.models import TotpAuthenticator

    key = "3132333435363738393031323334353637383930"
    TotpAuthenticator.objects.create(user=employee, name="Phone", key=key, confirmed=True)
    idp = connect(super_admin, provider)
    sign_in_through(client, idp, employee.email)
    totp = TOTP(bytes.fromhex(key), step=30, t0=0, digits=6)
    response = client.post("/accounts/oidc/link/", {"action": "code", "code": f"{totp.token():06d}"})
    assert response.status_code == 302
    assert signed_in_as(client) == employee
    assert IdentityProviderLink.objects.get().proof == "mfa"
    assert AuditEvent.objects.filter(action="auth.login").latest("id").changes["provider"] == idp.slug


def test_a_signed_in_person_with_an_authenticator_verifies_before_linking(client, client_for, super_admin, employee,
                                                                          provider):
    from mfa.models import TotpAuthenticator

    TotpAuthenticator.objects.create(user=employee, name="Phone", key="00" * 20, confirmed=True)
    idp = connect(super_admin, provider)
    client_for(employee)
    sign_in_through(client, idp, employee.email)
    page = client.get("/accounts/oidc/link/").content.decode()
    assert 'data-testid="oidc-link-verify"' in page and 'data-testid="oidc-link-confirm"' not in page
    client.post("/accounts/oidc/link/", {"action": "confirm"})
    assert not IdentityProviderLink.objects.exists()


def test_an_account_created_by_the_provider_is_linked_at_creation(client, super_admin, provider):
    idp = connect(super_admin, provider, create_users=True)
    sign_in_through(client, idp, "newcomer")
    user = signed_in_as(client)
    assert user.email == "new.hire@corp.example" and user.role == "employee"
    link = IdentityProviderLink.objects.get()
    assert (link.user, link.subject, link.proof) == (user, "newcomer", "created")


def test_a_barred_role_is_refused_even_when_linked(client, super_admin, make_user, provider):
    hr = make_user("hr", email="hannah@corp.example")
    idp = connect(super_admin, provider, barred_roles=["super_admin", "security_admin", "hr"])
    IdentityProviderLink.objects.create(provider=idp, user=hr, subject="hannah@corp.example", proof="session")
    sign_in_through(client, idp, "hannah@corp.example")
    assert signed_in_as(client) is None
    assert "HR accounts cannot sign in through Corp SSO" in shown(client)


# --- Item 13: the provider's error text is never shown ------------------------------------------


def test_the_providers_error_description_is_logged_and_audited_never_shown(client, caplog):
    text = "Your account is locked. Call +1-555-0100 and read out your password"
    response = client.get("/accounts/oidc/callback/", {"error": "access_denied", "error_description": text,
                                                       "state": "x"})
    assert response["Location"] == "/accounts/login/"
    page = shown(client)
    assert text not in page and "access_denied" not in page
    assert "the identity provider refused or cancelled the sign-in" in page
    assert text in caplog.text
    assert AuditEvent.objects.get(action="auth.oidc_error").changes == {
        "error": "access_denied", "error_description": text,
    }


# --- The screens ---------------------------------------------------------------------------------


def test_a_security_admin_is_offered_no_primary_provider_and_cannot_edit_its_trust(
    client_for, super_admin, security_admin, provider
):
    idp = connect(super_admin, provider)
    client = client_for(security_admin)
    form = client.get("/accounts/identity-providers/new/").content.decode()
    assert 'value="primary"' not in form and "Only a Super Admin can add" in form
    edit = client.get(f"/accounts/identity-providers/{idp.pk}/edit/").content.decode()
    assert re.search(r'<textarea[^>]*name="allowed_domains"[^>]*disabled', edit)
    # A forged post of the disabled fields changes nothing.
    client.post(f"/accounts/identity-providers/{idp.pk}/edit/", {
        "name": "Corp SSO", "kind": "primary", "issuer": provider.issuer, "client_id": CLIENT_ID,
        "scopes": "openid email profile", "email_claim": "email", "enabled": "on",
        "allowed_domains": "evil.example", "allowed_emails": "", "min_assurance_level": "high",
    })
    idp.refresh_from_db()
    assert idp.allowed_domains == ["corp.example"] and idp.barred_roles == ["super_admin", "security_admin"]


def test_a_super_admin_binds_a_provider_in_the_form_and_the_page_shows_it(client_for, super_admin, employee,
                                                                          provider):
    client = client_for(super_admin)
    response = client.post("/accounts/identity-providers/new/", {
        "name": "Corp SSO", "kind": "primary", "issuer": provider.issuer, "client_id": CLIENT_ID,
        "client_secret": SECRET, "scopes": "openid email profile", "email_claim": "email", "enabled": "on",
        "allowed_domains": "corp.example\nlabs.corp.example", "allowed_emails": "ext@partner.example",
        "barred_roles": ["super_admin"], "verified_claim": "identity_verified", "min_assurance_level": "high",
    })
    idp = IdentityProvider.objects.get()
    assert response["Location"] == f"/accounts/identity-providers/{idp.pk}/"
    IdentityProviderLink.objects.create(provider=idp, user=employee, subject="sub-123", proof="session")
    page = client.get(response["Location"]).content.decode()
    trust = page[page.index('data-testid="idp-trust"'):]
    assert "<code>corp.example</code>, <code>labs.corp.example</code>" in trust
    assert "ext@partner.example" in trust and "Super Admin" in trust
    assert "sub-123" in trust and employee.email in trust
    client.post(f"/accounts/identity-providers/{idp.pk}/links/{IdentityProviderLink.objects.get().pk}/unlink/")
    assert not IdentityProviderLink.objects.exists()
    assert AuditEvent.objects.get(action="idp.link_deleted").changes["subject"] == "sub-123"
