"""The new hire's flow over HTTP against a real OpenID Connect provider: every answer is a real
code and a real ID token from npm ``oidc-provider``; the negative cases are the ones the issue
lists (verified=false, e-mail mismatch, level too low, wrong state, wrong nonce, expired token,
wrong audience, bad signature, reused and expired invitations)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import User
from accounts.onboarding import protocol
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.onboarding.services import cases, verification
from accounts.onboarding.tests.conftest import (
    ACCOUNTS,
    CLIENT_ID,
    OTHER_CLIENT_ID,
    OTHER_SECRET,
    TESTSERVER_CALLBACK,
    _clients,
    callback_path,
    connect,
    invite,
    provider_answer,
    query,
)
from conftest import mark_mfa_verified
from console.audit.models import AuditEvent
from console.testing.oidc import run_oidc_provider

pytestmark = pytest.mark.django_db

Status = OnboardingCase.Status


def start(client, link: str) -> str:
    """The new hire presses "Verify my identity": the console sends them to the provider."""
    response = client.post(link)
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def failures(check: str | None = None):
    events = AuditEvent.objects.filter(action="identity.verification_failed")
    return events.filter(changes__check=check) if check else events


def test_a_verified_new_hire_gets_an_account_and_is_held_until_an_authenticator_is_enrolled(
    client, hr_user, idv, django_capture_on_commit_callbacks, make_user
):
    manager = make_user(email="boss@corp.example", full_name="Bo Boss")
    from accounts.tests.factories import GroupFactory

    engineering = GroupFactory(name="Engineering")
    # Only an admin invites into groups (HR invites without: see accounts/tests/test_rights.py).
    inviter = make_user("security_admin", email="sec.inviter@corp.example")
    case, link = invite(inviter, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example",
                        manager=manager, groups=[engineering])
    assert case.status == Status.INVITED
    page = client.get(link)
    assert page.status_code == 200 and "Welcome, Ada New" in page.content.decode()

    auth_url = start(client, link)
    params = query(auth_url)
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert params["state"] and params["nonce"] and params["client_id"] == CLIENT_ID
    assert params["login_hint"] == "ada.new@corp.example"
    case.refresh_from_db()
    assert case.status == Status.PENDING and case.invitation_used_at

    back = client.get(callback_path(provider_answer(auth_url, "ada.new@corp.example")))
    assert back.status_code == 302 and back["Location"] == "/onboarding/welcome/"
    case.refresh_from_db()
    user = User.objects.get(email="ada.new@corp.example")
    assert case.status == Status.VERIFIED and case.user == user and case.verified_at
    assert (user.full_name, user.manager, user.source, user.has_usable_password()) == (
        "Ada New", manager, "onboarding", False)
    assert list(user.directory_groups.all()) == [engineering]
    record = VerificationRecord.objects.get(case=case)
    assert (record.outcome, record.assurance_level, record.user) == ("verified", "high", user)
    assert set(record.claims) == {"email", "identity_verified", "verification_level"}
    assert record.transaction_id

    # Signed in, but only the portal and enrollment are open until an authenticator exists.
    assert client.get("/launcher/")["Location"] == "/onboarding/welcome/"
    swapped = client.get("/launcher/", HTTP_HX_REQUEST="true")
    assert (swapped.status_code, swapped["HX-Redirect"]) == (204, "/onboarding/welcome/")
    assert client.get("/onboarding/welcome/").status_code == 200
    assert client.get("/mfa/totp/").status_code == 200
    finish = client.post("/onboarding/welcome/finish/")
    assert finish["Location"] == "/onboarding/welcome/"
    case.refresh_from_db()
    assert case.status == Status.VERIFIED

    from mfa.models import TotpAuthenticator

    TotpAuthenticator.objects.create(user=user, name="Phone", confirmed=True)
    assert client.get("/mfa/")["Location"] == "/onboarding/welcome/"
    assert client.post("/onboarding/welcome/finish/")["Location"] == "/launcher/"
    case.refresh_from_db()
    assert case.status == Status.ACTIVATED and case.activated_at
    assert client.get("/launcher/").status_code == 200
    actions = list(AuditEvent.objects.filter(object_type="onboarding.onboardingcase", object_id=str(case.pk))
                   .order_by("id").values_list("action", flat=True))
    assert actions == [
        "onboarding.case.created", "onboarding.invitation_sent", "onboarding.invitation_used",
        "identity.verification_started", "onboarding.case.verified", "onboarding.case.activated",
    ]
    login = AuditEvent.objects.get(action="auth.login", actor_email=user.email)
    assert login.changes == {"method": "identity_verification", "provider": idv.slug}
    assert AuditEvent.objects.get(action="identity.verified").object_id == str(user.pk)


@pytest.mark.parametrize(("login", "check", "says"), [
    ("unverified.new@corp.example", "verified_claim", "could not verify your identity"),
    ("low.new@corp.example", "assurance_level", "did not reach the level of assurance"),
])
def test_a_person_who_fails_verification_is_told_what_to_do_and_hr_sees_which_claim(
    client, hr_user, idv, django_capture_on_commit_callbacks, login, check, says
):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email=login)
    answer = client.get(callback_path(provider_answer(start(client, link), login)))
    assert answer.status_code == 400
    body = answer.content.decode()
    assert says in body and "has been told why" in body
    case.refresh_from_db()
    assert case.status == Status.FAILED and case.failure_check == check
    assert "claim" in case.failure_reason and "eyJ" not in case.failure_reason
    assert not User.objects.filter(email=login).exists()
    event = failures(check).get()
    assert event.object_type == "onboarding.onboardingcase" and event.object_id == str(case.pk)
    detail = client_for_hr(client, hr_user).get(f"/onboarding/cases/{case.pk}/").content.decode()
    assert check in detail and "eyJ" not in detail


def client_for_hr(client, hr_user):
    client.force_login(hr_user, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa_verified(client, hr_user)
    return client


def test_an_e_mail_that_is_not_the_work_e_mail_is_refused(client, hr_user, idv, django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    answer = client.get(callback_path(provider_answer(start(client, link), "imposter@elsewhere.example")))
    assert answer.status_code == 400
    assert "You verified as imposter@elsewhere.example" in answer.content.decode()
    case.refresh_from_db()
    assert (case.status, case.failure_check) == (Status.FAILED, "email")
    assert "ada.new@corp.example" in case.failure_reason
    assert not User.objects.filter(email__in=["ada.new@corp.example", "imposter@elsewhere.example"]).exists()


def test_an_answer_with_an_unknown_state_is_refused_and_the_case_waits(
    client, hr_user, idv, django_capture_on_commit_callbacks
):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    back = provider_answer(start(client, link), "ada.new@corp.example")
    forged = back.replace(f"state={query(back)['state']}", "state=forged-state")
    answer = client.get(callback_path(forged))
    assert answer.status_code == 400
    assert "does not match a verification started in this browser" in answer.content.decode()
    case.refresh_from_db()
    assert case.status == Status.PENDING
    assert failures("state").exists()
    # The genuine answer still works once...
    assert client.get(callback_path(back))["Location"] == "/onboarding/welcome/"
    # ...and only once: replaying it is refused.
    client.logout()
    assert client.get(callback_path(back)).status_code == 400
    assert failures("state").count() == 2


def test_a_code_injected_into_another_verification_is_refused(
    client, hr_user, idv, django_capture_on_commit_callbacks
):
    """A code from one verification presented with the state of another: PKCE makes the provider
    refuse it (the code was issued for another challenge)."""
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    first = provider_answer(start(client, link), "ada.new@corp.example")
    second_auth = client.post("/onboarding/retry/")["Location"]
    mixed = f"{TESTSERVER_CALLBACK}?{urlencode({'code': query(first)['code'], 'state': query(second_auth)['state']})}"
    answer = client.get(callback_path(mixed))
    assert answer.status_code == 400 and "could not be trusted" in answer.content.decode()
    case.refresh_from_db()
    assert case.status == Status.PENDING
    assert failures("provider").exists()


# --- Tokens presented to the validation step ----------------------------------------------------


def _request_with(client) -> object:
    request = RequestFactory().get("/onboarding/verify/callback/")
    request.session = client.session
    request.user = AnonymousUser()
    return request


def _flow(client, state: str) -> dict:
    return client.session[verification.FLOWS_KEY][state]


def _exchange(idp, back_url: str, flow: dict) -> str:
    return protocol.exchange_code(idp, code=query(back_url)["code"], code_verifier=flow["verifier"],
                                  redirect_uri=TESTSERVER_CALLBACK)["id_token"]


def test_a_token_with_another_nonce_is_refused(client, hr_user, idv, django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    first_auth = start(client, link)
    first = _flow(client, query(first_auth)["state"])
    token = _exchange(idv, provider_answer(first_auth, "ada.new@corp.example"), first)  # real, for flow 1
    second = _flow(client, query(client.post("/onboarding/retry/")["Location"])["state"])
    result = verification.verification_accept_token(_request_with(client), flow=second, idp=idv, id_token=token)
    assert not result.ok and result.check == "nonce"
    assert "could not be trusted (nonce check failed)" in result.message
    case.refresh_from_db()
    assert case.status == Status.PENDING and case.failure_check == "nonce"
    assert not User.objects.filter(email="ada.new@corp.example").exists()
    # The same token with its own flow passes: only the nonce was wrong.
    ok = verification.verification_accept_token(_request_with(client), flow=first, idp=idv, id_token=token)
    assert ok.ok


def test_a_token_for_another_client_is_refused(client, hr_user, idv, idv_provider,
                                               django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    flow = _flow(client, query(start(client, link))["state"])
    # A genuine ID token, with this verification's nonce, but issued to another application.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    other = f"{idv.authorization_endpoint}?" + urlencode({
        "response_type": "code", "client_id": OTHER_CLIENT_ID, "redirect_uri": TESTSERVER_CALLBACK,
        "scope": idv.scopes, "state": "s", "nonce": flow["nonce"], "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    back = provider_answer(other, "ada.new@corp.example")
    import requests

    token = requests.post(idv.token_endpoint, timeout=10, data={
        "grant_type": "authorization_code", "code": query(back)["code"], "redirect_uri": TESTSERVER_CALLBACK,
        "code_verifier": verifier, "client_id": OTHER_CLIENT_ID, "client_secret": OTHER_SECRET,
    }).json()["id_token"]
    result = verification.verification_accept_token(_request_with(client), flow=flow, idp=idv, id_token=token)
    assert not result.ok and result.check == "audience"
    case.refresh_from_db()
    assert (case.status, case.failure_check) == (Status.PENDING, "audience")
    assert failures("audience").get().changes["reason"] == (
        "The ID token was issued for another client, not this console.")


def test_a_token_from_another_issuer_is_refused(client, hr_user, idv, django_capture_on_commit_callbacks):
    """The same keys and audience, but the console expects another issuer (a provider whose
    issuer URL changed, or a token replayed from a look-alike)."""
    from types import SimpleNamespace

    _, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    auth = start(client, link)
    flow = _flow(client, query(auth)["state"])
    token = _exchange(idv, provider_answer(auth, "ada.new@corp.example"), flow)
    elsewhere = SimpleNamespace(issuer="https://verify.elsewhere.example", client_id=idv.client_id,
                                jwks_uri=idv.jwks_uri, name=idv.name)
    with pytest.raises(protocol.TokenRejected) as caught:
        protocol.validate_id_token(elsewhere, token, nonce=flow["nonce"])
    assert caught.value.check == "issuer"
    assert protocol.validate_id_token(idv, token, nonce=flow["nonce"])["email"] == "ada.new@corp.example"


def test_a_token_whose_claims_were_changed_fails_the_signature(client, hr_user, idv,
                                                              django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="low.new@corp.example")
    auth = start(client, link)
    flow = _flow(client, query(auth)["state"])
    token = _exchange(idv, provider_answer(auth, "low.new@corp.example"), flow)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["verification_level"] == "low"
    claims["verification_level"] = "high"  # the forger's wish
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    result = verification.verification_accept_token(
        _request_with(client), flow=flow, idp=idv, id_token=f"{header}.{forged_payload}.{signature}")
    assert not result.ok and result.check == "signature"
    case.refresh_from_db()
    assert (case.status, case.failure_check) == (Status.PENDING, "signature")
    assert not User.objects.filter(email="low.new@corp.example").exists()


def test_an_expired_token_is_refused(client, hr_user, super_admin, live_server, settings,
                                     django_capture_on_commit_callbacks):
    settings.VERIFICATION_CLOCK_SKEW_SECONDS = 0
    with run_oidc_provider(clients=_clients(TESTSERVER_CALLBACK), accounts=ACCOUNTS, id_token_ttl=1) as quick:
        idp = connect(super_admin, quick, name="Quick tokens")
        case, link = invite(hr_user, idp, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
        auth = start(client, link)
        flow = _flow(client, query(auth)["state"])
        token = _exchange(idp, provider_answer(auth, "ada.new@corp.example"), flow)
        expires = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"]
        while time.time() <= expires:  # the token lives one second: wait until its own expiry has passed
            time.sleep(0.05)
        result = verification.verification_accept_token(_request_with(client), flow=flow, idp=idp, id_token=token)
    assert not result.ok and result.check == "expiry"
    assert "arrived too late" in result.message
    case.refresh_from_db()
    assert (case.status, case.failure_check) == (Status.PENDING, "expiry")


# --- Invitations --------------------------------------------------------------------------------


def test_an_invitation_link_works_once(client, hr_user, idv, django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    start(client, link)
    again = client.post(link)
    assert again.status_code == 409 and "already used" in again.content.decode()
    from django.test import Client

    stranger = Client()
    for response in (stranger.get(link), stranger.post(link)):
        assert response.status_code in (409, 410)
        assert "This invitation link was already used" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.PENDING
    assert AuditEvent.objects.filter(action="onboarding.invitation_used").count() == 1


def test_an_expired_invitation_expires_the_case(client, hr_user, idv, django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    OnboardingCase.objects.filter(pk=case.pk).update(invitation_expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(link)
    assert response.status_code == 410 and "This invitation expired on" in response.content.decode()
    assert client.post(link).status_code == 409
    case.refresh_from_db()
    assert case.status == Status.EXPIRED
    assert AuditEvent.objects.filter(action="onboarding.case.expired").count() == 1
    # HR resends: a new link works, the old one does not.
    with django_capture_on_commit_callbacks(execute=True):
        cases.case_resend(actor=hr_user, case=case, link_base="http://testserver/onboarding/invite")
    from django.core import mail

    new_link = "/onboarding/invite/" + mail.outbox[-1].body.split("/onboarding/invite/")[1].split("/")[0] + "/"
    assert new_link != link
    assert client.get(link).status_code == 410
    assert client.get(new_link).status_code == 200
    case.refresh_from_db()
    assert case.status == Status.INVITED and case.invitations_sent == 2


def test_a_cancelled_case_refuses_its_link(client, hr_user, idv, django_capture_on_commit_callbacks):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    cases.case_cancel(actor=hr_user, case=case)
    response = client.get(link)
    assert response.status_code == 410 and "withdrawn" in response.content.decode()


def test_verification_attempts_are_rate_limited(hr_user, idv, settings, django_capture_on_commit_callbacks):
    from django.test import Client

    settings.VERIFICATION_ATTEMPTS_PER_IP = 2
    client = Client(REMOTE_ADDR=f"203.0.113.{secrets.randbelow(250) + 1}")  # counters of its own
    _, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    start(client, link)  # two hits: the link and the verification it starts
    refused = client.post("/onboarding/retry/")
    assert refused.status_code == 409 and "Too many verification attempts" in refused.content.decode()
    assert AuditEvent.objects.filter(action="identity.verification_rate_limited").exists()
