import pytest

from accounts.models import GroupMembership, User
from accounts.services import groups, people, rights
from accounts.tests.factories import GroupFactory
from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused, ValidationFailed

pytestmark = pytest.mark.django_db


def test_creating_a_user_writes_one_audit_row_with_the_new_values(security_admin):
    user = people.user_create(
        actor=security_admin, email="  New.Person@Corp.Example ", full_name="New Person",
        role="auditor", country="de",
    )
    assert user.email == "new.person@corp.example"
    assert user.country == "DE"
    assert not user.has_usable_password()
    row = AuditEvent.objects.get(action="user.created", object_id=str(user.pk))
    assert row.actor_email == security_admin.email
    assert row.changes["role"] == {"old": None, "new": "auditor"}


def test_e_mails_are_unique_whatever_their_case(security_admin, employee):
    with pytest.raises(Conflict, match="already exists") as exc:
        people.user_create(actor=security_admin, email="EMP@corp.example", full_name="Dup")
    assert exc.value.field == "email"


def test_bad_input_names_the_field(security_admin):
    with pytest.raises(ValidationFailed) as exc:
        people.user_create(actor=security_admin, email="not-an-email", full_name="X")
    assert exc.value.field == "email"
    with pytest.raises(ValidationFailed) as exc:
        people.user_create(actor=security_admin, email="a@corp.example", full_name="X", country="Germany")
    assert exc.value.field == "country"
    with pytest.raises(ValidationFailed) as exc:
        people.user_create(actor=security_admin, email="b@corp.example", full_name="X", password="short")
    assert exc.value.field == "password"
    assert not User.objects.filter(email__in=["a@corp.example", "b@corp.example"]).exists()


@pytest.mark.parametrize(
    ("actor_role", "current", "new", "allowed"),
    [
        ("super_admin", "employee", "super_admin", True),
        ("super_admin", "security_admin", "employee", True),
        ("security_admin", "employee", "security_admin", False),
        ("security_admin", "security_admin", "employee", False),
        ("security_admin", "security_admin", "security_admin", True),
        ("security_admin", "employee", "auditor", True),
        ("security_admin", "hr", "employee", True),
        ("security_admin", "employee", "super_admin", False),
        ("security_admin", "super_admin", "employee", False),
        ("hr", None, "employee", True),
        ("hr", None, "auditor", False),
        ("hr", "employee", "hr", False),
        ("hr", "security_admin", "security_admin", False),
        ("auditor", None, "employee", False),
        ("employee", None, "employee", False),
    ],
)
def test_who_may_assign_which_role(make_user, actor_role, current, new, allowed):
    actor = make_user(actor_role)
    if allowed:
        rights.check_can_assign(actor, current_role=current, new_role=new)
    else:
        with pytest.raises(PermissionRefused):
            rights.check_can_assign(actor, current_role=current, new_role=new)


def test_updating_records_old_and_new_values_and_nothing_when_unchanged(security_admin, employee):
    people.user_update(
        actor=security_admin, user=employee, full_name="Emil E.", role="auditor", country="FR",
    )
    row = AuditEvent.objects.get(action="user.updated")
    assert row.changes["role"] == {"old": "employee", "new": "auditor"}
    assert row.changes["full_name"] == {"old": "Emil Employee", "new": "Emil E."}
    employee.refresh_from_db()
    people.user_update(actor=security_admin, user=employee, full_name="Emil E.", role="auditor", country="FR")
    assert AuditEvent.objects.filter(action="user.updated").count() == 1


def test_nobody_changes_their_own_role_or_removes_the_last_super_admin(super_admin, make_user):
    with pytest.raises(PermissionRefused):
        people.user_update(actor=super_admin, user=super_admin, full_name="Root", role="employee")
    with pytest.raises(PermissionRefused):
        people.user_deactivate(actor=super_admin, user=super_admin)
    # A second, already deactivated Super Admin (say, a stale session) cannot remove the last one.
    stale = make_user("super_admin", is_active=False)
    with pytest.raises(Conflict, match="last active Super Admin"):
        people.user_deactivate(actor=stale, user=super_admin)
    with pytest.raises(Conflict, match="last active Super Admin"):
        people.user_update(actor=stale, user=super_admin, full_name="Root", role="security_admin")
    super_admin.refresh_from_db()
    assert super_admin.is_active and super_admin.role == "super_admin"


def test_deactivate_and_reactivate_are_audited_and_idempotent(hr_user, employee):
    people.user_deactivate(actor=hr_user, user=employee)
    people.user_deactivate(actor=hr_user, user=employee)
    employee.refresh_from_db()
    assert not employee.is_active and employee.deactivated_at is not None
    people.user_reactivate(actor=hr_user, user=employee)
    employee.refresh_from_db()
    assert employee.is_active and employee.deactivated_at is None
    actions = list(AuditEvent.objects.filter(object_id=str(employee.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["user.deactivated", "user.reactivated"]


def test_hr_cannot_deactivate_an_admin(hr_user, security_admin):
    with pytest.raises(PermissionRefused):
        people.user_deactivate(actor=hr_user, user=security_admin)


def test_group_membership_changes_are_audited_once(security_admin, employee):
    group = groups.group_create(actor=security_admin, name="Red Team", description="Attackers")
    assert groups.group_add_member(actor=security_admin, group=group, user=employee)
    assert not groups.group_add_member(actor=security_admin, group=group, user=employee)
    assert GroupMembership.objects.filter(group=group).count() == 1
    assert groups.group_remove_member(actor=security_admin, group=group, user=employee)
    actions = list(AuditEvent.objects.filter(object_type="accounts.group").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["group.created", "group.member_added", "group.member_removed"]


def test_group_names_are_unique_and_only_admins_manage_groups(security_admin, hr_user):
    GroupFactory(name="Finance")
    with pytest.raises(Conflict):
        groups.group_create(actor=security_admin, name=" finance ")
    with pytest.raises(PermissionRefused):
        groups.group_create(actor=hr_user, name="HR Only")


def test_deleting_a_group_keeps_its_people(security_admin, employee):
    group = groups.group_create(actor=security_admin, name="Temp")
    groups.group_add_member(actor=security_admin, group=group, user=employee)
    groups.group_delete(actor=security_admin, group=group)
    assert User.objects.filter(pk=employee.pk).exists()
    row = AuditEvent.objects.get(action="group.deleted")
    assert row.changes["members"] == {"old": 1, "new": 0}
