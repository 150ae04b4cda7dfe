"""Regression tests for the rights findings of the outside review: HR putting people into groups
(CSV import, onboarding cases), admin roles granted below Super Admin, a Security Admin removing
a Super Admin's authenticators, and HR reading security events on the user page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import GroupMembership, User
from accounts.onboarding.models import OnboardingCase, VerificationRecord
from accounts.services import groups, people, people_import, sign_in
from accounts.tests.factories import GroupFactory
from console.audit.models import AuditEvent
from console.audit.services import audit_record
from console.core.errors import PermissionRefused

pytestmark = pytest.mark.django_db


@pytest.fixture
def security_group():
    return GroupFactory(name="Security")


def _members(group) -> set[str]:
    return set(GroupMembership.objects.filter(group=group).values_list("user__email", flat=True))


# --- Item 2: HR and groups --------------------------------------------------------------------


def test_hr_cannot_put_anyone_into_a_group_by_csv_import(hr_user, employee, security_group):
    data = (
        "email,full_name,groups\n"
        "new.hire@corp.example,New Hire,Security\n"
        f"{employee.email},{employee.full_name},Security\n"
    )
    report = people_import.users_import_csv(actor=hr_user, data=data.encode())
    assert report.applied == 0
    assert [(e.line, e.column) for e in report.errors] == [(2, "groups"), (3, "groups")]
    assert "cannot add people to groups (Security)" in report.errors[0].message
    assert _members(security_group) == set()
    assert not User.objects.filter(email="new.hire@corp.example").exists()
    assert not AuditEvent.objects.filter(action="group.member_added").exists()


def test_hr_may_still_import_employees_without_groups(hr_user):
    report = people_import.users_import_csv(actor=hr_user, data=b"email,full_name,groups\nok@corp.example,Ok,\n")
    assert (report.created, report.errors) == (1, [])


def test_hr_cannot_create_a_user_with_groups(hr_user, security_group):
    with pytest.raises(PermissionRefused, match=r"HR\) cannot add people to groups \(Security\)"):
        people.user_create(actor=hr_user, email="x@corp.example", full_name="X", groups=[security_group])
    assert not User.objects.filter(email="x@corp.example").exists()


def _case_values(idv, **fields):
    return {
        "legal_name": "Ada New", "personal_email": "ada.home@personal.example", "work_email": "ada.new@corp.example",
        "start_date": timezone.localdate() + timedelta(days=7), "provider": idv,
        "link_base": "http://testserver/onboarding/invite",
    } | fields


@pytest.fixture
def idv():
    from accounts.models import IdentityProvider

    return IdentityProvider.objects.create(
        name="VerifyMe", slug="verifyme", kind="verification", issuer="https://verify.example", client_id="c",
        client_secret="s", authorization_endpoint="https://verify.example/auth",
    )


def test_hr_cannot_put_a_new_hire_into_a_group_through_an_onboarding_case(hr_user, idv, security_group):
    from accounts.onboarding.services import cases

    with pytest.raises(PermissionRefused, match=r"cannot add people to groups \(Security\)"):
        cases.case_create(actor=hr_user, **_case_values(idv, groups=[security_group]))
    assert not OnboardingCase.objects.exists()
    # Without groups HR invites as before.
    case = cases.case_create(actor=hr_user, **_case_values(idv))
    assert list(case.groups.all()) == []


def test_an_admin_may_invite_a_new_hire_into_a_group(security_admin, idv, security_group):
    from accounts.onboarding.services import cases

    case = cases.case_create(actor=security_admin, **_case_values(idv, groups=[security_group]))
    assert list(case.groups.all()) == [security_group]


def test_groups_of_a_case_are_granted_with_the_rights_its_creator_has_when_the_account_is_made(
    hr_user, security_admin, security_group
):
    """A case HR opened with groups before the fix (or whose admin lost the role since) does not
    put the new hire into them: the account is made, the refusal is audited."""
    engineering = GroupFactory(name="Engineering")
    user = people.user_create_onboarded(
        email="old.case@corp.example", full_name="Old Case", manager=None, groups=[security_group],
        case_id=7, granted_by=hr_user,
    )
    assert _members(security_group) == set()
    refused = AuditEvent.objects.get(action="group.member_add_refused")
    assert refused.changes["member"] == "old.case@corp.example"
    assert refused.changes["on_behalf_of"] == hr_user.email
    assert "cannot add people to groups" in refused.changes["reason"]
    assert user.source == "onboarding"

    people.user_create_onboarded(
        email="new.case@corp.example", full_name="New Case", manager=None, groups=[engineering],
        case_id=8, granted_by=security_admin,
    )
    assert _members(engineering) == {"new.case@corp.example"}
    added = AuditEvent.objects.get(action="group.member_added")
    assert added.changes["on_behalf_of"] == security_admin.email


def test_the_hr_invitation_form_offers_no_groups(client_for, hr_user, security_admin, idv, security_group):
    assert 'name="groups"' not in client_for(hr_user).get("/onboarding/new/").content.decode()
    assert 'name="groups"' in client_for(security_admin).get("/onboarding/new/").content.decode()


# --- Item 2: rank rules for roles and groups --------------------------------------------------


def test_only_a_super_admin_grants_admin_roles(security_admin, super_admin, employee, make_user):
    with pytest.raises(PermissionRefused, match="Only a Super Admin can grant or take away the Security Admin role"):
        people.user_update(actor=security_admin, user=employee, full_name=employee.full_name, role="security_admin")
    with pytest.raises(PermissionRefused, match="Security Admin role"):
        people.user_create(actor=security_admin, email="x@corp.example", full_name="X", role="security_admin")
    peer = make_user("security_admin")
    with pytest.raises(PermissionRefused, match="take away the Security Admin role"):
        people.user_update(actor=security_admin, user=peer, full_name=peer.full_name, role="employee")
    employee.refresh_from_db()
    peer.refresh_from_db()
    assert (employee.role, peer.role) == ("employee", "security_admin")
    assert not User.objects.filter(email="x@corp.example").exists()
    people.user_update(actor=super_admin, user=employee, full_name=employee.full_name, role="security_admin")
    assert AuditEvent.objects.get(action="user.updated").changes["role"] == {"old": "employee", "new": "security_admin"}


def test_a_security_admin_cannot_grant_admin_roles_by_import(security_admin, employee):
    data = f"email,full_name,role\n{employee.email},{employee.full_name},Security Admin\n"
    report = people_import.users_import_csv(actor=security_admin, data=data.encode())
    assert [(e.column, e.message) for e in report.errors] == [
        ("role", "Only a Super Admin can grant or take away the Security Admin role."),
    ]
    employee.refresh_from_db()
    assert employee.role == "employee"


def test_import_cannot_change_the_importers_own_role_or_demote_the_last_super_admin(super_admin):
    data = f"email,full_name,role\n{super_admin.email},Root Admin,Employee\n"
    report = people_import.users_import_csv(actor=super_admin, data=data.encode())
    assert report.applied == 0 and report.errors[0].column == "role"
    assert "your own role" in report.errors[0].message
    super_admin.refresh_from_db()
    assert super_admin.role == "super_admin"


def test_a_security_admin_cannot_change_a_super_admins_groups(client_for, security_admin, super_admin,
                                                              security_group):
    with pytest.raises(PermissionRefused, match="Only a Super Admin can change a Super Admin"):
        groups.group_add_member(actor=security_admin, group=security_group, user=super_admin)
    groups.group_add_member(actor=super_admin, group=security_group, user=super_admin)
    with pytest.raises(PermissionRefused, match="Only a Super Admin can change a Super Admin"):
        groups.group_remove_member(actor=security_admin, group=security_group, user=super_admin)
    assert _members(security_group) == {super_admin.email}
    # The group page says so instead of failing.
    client = client_for(security_admin)
    response = client.post(f"/accounts/groups/{security_group.pk}/members/{super_admin.pk}/remove/", follow=True)
    assert "Only a Super Admin can change a Super Admin" in response.content.decode()
    assert _members(security_group) == {super_admin.email}


def test_the_people_form_offers_a_security_admin_no_admin_roles(client_for, security_admin, employee):
    page = client_for(security_admin).get(f"/accounts/users/{employee.pk}/edit/").content.decode()
    assert 'value="security_admin"' not in page and 'value="super_admin"' not in page
    assert 'value="auditor"' in page


# --- Item 8: a Super Admin's authenticators ---------------------------------------------------


def test_a_security_admin_cannot_remove_a_super_admins_authenticators(security_admin, super_admin, make_user):
    from mfa import services as mfa
    from mfa.models import TotpAuthenticator

    TotpAuthenticator.objects.create(user=super_admin, name="Phone", confirmed=True)
    with pytest.raises(PermissionRefused, match="Only a Super Admin can remove the authenticators of a Super Admin"):
        mfa.admin_revoke(actor=security_admin, user=super_admin)
    assert TotpAuthenticator.objects.filter(user=super_admin).exists()
    assert not AuditEvent.objects.filter(action="mfa.revoked_by_admin").exists()
    other = make_user("super_admin")
    assert mfa.admin_revoke(actor=other, user=super_admin) == 1
    assert AuditEvent.objects.filter(action="mfa.revoked_by_admin").count() == 1


def test_the_mfa_revoke_page_refuses_a_security_admin_on_a_super_admin(client_for, security_admin, super_admin):
    from mfa.models import TotpAuthenticator

    TotpAuthenticator.objects.create(user=super_admin, name="Phone", confirmed=True)
    response = client_for(security_admin).post(f"/mfa/admin/users/{super_admin.pk}/revoke/", follow=True)
    assert "Only a Super Admin can remove the authenticators of a Super Admin" in response.content.decode()
    assert TotpAuthenticator.objects.filter(user=super_admin).exists()


# --- Item 9: what HR sees of a person ---------------------------------------------------------


@pytest.fixture
def security_history(employee):
    audit_record(actor=employee, action="auth.login", obj=employee, changes={"method": "password"})
    audit_record(actor=employee, action="mfa.enrolled", obj=employee, changes={"method": "totp", "name": "Phone"})
    audit_record(actor=None, action="identity.verified", obj=employee,
                 changes={"purpose": "step_up", "transaction_id": "txn-SECRET-123"})
    audit_record(actor=None, action="identity.account_recovered", obj=employee, changes={"provider": "verifyme"})
    VerificationRecord.objects.create(user=employee, provider_name="VerifyMe", purpose="step_up",
                                      outcome="verified", email=employee.email, transaction_id="txn-SECRET-123")
    employee.last_login = timezone.now()
    employee.save(update_fields=["last_login"])
    return employee


def test_hr_sees_profile_groups_and_onboarding_but_no_security_events(client_for, hr_user, security_admin,
                                                                      security_history):
    person = security_history
    people.user_update(actor=hr_user, user=person, full_name="Emil Renamed", role="employee")
    page = client_for(hr_user).get(f"/accounts/users/{person.pk}/").content.decode()
    assert "user.updated" in page and "Emil Renamed" in page
    for secret in ("auth.login", "mfa.enrolled", "identity.verified", "identity.account_recovered",
                   "txn-SECRET-123", "Last sign-in", 'data-testid="user-identity-verified"', "/audit/"):
        assert secret not in page, secret
    admin_page = client_for(security_admin).get(f"/accounts/users/{person.pk}/").content.decode()
    for shown in ("auth.login", "mfa.enrolled", "identity.verified", "txn-SECRET-123", "Last sign-in"):
        assert shown in admin_page, shown


def test_hr_sees_no_last_sign_in_in_the_people_list(client_for, hr_user, security_history):
    page = client_for(hr_user).get("/accounts/users/").content.decode()
    assert "Last sign-in" not in page
    assert client_for(hr_user).get("/accounts/users/?sort=last_login").status_code == 200


def test_hr_sees_only_onboarding_verifications_and_no_transaction_ids(client_for, hr_user, auditor, idv,
                                                                     security_history):
    case = OnboardingCase.objects.create(
        legal_name="Sam Sample", personal_email="sam@home.example", work_email="sam@corp.example",
        start_date=timezone.localdate(), invitation_token_hash="h" * 64,
        invitation_expires_at=timezone.now() + timedelta(days=1),
    )
    VerificationRecord.objects.create(case=case, provider_name="VerifyMe", purpose="onboarding", outcome="failed",
                                      failed_check="email", email="sam@corp.example", transaction_id="txn-ONB-9")
    hr_list = client_for(hr_user).get("/onboarding/verifications/").content.decode()
    assert "sam@corp.example" in hr_list
    assert security_history.email not in hr_list and "txn-" not in hr_list
    hr_case = client_for(hr_user).get(f"/onboarding/cases/{case.pk}/").content.decode()
    assert "email" in hr_case and "txn-ONB-9" not in hr_case
    audit_list = client_for(auditor).get("/onboarding/verifications/").content.decode()
    assert security_history.email in audit_list and "txn-SECRET-123" in audit_list


def test_hr_cannot_open_the_audit_trail(client_for, hr_user):
    assert client_for(hr_user).get("/audit/").status_code == 403


# --- The rank rule on the other actions on a person -------------------------------------------


def test_a_security_admin_cannot_reset_a_super_admins_risk_or_clear_their_lockout(security_admin, super_admin,
                                                                                  employee):
    from risk.services import investigations

    with pytest.raises(PermissionRefused, match="Only a Super Admin can reset the risk score of a Super Admin"):
        investigations.risk_reset(actor=security_admin, user=super_admin, reason="looks fine")
    assert not AuditEvent.objects.filter(action="risk.reset").exists()
    investigations.risk_reset(actor=security_admin, user=employee, reason="looks fine")
    assert AuditEvent.objects.filter(action="risk.reset").count() == 1
    with pytest.raises(PermissionRefused, match="Only a Super Admin can clear the sign-in lockout of a Super Admin"):
        sign_in.user_unlock(actor=security_admin, user=super_admin)


def test_hr_overview_has_no_sign_in_counts(client_for, hr_user, auditor):
    assert "Failed sign-ins (24 h)" not in client_for(hr_user).get("/").content.decode()
    assert "Failed sign-ins (24 h)" in client_for(auditor).get("/").content.decode()
