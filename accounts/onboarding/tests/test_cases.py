"""HR's side: opening, listing, resending and cancelling cases; who may do what; the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.onboarding.models import OnboardingCase, OutboxMessage
from accounts.onboarding.services import cases
from accounts.onboarding.tests.conftest import invite
from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused, ValidationFailed

pytestmark = pytest.mark.django_db


def fields(idv, **overrides):
    return {
        "legal_name": "Ada New", "personal_email": "ada@home.example", "work_email": "ada.new@corp.example",
        "start_date": timezone.localdate() + timedelta(days=3), "provider": idv,
        "link_base": "http://testserver/onboarding/invite",
    } | overrides


def test_an_invitation_is_e_mailed_once_the_case_is_saved_and_the_token_is_not_stored(
    hr_user, idv, django_capture_on_commit_callbacks
):
    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="ada.new@corp.example")
    token = link.rstrip("/").rsplit("/", 1)[1]
    message = mail.outbox[-1]
    assert message.to == ["ada.home@personal.example"] and message.subject == "Set up your work account"
    assert "works once and expires on" in message.body and "VerifyMe" in message.body
    assert token not in case.invitation_token_hash
    assert not OnboardingCase.objects.filter(invitation_token_hash__contains=token).exists()
    created = AuditEvent.objects.get(action="onboarding.case.created")
    assert created.actor_email == hr_user.email and created.changes["work_email"] == "ada.new@corp.example"
    assert token not in str(created.changes)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"legal_name": "  "}, "legal_name", "legal name is required"),
    ({"personal_email": "not-an-address"}, "personal_email", "not a valid e-mail"),
    ({"personal_email": "ada.new@corp.example"}, "personal_email", "must differ"),
    ({"start_date": timezone.localdate() - timedelta(days=1)}, "start_date", "in the past"),
    ({"work_email": "hr@corp.example"}, "work_email", "already exists"),
])
def test_bad_input_names_the_field(hr_user, idv, overrides, field, message):
    with pytest.raises((ValidationFailed, Conflict)) as caught:
        cases.case_create(actor=hr_user, **fields(idv, **overrides))
    assert caught.value.field == field and message in caught.value.message


def test_one_open_case_per_work_e_mail_and_only_hr_and_admins_invite(hr_user, auditor, employee, idv):
    cases.case_create(actor=hr_user, **fields(idv))
    with pytest.raises(Conflict, match="already has an open onboarding case"):
        cases.case_create(actor=hr_user, **fields(idv, personal_email="other@home.example"))
    for actor in (auditor, employee):
        with pytest.raises(PermissionRefused):
            cases.case_create(actor=actor, **fields(idv, work_email="z@corp.example"))


def test_without_a_verification_provider_hr_is_told_to_ask_an_admin(client_for, hr_user):
    with pytest.raises(ValidationFailed, match="No identity verification provider") as caught:
        cases.case_create(actor=hr_user, **fields(None))
    assert caught.value.field == "provider"
    page = client_for(hr_user).get("/onboarding/new/").content.decode()
    assert "No identity verification provider" in page


def test_the_form_creates_a_case_and_shows_errors_on_fields(client_for, hr_user, idv, make_user):
    make_user(email="boss@corp.example")
    client = client_for(hr_user)
    bad = client.post("/onboarding/new/", {
        "legal_name": "Ada New", "personal_email": "ada@home.example", "work_email": "ada.new@corp.example",
        "start_date": "2001-01-01", "manager": "nobody@corp.example", "provider": idv.pk,
    })
    html = bad.content.decode()
    assert bad.status_code == 200 and "No user with the e-mail nobody@corp.example exists." in html
    good = client.post("/onboarding/new/", {
        "legal_name": "Ada New", "personal_email": "ada@home.example", "work_email": "ada.new@corp.example",
        "start_date": (timezone.localdate() + timedelta(days=5)).isoformat(), "manager": "boss@corp.example",
        "provider": idv.pk,
    })
    case = OnboardingCase.objects.get()
    assert good["Location"] == f"/onboarding/cases/{case.pk}/"
    assert case.manager.email == "boss@corp.example" and case.created_by == hr_user


def test_the_dashboard_filters_sorts_and_counts(client_for, hr_user, auditor, idv, django_assert_max_num_queries):
    for n in range(30):
        cases.case_create(actor=hr_user, **fields(idv, legal_name=f"Person {n:02d}",
                                                  work_email=f"p{n}@corp.example",
                                                  personal_email=f"p{n}@home.example"))
    cases.case_cancel(actor=hr_user, case=OnboardingCase.objects.get(work_email="p3@corp.example"))
    client = client_for(auditor)
    with django_assert_max_num_queries(15):
        page = client.get("/onboarding/?sort=name")
    html = page.content.decode()
    assert "Person 00" in html and "Person 29" not in html  # 25 per page
    assert "Invite a new hire" not in html  # auditors read only
    cancelled = client.get("/onboarding/?status=cancelled", HTTP_HX_REQUEST="true").content.decode()
    assert "Person 03" in cancelled and "Person 04" not in cancelled and "<html" not in cancelled
    searched = client.get("/onboarding/?q=p17%40corp").content.decode()
    assert "Person 17" in searched and "Person 16" not in searched


def test_resend_and_cancel_are_audited_and_refused_when_they_make_no_sense(hr_user, idv):
    case = cases.case_create(actor=hr_user, **fields(idv))
    cases.case_resend(actor=hr_user, case=case, link_base="http://testserver/onboarding/invite")
    cases.case_cancel(actor=hr_user, case=case)
    with pytest.raises(Conflict):
        cases.case_resend(actor=hr_user, case=case, link_base="http://testserver/onboarding/invite")
    actions = list(AuditEvent.objects.filter(object_id=str(case.pk), object_type="onboarding.onboardingcase",
                                             action__startswith="onboarding.case.")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["onboarding.case.created", "onboarding.case.resent", "onboarding.case.cancelled"]


def test_the_outbox_is_for_hr_and_admins(client_for, hr_user, auditor, employee):
    message = OutboxMessage.objects.create(to="ada@home.example", from_email="console@localhost",
                                           subject="Set up your work account",
                                           body="Open http://testserver/onboarding/invite/abc/ to start.")
    page = client_for(hr_user).get(f"/onboarding/outbox/{message.pk}/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert '<a href="http://testserver/onboarding/invite/abc/"' in page.content.decode()
    assert client_for(auditor).get("/onboarding/outbox/").status_code == 403
    assert client_for(employee).get(f"/onboarding/outbox/{message.pk}/").status_code == 403


def test_the_outbox_backend_keeps_messages(settings):
    from django.core.mail import send_mail

    settings.MAILERS = {"default": {"BACKEND": "accounts.onboarding.mail.OutboxBackend", "OPTIONS": {}}}
    send_mail("Hello", "Body text", "console@localhost", ["a@b.example", "c@d.example"])
    kept = OutboxMessage.objects.get()
    assert (kept.to, kept.subject, kept.body) == ("a@b.example, c@d.example", "Hello", "Body text")
