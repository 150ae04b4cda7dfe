"""Account recovery cannot hand an account to whoever passes a verification with its e-mail:
the verified name and birthdate must be the owner's, privileged accounts wait for a second
admin, the owner is e-mailed (with a "This wasn't me" link that freezes the account), and the
old authenticators are suspended, not deleted, until the owner or an admin confirms. Real codes
and ID tokens from the test OpenID Connect provider where the flow goes through the callback."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.onboarding import claims, recovery
from accounts.onboarding.models import OnboardingCase, RecoveryRequest, VerificationRecord
from accounts.onboarding.tests.conftest import callback_path, provider_answer
from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused
from mfa.models import BackupCode, TotpAuthenticator

pytestmark = pytest.mark.django_db

Status = RecoveryRequest.Status


def recover(client: Client, email: str, login: str | None = None):
    """Start a recovery for ``email`` and come back from the provider as ``login``."""
    start = client.post("/onboarding/recover/", {"email": email})
    assert start.status_code == 302, start.content.decode()[:300]
    return client.get(callback_path(provider_answer(start["Location"], login or email)))


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def report_path(message) -> str:
    return re.search(r"(/onboarding/recover/report/[^/\s]+/)", message.body).group(1)


def case_for(user, **fields) -> OnboardingCase:
    values = {
        "legal_name": user.full_name, "personal_email": "home@personal.example", "work_email": user.email,
        "start_date": timezone.localdate(), "invitation_token_hash": f"{user.pk:064d}",
        "invitation_expires_at": timezone.now(), "status": OnboardingCase.Status.ACTIVATED, "user": user,
    } | fields
    return OnboardingCase.objects.create(**values)


# --- Who the verified person is -------------------------------------------------------------------


@pytest.mark.parametrize(("verified", "on_record", "same"), [
    ("Emil Employee", "Emil Employee", True),
    ("  ÉMIL   employee ", "Emil Employee", True),
    ("Employee, Emil", "Emil Employee", True),
    ("Jean-Luc O’Brien", "jean luc obrien", True),
    ("Ｅｍｉｌ Employee", "Emil Employee", True),  # full-width letters (NFKD)
    ("Emil Employe", "Emil Employee", False),
    ("Emil", "Emil Employee", False),
    ("Emil Employee Junior", "Emil Employee", False),
])
def test_names_are_compared_after_normalisation(verified, on_record, same):
    assert (claims.normalize_name(verified) == claims.normalize_name(on_record)) is same


def test_the_birthdate_is_compared_on_every_part_the_provider_gives():
    born = date(1990, 4, 1)

    def check(value, on_record=born):
        return claims.check_identity({"name": "Bea Born", "birthdate": value}, expected_names=["Bea Born"],
                                     expected_birthdate=on_record)

    assert check("1990-04-01").ok
    assert check("0000-04-01").ok  # year withheld
    assert check("1990").ok  # only the year
    assert check("1990-04-02").failed_check == claims.BIRTHDATE
    assert check("1991").failed_check == claims.BIRTHDATE
    assert check("01/04/1990").failed_check == claims.BIRTHDATE  # unreadable: refused, not ignored
    assert check("1990-04-02", on_record=None).ok  # nothing on record to compare with
    missing = claims.check_identity({"email": "x"}, expected_names=["Bea Born"])
    assert missing.failed_check == claims.NAME and "no name claim" in missing.reason
    parts = claims.check_identity({"given_name": "Bea", "family_name": "Born"}, expected_names=["Bea Born"])
    assert parts.ok


def test_a_recovery_by_someone_with_another_name_is_refused(make_user, idv):
    target = make_user(email="target@corp.example", full_name="Terry Target")
    TotpAuthenticator.objects.create(user=target, name="Phone", confirmed=True)
    client = Client()
    answer = recover(client, target.email)
    assert answer.status_code == 400
    assert "does not match the name on this account" in answer.content.decode()
    assert not signed_in(client)
    assert TotpAuthenticator.objects.filter(user=target).exists()
    assert not RecoveryRequest.objects.exists()
    event = AuditEvent.objects.get(action="identity.verification_failed")
    assert (event.object_id, event.changes["check"], event.changes["purpose"]) == (str(target.pk), "name", "recovery")
    assert "Someone Else" in event.changes["reason"] and "Terry Target" in event.changes["reason"]
    record = VerificationRecord.objects.get(user=target)
    assert (record.outcome, record.failed_check) == ("failed", "name")


def test_the_legal_name_on_the_onboarding_case_also_counts(make_user, idv):
    target = make_user(email="target@corp.example", full_name="Terry Target")
    case_for(target, legal_name="Someone  Else")
    client = Client()
    assert recover(client, target.email)["Location"] == "/onboarding/welcome/"
    assert signed_in(client)


def test_a_recovery_with_another_birthdate_is_refused(make_user, idv):
    person = make_user(email="born@corp.example", full_name="Bea Born")
    case_for(person, date_of_birth=date(1991, 4, 1))
    client = Client()
    answer = recover(client, person.email)
    assert answer.status_code == 400 and "date of birth" in answer.content.decode()
    assert not signed_in(client)
    event = AuditEvent.objects.get(action="identity.verification_failed")
    assert event.changes["check"] == "birthdate" and "1990" not in event.changes["reason"]
    # With the right date on record (accents, case and spaces in the verified name do not matter):
    OnboardingCase.objects.filter(user=person).update(date_of_birth=date(1990, 4, 1))
    assert recover(Client(), person.email)["Location"] == "/onboarding/welcome/"


def test_onboarding_keeps_the_verified_birthdate_for_later_recoveries(hr_user, idv, client,
                                                                     django_capture_on_commit_callbacks):
    from accounts.onboarding.tests.conftest import invite

    case, link = invite(hr_user, idv, django_capture_on_commit_callbacks, work_email="born@corp.example",
                        legal_name="Bea Born")
    start = client.post(link)
    client.get(callback_path(provider_answer(start["Location"], "born@corp.example")))
    case.refresh_from_db()
    assert case.status == OnboardingCase.Status.VERIFIED and case.date_of_birth == date(1990, 4, 1)


def test_hr_may_record_a_date_of_birth_which_stays_off_the_audit_trail(client_for, hr_user, idv):
    page = client_for(hr_user).post("/onboarding/new/", {
        "legal_name": "Bea Born", "personal_email": "bea@home.example", "work_email": "born@corp.example",
        "start_date": (timezone.localdate() + timedelta(days=3)).isoformat(), "date_of_birth": "1990-04-01",
        "provider": idv.pk,
    })
    assert page.status_code == 302, page.content.decode()[:500]
    assert OnboardingCase.objects.get().date_of_birth == date(1990, 4, 1)
    created = AuditEvent.objects.get(action="onboarding.case.created")
    assert created.changes["date_of_birth"] == "recorded" and "1990" not in str(created.changes)


# --- Privileged accounts: a second admin approves -------------------------------------------------


def test_a_super_admin_recovery_waits_for_another_super_admin(super_admin, security_admin, make_user, idv,
                                                             client_for, django_capture_on_commit_callbacks):
    other_root = make_user("super_admin", email="root2@corp.example", full_name="Other Root")
    TotpAuthenticator.objects.create(user=super_admin, name="Root's phone", confirmed=True)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        back = recover(client, super_admin.email)
    assert back["Location"] == "/onboarding/recover/waiting/"
    assert not signed_in(client)
    assert TotpAuthenticator.objects.filter(user=super_admin).exists()  # nothing suspended yet
    waiting = client.get("/onboarding/recover/waiting/").content.decode()
    assert "Waiting for approval" in waiting and "Super Admin role" in waiting
    pending = RecoveryRequest.objects.get()
    assert (pending.status, pending.needs_approval, pending.role) == (Status.PENDING, True, "super_admin")
    started, asked = mail.outbox[-2:]
    assert started.to == [super_admin.email] and started.subject == "Your account is being recovered"
    assert asked.to == [other_root.email]  # the admins who may approve: another Super Admin only
    assert asked.subject == "Account recovery waiting for approval: root@corp.example"
    assert "another admin must approve" in started.body and "/onboarding/recover/report/" in started.body

    # Verifying again does not go around the approval.
    assert recover(client, super_admin.email)["Location"] == "/onboarding/recover/waiting/"
    assert not signed_in(client) and RecoveryRequest.objects.count() == 1

    for actor, says in ((super_admin, "your own account"), (security_admin, "Only another Super Admin")):
        with pytest.raises(PermissionRefused, match=says):
            recovery.recovery_approve(actor=actor, recovery=pending, reason="looks fine")
    # Through the console as well: the Security Admin's approval is refused.
    # (A session that passed the console's MFA, as the admins' sessions must.)
    console = client_for(security_admin)
    answer = console.post("/onboarding/recoveries/action/", {"recovery": pending.pk, "action": "approve",
                                                             "reason": "ok"}, follow=True)
    assert "Only another Super Admin can approve" in answer.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert not AuditEvent.objects.filter(action="identity.recovery_approved").exists()

    console = client_for(other_root)
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/onboarding/recoveries/action/", {"recovery": pending.pk, "action": "approve",
                                                        "reason": "Called her on her desk phone"})
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.decision_reason) == (
        Status.APPROVED, other_root, "Called her on her desk phone")
    approved = AuditEvent.objects.get(action="identity.recovery_approved")
    assert (approved.actor_email, approved.object_id) == (other_root.email, str(super_admin.pk))
    assert approved.changes["reason"] == "Called her on her desk phone"
    assert mail.outbox[-1].subject == "Your account recovery was approved"

    # Now a fresh verification completes it: old authenticators suspended, held at the portal.
    assert recover(client, super_admin.email)["Location"] == "/onboarding/welcome/"
    assert signed_in(client)
    assert not TotpAuthenticator.objects.filter(user=super_admin).exists()
    pending.refresh_from_db()
    assert pending.status == Status.RECOVERED and pending.parked_names == ["totp: Root's phone"]
    assert client.get("/launcher/")["Location"] == "/onboarding/welcome/"


def test_an_hr_recovery_is_rejected_by_an_admin_and_cannot_be_completed(hr_user, security_admin, idv,
                                                                       django_capture_on_commit_callbacks):
    client = Client()
    assert recover(client, hr_user.email, "hr@corp.example")["Location"] == "/onboarding/recover/waiting/"
    pending = RecoveryRequest.objects.get(user=hr_user)
    with pytest.raises(PermissionRefused, match="cannot reject"):
        recovery.recovery_reject(actor=hr_user, recovery=pending, reason="no")
    with pytest.raises(Exception, match="Say why"):
        recovery.recovery_reject(actor=security_admin, recovery=pending, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        recovery.recovery_reject(actor=security_admin, recovery=pending, reason="Could not reach her")
    assert mail.outbox[-1].subject == "Your account recovery was rejected"
    with pytest.raises(Conflict):
        recovery.recovery_approve(actor=security_admin, recovery=pending, reason="changed my mind")
    # Verifying again only opens a new request to decide.
    assert recover(client, hr_user.email)["Location"] == "/onboarding/recover/waiting/"
    assert not signed_in(client)
    assert RecoveryRequest.objects.filter(user=hr_user, status=Status.PENDING).count() == 1


def test_an_approval_is_only_for_the_identity_that_was_verified(security_admin, super_admin, idv):
    from accounts.onboarding.services import verification

    recover(Client(), security_admin.email)
    pending = RecoveryRequest.objects.get()
    recovery.recovery_approve(actor=super_admin, recovery=pending, reason="verified by video call")
    record = VerificationRecord.objects.filter(user=security_admin).first()
    with pytest.raises(Conflict, match="approved for another verified identity"):
        recovery.recovery_verified(user=security_admin, idp=idv, record=record, subject="someone-else")
    assert verification.PERSON_CHECKS >= {"name", "birthdate"}


def test_an_approval_is_for_a_limited_time(security_admin, super_admin, idv, settings):
    client = Client()
    recover(client, security_admin.email)
    pending = RecoveryRequest.objects.get()
    recovery.recovery_approve(actor=super_admin, recovery=pending, reason="verified by video call")
    RecoveryRequest.objects.filter(pk=pending.pk).update(approval_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover(client, security_admin.email)["Location"] == "/onboarding/recover/waiting/"
    assert not signed_in(client)


def test_the_console_lists_recoveries_waiting_for_approval(client_for, super_admin, auditor, hr_user, employee, idv):
    recover(Client(), hr_user.email)
    page = client_for(super_admin).get("/onboarding/recoveries/").content.decode()
    pending = RecoveryRequest.objects.get()
    assert 'data-testid="recovery-pending-count">1<' in page
    assert f'data-testid="recovery-approve-{pending.pk}"' in page
    assert f'data-testid="recovery-reject-{pending.pk}"' in page
    assert "Reason (for the audit trail)" in page
    read_only = client_for(auditor).get("/onboarding/recoveries/").content.decode()
    assert hr_user.email in read_only and "recovery-approve-" not in read_only
    assert client_for(auditor).post("/onboarding/recoveries/action/", {"recovery": pending.pk,
                                                                     "action": "approve"}).status_code == 403
    assert client_for(hr_user).get("/onboarding/recoveries/").status_code == 403
    assert client_for(employee).get("/onboarding/recoveries/").status_code == 403


# --- The owner is told; old authenticators are suspended until confirmed -------------------------


def test_the_owner_is_emailed_when_a_recovery_starts_and_completes(employee, idv, django_capture_on_commit_callbacks):
    case_for(employee, personal_email="emil@home.example")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        recover(client, employee.email)
    started = mail.outbox[-1]
    assert started.subject == "Your account is being recovered"
    assert started.to == [employee.email, "emil@home.example"]  # also outside a mailbox the intruder may read
    assert "If this wasn't you" in started.body and report_path(started)
    assert "http://localhost:8000/onboarding/recover/report/" in started.body  # CONSOLE_URL, not the Host header
    TotpAuthenticator.objects.create(user=employee, name="New phone", confirmed=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/onboarding/welcome/finish/")["Location"] == "/launcher/"
    completed = mail.outbox[-1]
    assert completed.subject == "Your account was recovered" and report_path(completed)
    assert "/onboarding/recover/old-authenticators/" in completed.body
    notices = list(AuditEvent.objects.filter(action="identity.recovery_notice_sent")
                   .values_list("changes__notice", flat=True).order_by("id"))
    assert notices == ["started", "completed"]
    assert RecoveryRequest.objects.get().status == Status.COMPLETED


def test_old_authenticators_are_suspended_until_the_owner_confirms_after_the_wait(employee, idv, settings):
    settings.RECOVERY_CONFIRM_WAIT_HOURS = 72
    TotpAuthenticator.objects.create(user=employee, name="Lost phone", confirmed=True, key="ab" * 20)
    BackupCode.objects.create(user=employee, code_hash="h1")
    client = Client()
    recover(client, employee.email)
    request = RecoveryRequest.objects.get()
    # Not usable (gone from the sign-in tables), but kept, encrypted.
    assert not TotpAuthenticator.objects.filter(user=employee).exists()
    assert not BackupCode.objects.filter(user=employee).exists()
    assert request.old_pending_removal and request.parked_names == ["totp: Lost phone", "1 backup code(s)"]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT parked FROM onboarding_recoveryrequest WHERE id = %s", [request.pk])
        assert "abab" not in cursor.fetchone()[0]  # the TOTP secret is encrypted at rest
    TotpAuthenticator.objects.create(user=employee, name="New phone", confirmed=True)  # the enrollment
    client.post("/onboarding/welcome/finish/")
    page = client.get("/onboarding/recover/old-authenticators/").content.decode()
    assert "totp: Lost phone" in page and "You can remove them after" in page
    client.post("/onboarding/recover/old-authenticators/", {"recovery": request.pk})
    request.refresh_from_db()
    assert request.old_pending_removal  # too early

    RecoveryRequest.objects.filter(pk=request.pk).update(completed_at=timezone.now() - timedelta(hours=73))
    answer = client.post("/onboarding/recover/old-authenticators/", {"recovery": request.pk})
    assert answer["Location"].startswith("/mfa/verify/")  # first a verification with the new authenticator
    request.refresh_from_db()
    assert request.old_pending_removal
    session = client.session
    session["mfa_verified_at"] = timezone.now().timestamp()
    session.save()
    client.post("/onboarding/recover/old-authenticators/", {"recovery": request.pk})
    request.refresh_from_db()
    assert not request.old_pending_removal and request.parked == "" and request.old_removed_by == employee
    event = AuditEvent.objects.get(action="identity.recovery_old_authenticators_removed")
    assert event.changes["by"] == "owner" and event.changes["removed"] == ["totp: Lost phone", "1 backup code(s)"]


def test_an_admin_can_confirm_the_removal_but_not_for_their_own_recovery(employee, security_admin, super_admin,
                                                                       idv):
    TotpAuthenticator.objects.create(user=employee, name="Lost phone", confirmed=True)
    client = Client()
    recover(client, employee.email)
    request = RecoveryRequest.objects.get()
    with pytest.raises(Conflict, match="not finished"):
        recovery.recovery_old_remove(actor=security_admin, recovery=request, reason="ticket 42")
    TotpAuthenticator.objects.create(user=employee, name="New phone", confirmed=True)
    client.post("/onboarding/welcome/finish/")
    with pytest.raises(PermissionRefused):
        recovery.recovery_old_remove(actor=employee, recovery=request, reason="mine")
    recovery.recovery_old_remove(actor=security_admin, recovery=request, reason="ticket 42")
    request.refresh_from_db()
    assert not request.old_pending_removal and request.old_removed_by == security_admin


def test_this_wasnt_me_freezes_the_account_and_gives_the_owner_their_authenticators_back(
    employee, super_admin, idv, django_capture_on_commit_callbacks
):
    owners = TotpAuthenticator.objects.create(user=employee, name="Owner's phone", confirmed=True, key="cd" * 20)
    intruder = Client()
    with django_capture_on_commit_callbacks(execute=True):
        recover(intruder, employee.email)
    link = report_path(mail.outbox[-1])
    TotpAuthenticator.objects.create(user=employee, name="Intruder's phone", confirmed=True)
    intruder.post("/onboarding/welcome/finish/")
    assert intruder.get("/launcher/").status_code == 200

    owner = Client()
    confirm = owner.get(link)  # opening the link changes nothing (link scanners)
    assert confirm.status_code == 200 and 'data-testid="recover-report-confirm"' in confirm.content.decode()
    assert RecoveryRequest.objects.get().reported_at is None
    with django_capture_on_commit_callbacks(execute=True):
        done = owner.post(link)
    assert "is frozen" in done.content.decode()
    request = RecoveryRequest.objects.get()
    assert request.status == Status.REPORTED and request.frozen
    assert intruder.get("/launcher/")["Location"].startswith("/accounts/login/")  # the session ended
    back = TotpAuthenticator.objects.get(user=employee)
    assert (back.name, back.key) == ("Owner's phone", owners.key)
    event = AuditEvent.objects.get(action="identity.recovery_reported")
    assert event.changes["removed"] == ["totp: Intruder's phone"] and event.changes["restored"] == 1
    assert event.changes["console_sessions_ended"] == 1
    assert mail.outbox[-1].subject == "Your account is frozen"
    owner.post(link)  # twice: nothing more happens
    assert AuditEvent.objects.filter(action="identity.recovery_reported").count() == 1

    # Recovery is blocked until an admin lifts the freeze.
    again = recover(Client(), employee.email)
    assert again.status_code == 400 and "its owner reported a recovery" in again.content.decode()
    assert AuditEvent.objects.filter(action="identity.verification_failed", changes__check="frozen").exists()
    recovery.recovery_freeze_lift(actor=super_admin, recovery=request, reason="Spoke with Emil")
    assert recover(Client(), employee.email)["Location"] == "/onboarding/welcome/"


def test_a_forged_report_link_does_nothing(employee, idv):
    recover(Client(), employee.email)
    answer = Client().post("/onboarding/recover/report/not-a-real-token/")
    assert answer.status_code == 410 and "not valid" in answer.content.decode()
    assert not RecoveryRequest.objects.filter(reported_at__isnull=False).exists()
