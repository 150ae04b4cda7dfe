"""Groups and their members: ``group_membership_set`` is the only writer of memberships."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Group, GroupMembership, User
from accounts.services.rights import rights_check
from console.access.services import facts_changed_later
from console.audit.services import audit_record, diff, snapshot
from console.core.errors import PermissionRefused, ValidationFailed
from console.core.names import require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS


def _clean_group_name(name: str, *, group: Group | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A group name is required.", field="name")
    require_free_name(Group.objects, name, f"A group named {name} already exists.", instance=group)
    return name


@transaction.atomic
def group_create(*, actor: User, name: str, description: str = "") -> Group:
    require_role(actor, ADMINS, "create groups")
    group = Group.objects.create(
        name=_clean_group_name(name, group=None), description=(description or "").strip()
    )
    audit_record(
        actor=actor, action="group.created", obj=group,
        changes=diff({}, snapshot(group, ("name", "description"))),
    )
    return group


@transaction.atomic
def group_update(*, actor: User, group: Group, name: str, description: str = "") -> Group:
    require_role(actor, ADMINS, "change groups")
    group = Group.objects.select_for_update().get(pk=group.pk)
    before = snapshot(group, ("name", "description"))
    group.name = _clean_group_name(name, group=group)
    group.description = (description or "").strip()
    changes = diff(before, snapshot(group, ("name", "description")))
    if not changes:
        return group
    group.save(update_fields=["name", "description", "updated_at"])
    audit_record(actor=actor, action="group.updated", obj=group, changes=changes)
    return group


@transaction.atomic
def group_delete(*, actor: User, group: Group) -> None:
    require_role(actor, ADMINS, "delete groups")
    members = group.memberships.count()
    for membership in group.memberships.select_related("user"):
        _facts_changed(membership.user, f"group {group.name} deleted")
    audit_record(
        actor=actor, action="group.deleted", obj=group,
        changes={"name": {"old": group.name, "new": None}, "members": {"old": members, "new": 0}},
    )
    group.delete()


def _facts_changed(user: User, reason: str) -> None:
    facts_changed_later(user.pk, reason)


@transaction.atomic
def group_membership_set(
    *,
    actor: User | None,
    group: Group,
    user: User,
    member: bool = True,
    on_behalf_of: User | None = None,
    system_reason: str = "",
) -> bool:
    """The only writer of group memberships: put ``user`` into ``group`` (``member=False``: take
    them out). Returns False when nothing changed (nothing is written then).

    ``actor`` is the person making the change; their rights are checked (``rights_check``). The
    system acts with ``actor=None``: either for someone's earlier decision, ``on_behalf_of``
    (the HR or admin who opened an onboarding case), whose rights are checked now, or as an
    operator's command, ``system_reason`` (the demo). Every change writes an audit row."""
    deciding = actor if actor is not None else on_behalf_of
    if deciding is None and not system_reason:
        raise PermissionRefused("A group membership change needs a person allowed to make it.")
    if deciding is not None:
        rights_check(deciding, current_role=user.role, group=group, removing=not member)
    if member:
        _, changed = GroupMembership.objects.get_or_create(group=group, user=user)
    else:
        changed = bool(GroupMembership.objects.filter(group=group, user=user).delete()[0])
    if not changed:
        return False
    _facts_changed(user, f"{'added to' if member else 'removed from'} group {group.name}")
    changes: dict = {"member": {"old": None, "new": user.email} if member else {"old": user.email, "new": None}}
    if actor is None and on_behalf_of is not None:
        changes["on_behalf_of"] = on_behalf_of.email
    if deciding is None:
        changes["reason"] = system_reason
    audit_record(
        actor=actor, action="group.member_added" if member else "group.member_removed", obj=group, changes=changes,
    )
    return True


def group_add_member(*, actor: User, group: Group, user: User) -> bool:
    """Returns False when the user was already a member (nothing is written)."""
    return group_membership_set(actor=actor, group=group, user=user, member=True)


def group_remove_member(*, actor: User, group: Group, user: User) -> bool:
    return group_membership_set(actor=actor, group=group, user=user, member=False)
